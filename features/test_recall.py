"""Scenarios of features/recall.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("recall.feature")
