"""The legal order of business statuses (spec/edxml.md §3) as encoded in simulator.edxml.status."""

from __future__ import annotations

import itertools

import pytest

from simulator.edxml.model import StatusCode
from simulator.edxml.status import FINAL, LIFECYCLE, TransitionVerdict, check_transition

S = StatusCode
V = TransitionVerdict

#: spec/edxml.md §3, written out independently of the module: 01 → 02 (final) | 03; 03 → 04 | 05 | 06;
#: 04 → 05 | 06; 05 → 06; the first status is 01.
SPEC_MOVES = {
    (None, "01"),
    ("01", "02"),
    ("01", "03"),
    ("03", "04"),
    ("03", "05"),
    ("03", "06"),
    ("04", "05"),
    ("04", "06"),
    ("05", "06"),
}
#: a legal history that ends in each lifecycle status
REACH: dict[str | None, list[StatusCode]] = {
    None: [],
    "01": [S.ARRIVED],
    "02": [S.ARRIVED, S.REFUSED],
    "03": [S.ARRIVED, S.ACCEPTED],
    "04": [S.ARRIVED, S.ACCEPTED, S.ASSIGNED],
    "05": [S.ARRIVED, S.ACCEPTED, S.IN_PROGRESS],
    "06": [S.ARRIVED, S.ACCEPTED, S.COMPLETED],
}
LIFECYCLE_CODES = ["01", "02", "03", "04", "05", "06"]


def test_the_table_is_the_spec_table() -> None:
    moves = {(src.value if src else None, dst.value) for src, dsts in LIFECYCLE.items() for dst in dsts}
    assert moves == SPEC_MOVES
    assert {s.value for s in FINAL} == {"02", "06"}


def test_the_reach_histories_are_themselves_legal() -> None:
    for history in REACH.values():
        for i, status in enumerate(history):
            assert check_transition(history[:i], status).verdict is V.OK


@pytest.mark.parametrize(("prev", "new"), list(itertools.product([None, *LIFECYCLE_CODES], LIFECYCLE_CODES)))
def test_every_lifecycle_pair(prev: str | None, new: str) -> None:
    t = check_transition(REACH[prev], S(new))
    if (prev, new) in SPEC_MOVES:
        assert t.verdict is V.OK
    elif prev == new:
        assert t.verdict is V.REPEAT
    elif prev in {"02", "06"}:
        assert t.verdict is V.AFTER_FINAL
    else:
        assert t.verdict in {V.SKIPPED, V.BACKWARDS}
    assert t.verdict.legal == ((prev, new) in SPEC_MOVES or prev == new)


@pytest.mark.parametrize(
    ("history", "new", "verdict"),
    [
        ([], S.ARRIVED, V.OK),
        ([S.ARRIVED], S.ACCEPTED, V.OK),
        ([S.ARRIVED], S.REFUSED, V.OK),
        ([S.ARRIVED, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS], S.COMPLETED, V.OK),
        # repeat is harmless
        ([S.ARRIVED], S.ARRIVED, V.REPEAT),
        ([S.ARRIVED, S.ACCEPTED, S.IN_PROGRESS], S.IN_PROGRESS, V.REPEAT),
        ([S.ARRIVED, S.ACCEPTED, S.COMPLETED], S.COMPLETED, V.REPEAT),
        # skipped 01 (and other skipped steps)
        ([], S.ACCEPTED, V.SKIPPED),
        ([], S.COMPLETED, V.SKIPPED),
        ([S.ARRIVED], S.IN_PROGRESS, V.SKIPPED),
        # backwards
        ([S.ARRIVED, S.ACCEPTED, S.IN_PROGRESS], S.ASSIGNED, V.BACKWARDS),
        ([S.ARRIVED, S.ACCEPTED], S.ARRIVED, V.BACKWARDS),
        # 06 → 05 goes backwards, and since 06 is final the module names it "after final"
        ([S.ARRIVED, S.ACCEPTED, S.COMPLETED], S.IN_PROGRESS, V.AFTER_FINAL),
        # after a final status
        ([S.ARRIVED, S.REFUSED], S.ACCEPTED, V.AFTER_FINAL),
        ([S.ARRIVED, S.REFUSED], S.ARRIVED, V.AFTER_FINAL),
        # 13 then 15/16
        ([S.ARRIVED, S.ACCEPTED, S.RECALL_REQUEST], S.RECALL_AGREED, V.OK),
        ([S.ARRIVED, S.ACCEPTED, S.RECALL_REQUEST], S.RECALL_REFUSED, V.OK),
        ([S.ARRIVED, S.ACCEPTED, S.RECALL_REQUEST, S.RECALL_AGREED], S.RECALL_AGREED, V.REPEAT),
        # the answer used up the request: a different answer is unsolicited
        ([S.ARRIVED, S.RECALL_REQUEST, S.RECALL_AGREED], S.RECALL_REFUSED, V.UNSOLICITED_ANSWER),
        ([S.RECALL_REQUEST, S.RECALL_REFUSED, S.RECALL_REQUEST], S.RECALL_AGREED, V.OK),
        # unsolicited 15/16
        ([S.ARRIVED, S.ACCEPTED], S.RECALL_AGREED, V.UNSOLICITED_ANSWER),
        ([], S.RECALL_REFUSED, V.UNSOLICITED_ANSWER),
        # 13 any time before 06, not after
        ([], S.RECALL_REQUEST, V.OK),
        ([S.ARRIVED, S.ACCEPTED, S.IN_PROGRESS], S.RECALL_REQUEST, V.OK),
        ([S.ARRIVED, S.ACCEPTED, S.COMPLETED], S.RECALL_REQUEST, V.RECALL_TOO_LATE),
        # recall traffic does not move the receiver's lifecycle
        ([S.ARRIVED, S.RECALL_REQUEST, S.RECALL_REFUSED], S.ACCEPTED, V.OK),
        ([S.ARRIVED, S.ACCEPTED, S.RECALL_REQUEST], S.ARRIVED, V.BACKWARDS),
    ],
)
def test_transition_table(history: list[StatusCode], new: StatusCode, verdict: TransitionVerdict) -> None:
    assert check_transition(history, new).verdict is verdict


def test_only_ok_and_repeat_are_legal() -> None:
    assert {v for v in V if v.legal} == {V.OK, V.REPEAT}


def test_transition_describes_itself() -> None:
    t = check_transition([S.ARRIVED, S.ACCEPTED, S.IN_PROGRESS], S.ASSIGNED)
    assert t.previous is S.IN_PROGRESS
    assert t.describe() == "status 04 after 05: backwards"
    assert check_transition([], S.ACCEPTED).describe() == "status 03 after nothing: skipped"
