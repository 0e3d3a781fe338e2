"""Scenarios of features/time.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("time.feature")
