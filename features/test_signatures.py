"""Scenarios of features/signatures.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("signatures.feature")
