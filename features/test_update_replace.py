"""Scenarios of features/update_replace.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("update_replace.feature")
