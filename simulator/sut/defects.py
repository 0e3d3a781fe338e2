"""Named defects of the reference QLVB: each one breaks exactly one behaviour the law asks for.

The conformance suite proves it can fail by running against ``ReferenceQlvb(defects={name})``: every
scenario must fail on at least one defect (the self-validation matrix). The engine
(:mod:`simulator.sut.reference`) consults its set of defect names at the exact decision point each
defect names; ``tests/sut/test_defects.py`` checks that every name here is consulted there and changes
the behaviour it describes.

Select them by name: ``lienthong reference-qlvb --defect accepts-bad-signature`` (repeatable),
``lienthong conformance --sut reference --defect NAME``; ``--list-defects`` prints this table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFECTS", "Defect", "DefectArea", "UnknownDefectError", "check_defects", "list_defects"]

DefectArea = Literal["intake", "signature", "status", "recall", "send", "time", "transport", "tls"]


@dataclass(frozen=True, slots=True)
class Defect:
    name: str
    summary: str
    requirement_ids: tuple[str, ...]
    area: DefectArea


class UnknownDefectError(ValueError):
    """A defect name that is not in :data:`DEFECTS`; the message lists the valid names."""

    def __init__(self, unknown: Iterable[str]) -> None:
        self.unknown = tuple(unknown)
        names = ", ".join(sorted(DEFECTS))
        super().__init__(
            f"unknown defect(s) {', '.join(repr(u) for u in self.unknown)}; valid names: {names} "
            "(see `lienthong reference-qlvb --list-defects`)"
        )


_ROWS: tuple[Defect, ...] = (
    # -- signatures and certificates (receiver)
    Defect(
        "accepts-bad-signature",
        "does not check the signature value or the digest: tampered or wrapped packages are accepted "
        "(03) and registered as signed-valid",
        ("QD28-6.1", "QD28-9.1"),
        "signature",
    ),
    Defect(
        "accepts-untrusted-cert",
        "accepts signatures whose certificate does not chain to the trusted CA",
        ("QD28-6.1", "QD28-9.1"),
        "signature",
    ),
    Defect(
        "accepts-expired-cert",
        "does not check the certificate validity period: expired and not-yet-valid certificates pass",
        ("QD28-6.1", "QD28-9.1"),
        "signature",
    ),
    Defect(
        "accepts-revoked-cert",
        "does not consult the CRL: revoked certificates pass",
        ("QD28-6.1", "QD28-9.1"),
        "signature",
    ),
    Defect(
        "accepts-wrong-key-usage",
        "does not check the certificate's KeyUsage: a key-encipherment-only certificate may sign",
        ("QD28-6.1",),
        "signature",
    ),
    Defect(
        "accepts-sha1",
        "treats legacy RSA-SHA1 signatures as legally valid (signed-valid instead of reference-only)",
        ("QD28-4.1", "EDXML-SIG"),
        "signature",
    ),
    Defect(
        "unsigned-as-valid",
        "registers unsigned documents as signed-valid (legal value of paper) instead of reference-only",
        ("QD28-4.1",),
        "signature",
    ),
    # -- intake checks (receiver)
    Defect(
        "accepts-misaddressed",
        "does not check that the document is addressed to the receiving agency: accepts it (03)",
        ("QD28-9.1",),
        "intake",
    ),
    Defect(
        "accepts-missing-attachment",
        "does not check the manifest against the attachments: a document missing an attachment is "
        "accepted (03)",
        ("QD28-9.1", "QD28-10.1"),
        "intake",
    ),
    Defect(
        "drops-attachment",
        "registers received documents without their last attachment (query shows fewer attachments)",
        ("QD28-10.1",),
        "intake",
    ),
    Defect(
        "accepts-malformed-agency-code",
        "accepts documents whose From/To agency codes are not NNN.NN.NN.XNN",
        ("QD28-10.2.a", "QD28-9.1"),
        "intake",
    ),
    Defect(
        "urgent-fifo",
        "handles pending documents strictly in arrival order, urgent ones after the normal ones before them",
        ("QD28-6.2.b",),
        "intake",
    ),
    Defect(
        "registers-duplicates",
        "registers and answers a duplicate delivery (same package again) as a new document",
        ("VPCP19-RES", "VXP-DUP"),
        "intake",
    ),
    Defect(
        "never-acks",
        "never acknowledges fetched deliveries (no updateStatus done): they stay pending at the hub",
        ("VXP-ACK",),
        "transport",
    ),
    Defect(
        "ignores-incoming-statuses",
        "fetches and acknowledges the statuses of documents it sent but never records them",
        ("QD28-8.2",),
        "intake",
    ),
    # -- statuses it sends (receiver)
    Defect(
        "skips-01",
        "never sends 01 (arrived): the first status is 02 or 03",
        ("QD28-6.3",),
        "status",
    ),
    Defect(
        "late-01",
        "sends 01 (arrived) after 02/03 instead of before",
        ("QD28-6.3", "QD28-14.2"),
        "status",
    ),
    Defect(
        "never-accepts",
        "sends 01 but never accepts (03) a valid document",
        ("QD28-9.1", "QD28-6.3"),
        "status",
    ),
    Defect(
        "goes-backwards",
        "when asked to advance to 06 it reports a lower status than the current one (e.g. 04 after 05)",
        ("QD28-9.2.a", "QD28-14.2"),
        "status",
    ),
    Defect(
        "status-after-final",
        "obeys requests to advance a document after a final status (e.g. 03 after 02)",
        ("QD28-9.2.a", "QD28-14.2"),
        "status",
    ),
    Defect(
        "wrong-responsefor",
        "its statuses name the hub's docId instead of the document's DocumentId in ResponseFor",
        ("QD28-9.2.a", "QD28-14.2"),
        "status",
    ),
    Defect(
        "reject-without-reason",
        "refuses documents (02) and recall/update requests (16) with an empty Description",
        ("QD28-5.4",),
        "status",
    ),
    # -- recall, update, replace (receiver)
    Defect(
        "ignores-recall",
        "answers a recall with 15 but keeps the document active",
        ("QD28-9.2.b",),
        "recall",
    ),
    Defect(
        "silent-on-recall",
        "never answers recall requests (status 13 or a recall package): no 15/16",
        ("QD28-9.2.b",),
        "recall",
    ),
    Defect(
        "agrees-recall-after-completion",
        "agrees (15) to recall a document whose handling is completed (06) instead of refusing (16)",
        ("QD28-9.2.b",),
        "recall",
    ),
    Defect(
        "ignores-update",
        "answers an update with 15 but does not apply it (old subject and receivers stay)",
        ("QD28-9.2.b",),
        "recall",
    ),
    Defect(
        "ignores-replace",
        "registers the replacing document but keeps the replaced one active",
        ("QD28-9.2.b",),
        "recall",
    ),
    # -- what it sends (sender)
    Defect(
        "sends-unsigned",
        "sends documents without a digital signature",
        ("VPCP19-SIG", "QD28-8.1"),
        "send",
    ),
    Defect(
        "signs-sha1",
        "signs documents with legacy RSA-SHA1",
        ("VPCP19-SIG", "EDXML-SIG"),
        "send",
    ),
    Defect(
        "malformed-agency-codes",
        "writes its agency code in a legacy form (vxp.saas.NN) in the sender's TraceHeader",
        ("QD28-10.2.a",),
        "send",
    ),
    Defect(
        "bad-document-id",
        "emits DocumentIds without the date part (<agency>,<number>/<notation>)",
        ("QD28-10.2.b",),
        "send",
    ),
    Defect(
        "drops-priority",
        "omits OtherInfo/Priority: urgent documents go out as normal ones",
        ("QD28-6.2.b",),
        "send",
    ),
    Defect(
        "omits-signer",
        "omits SignerInfo from the documents it sends",
        ("QD28-10.2.c-q",),
        "send",
    ),
    Defect(
        "invalid-edxml",
        "emits SteeringType 7 (outside 0-3): the package fails strict edXML validation",
        ("QD28-6.4", "EDXML-ENUM"),
        "send",
    ),
    Defect(
        "duplicate-to",
        "lists its first recipient twice in MessageHeader/To",
        ("EDXML-DUPTO",),
        "send",
    ),
    Defect(
        "drops-recipient",
        "sends a document addressed to several agencies to the first one only",
        ("QD28-8.1",),
        "send",
    ),
    Defect(
        "sends-late",
        "dates and signs documents three days before it sends them",
        ("QD28-6.2.a",),
        "send",
    ),
    Defect(
        "wrong-business-type",
        "sends recall/update/replace packages with BussinessDocType 0 (new)",
        ("QD28-8.2",),
        "send",
    ),
    # -- transport (sender)
    Defect(
        "omits-hash-file",
        "uploads packages without XroadVnpt-hash-file: the hub cannot check what arrived",
        ("VXP-HASH",),
        "transport",
    ),
    Defect(
        "no-retry",
        "gives up on the first hub fault (503, transport error, timeout)",
        ("VPCP19-RES",),
        "transport",
    ),
    Defect(
        "duplicate-on-retry",
        "re-sends blindly after a failure without a reply (no check of getSentEdocList): duplicates",
        ("VPCP19-RES",),
        "transport",
    ),
    # -- time
    Defect(
        "utc-timestamps",
        "writes UTC wall-clock time without an offset where Vietnam time is expected",
        ("QD28-14.4",),
        "time",
    ),
    Defect(
        "no-time-sync",
        "ignores the hub clock and stamps with its own",
        ("QD28-14.4",),
        "time",
    ),
    # -- TLS
    Defect(
        "trusts-any-hub-tls",
        "accepts any TLS certificate from the hub (expired, untrusted)",
        ("QD28-13.2",),
        "tls",
    ),
)

#: Every defect by name.
DEFECTS: dict[str, Defect] = {d.name: d for d in _ROWS}


def list_defects() -> list[Defect]:
    """Every defect, sorted by name."""
    return sorted(DEFECTS.values(), key=lambda d: d.name)


def check_defects(names: Iterable[str]) -> frozenset[str]:
    """The names as a frozenset; :class:`UnknownDefectError` (listing the valid names) for unknown ones."""
    chosen = [n.strip() for n in names]
    unknown = [n for n in chosen if n not in DEFECTS]
    if unknown:
        raise UnknownDefectError(unknown)
    return frozenset(chosen)
