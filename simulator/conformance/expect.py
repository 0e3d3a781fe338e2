"""Failure messages of conformance scenarios: expected vs actual, the requirement, the hub evidence.

A regulator reads these in the report; a vendor reads them to fix the product. Every failing check of
a step goes through :func:`fail` (or :func:`check`) so that all of them have the same shape::

    [QD28-9.1] Before accepting, the receiver checks completeness, integrity and authenticity; …
      expected: status 02 (refused) from 000.00.12.H29 for 000.00.00.G22,2026/11/23,7816/VPCP-TTĐT
      actual:   status 03 (accepted) at 2026/11/23 10:00:01, hub docId 5f0c…
      hub evidence:
        - 000.00.00.G22 sent new document …: hub DocId …, at …
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from simulator.requirements import catalogue

__all__ = ["ConformanceFailure", "check", "fail"]

_MAX_EVIDENCE = 40


class ConformanceFailure(AssertionError):
    """A scenario's observation contradicts the requirement it checks."""

    def __init__(
        self,
        requirements: str | Sequence[str],
        expected: str,
        actual: str,
        evidence: Iterable[str] = (),
    ) -> None:
        reqs = (requirements,) if isinstance(requirements, str) else tuple(requirements)
        if not reqs:
            raise ValueError("a conformance failure names at least one requirement ID")
        cat = catalogue()
        titles = [cat[r].title for r in reqs]  # UnknownRequirementError: a bug in the step, not the SUT
        self.requirements = reqs
        self.expected = expected
        self.actual = actual
        self.evidence = [line for line in evidence if line]
        lines = [f"[{', '.join(reqs)}] {titles[0]}"]
        lines += [f"  ({r}) {t}" for r, t in zip(reqs[1:], titles[1:], strict=True)]
        lines.append(f"  expected: {_indent(expected)}")
        lines.append(f"  actual:   {_indent(actual)}")
        shown = self.evidence[:_MAX_EVIDENCE]
        lines.append("  hub evidence:" if shown else "  hub evidence: none recorded")
        lines += [f"    - {_indent(line, 6)}" for line in shown]
        if len(self.evidence) > len(shown):
            lines.append(f"    … {len(self.evidence) - len(shown)} more line(s)")
        super().__init__("\n".join(lines))


def _indent(text: str, width: int = 12) -> str:
    return text.replace("\n", "\n" + " " * width)


def fail(
    requirements: str | Sequence[str], *, expected: str, actual: str, evidence: Iterable[str] = ()
) -> ConformanceFailure:
    """Build the failure to raise: ``raise fail("QD28-9.1", expected=..., actual=..., evidence=...)``."""
    return ConformanceFailure(requirements, expected, actual, evidence)


def check(
    condition: bool,
    requirements: str | Sequence[str],
    *,
    expected: str,
    actual: str,
    evidence: Iterable[str] = (),
) -> None:
    """Raise :class:`ConformanceFailure` unless ``condition`` holds."""
    if not condition:
        raise ConformanceFailure(requirements, expected, actual, evidence)
