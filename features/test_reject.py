"""Scenarios of features/reject.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("reject.feature")
