"""Scenarios of features/send.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("send.feature")
