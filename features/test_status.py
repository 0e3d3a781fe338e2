"""Scenarios of features/status.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("status.feature")
