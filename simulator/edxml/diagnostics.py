"""Diagnostics: what the parser, validator and verifier say about a package.

Every diagnostic names the element path (``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId``),
the requirement it rests on (an ID from the requirements catalogue, e.g. ``QD28-10.2.a`` or
``EDXML-REQ``) and a plain sentence that says what is wrong and what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Diagnostic", "EdxmlError", "Severity", "format_diagnostics", "has_errors"]


class Severity(StrEnum):
    ERROR = "error"  # the package breaks a rule: strict consumers refuse it
    WARNING = "warning"  # seen in the wild and tolerated in lenient mode, but not conforming
    INFO = "info"  # worth knowing, not a fault

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    path: str
    requirement: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value.upper()} [{self.requirement}] {self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {
            "severity": self.severity.value,
            "path": self.path,
            "requirement": self.requirement,
            "message": self.message,
        }


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def format_diagnostics(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n".join(str(d) for d in diagnostics)


class EdxmlError(ValueError):
    """Raised by the strict convenience entry points; carries the diagnostics that caused it."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = next((d for d in diagnostics if d.severity is Severity.ERROR), None)
        super().__init__(str(first) if first else "invalid edXML package")
