"""Scenarios of features/security.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("security.feature")
