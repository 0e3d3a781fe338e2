"""Scenarios of features/attachments.feature (steps in features/steps/)."""

from pytest_bdd import scenarios

scenarios("attachments.feature")
