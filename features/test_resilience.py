"""Scenarios of features/resilience.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("resilience.feature")
