"""Scenarios of features/receive.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("receive.feature")
