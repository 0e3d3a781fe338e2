"""Scenarios of features/priority.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("priority.feature")
