"""Scenarios of features/identifiers.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("identifiers.feature")
