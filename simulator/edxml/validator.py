"""Validation of an edXML package model: one small function per rule, listed in :data:`RULES`.

:func:`validate` is a pure function over :mod:`simulator.edxml.model` (no XML). Every diagnostic
names the element path (``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId``; a 1-based
index only where the element repeats), exactly one requirement ID (always the ID of the rule that
emitted it) and a sentence saying what to fix.

Modes: :attr:`Mode.STRICT` reports every departure as an ERROR. :attr:`Mode.LENIENT` downgrades
problems that real hubs were seen to tolerate (spec/edxml.md: non-conforming agency codes and
document identifiers, impossible dates inside identifiers, SteeringType outside 0–3, a recall
without reason, an incomplete Bussiness block) to WARNING, and the "expected but optional" fields
to INFO. Structural faults that make a package unusable (no recipient, a manifest reference
without its attachment, a broken archive) stay ERROR in both modes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from simulator.edxml.diagnostics import Diagnostic, EdxmlError, Severity, has_errors
from simulator.edxml.identifiers import (
    IdentifierError,
    check_agency_code,
    check_document_id,
    parse_code,
    parse_document_id,
)
from simulator.edxml.model import (
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentPackage,
    Organization,
    Package,
    Priority,
    ReceiverType,
    ReplacementInfo,
    ResponseFor,
    StatusCode,
    StatusPackage,
)
from simulator.edxml.status import LIFECYCLE, TransitionVerdict, check_transition
from simulator.edxml.vntime import VN_TZ

__all__ = [
    "MAX_SUBJECT_CHARS",
    "RULES",
    "Mode",
    "Rule",
    "ensure_valid",
    "validate",
    "validate_transition",
]

MAX_SUBJECT_CHARS = 500
_DEFAULT_MAX_ATTACHMENT = 64 * 1024 * 1024

# ---------------------------------------------------------------- element paths

_HDR = "/edXML/edXMLEnvelope/edXMLHeader"
_MH = f"{_HDR}/MessageHeader"
_THL = f"{_HDR}/TraceHeaderList"
_BUS = f"{_THL}/Bussiness"
_MANIFEST = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"
_ATT = "/edXML/AttachmentEncoded"


def _nth(name: str, index: int, count: int) -> str:
    """``name[index+1]`` when the element repeats, else ``name`` (the parser's path style)."""
    return f"{name}[{index + 1}]" if count > 1 else name


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


# ---------------------------------------------------------------- modes and rules


class Mode(StrEnum):
    STRICT = "strict"
    LENIENT = "lenient"


Kind = Literal["document", "status"]


@dataclass(frozen=True, slots=True)
class _Context:
    package: Package
    mode: Mode
    today: dt.date
    max_attachment_bytes: int

    @property
    def strict(self) -> bool:
        return self.mode is Mode.STRICT

    @property
    def tolerated(self) -> Severity:
        """Severity of a problem seen in the wild: ERROR in strict mode, WARNING in lenient mode."""
        return Severity.ERROR if self.strict else Severity.WARNING

    @property
    def doc(self) -> DocumentPackage:
        if not isinstance(self.package, DocumentPackage):
            raise TypeError("this rule applies to document packages only")
        return self.package

    @property
    def status(self) -> StatusPackage:
        if not isinstance(self.package, StatusPackage):
            raise TypeError("this rule applies to status packages only")
        return self.package


Check = Callable[[_Context], Iterator[Diagnostic]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One validation rule. Every diagnostic it emits cites ``requirement``."""

    id: str
    requirement: str
    applies_to: tuple[Kind, ...]
    description: str
    check: Check = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "requirement": self.requirement,
            "applies_to": ", ".join(self.applies_to),
            "description": self.description,
        }


#: The registry, in the order rules run (and are documented).
RULES: list[Rule] = []


def _rule(rule_id: str, requirement: str, description: str, *applies_to: Kind) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        RULES.append(Rule(rule_id, requirement, applies_to or ("document",), description, fn))
        return fn

    return register


# ---------------------------------------------------------------- document: presence


_REQ = "EDXML-REQ"


@_rule(
    "required-fields",
    _REQ,
    "From/OrganId, at least one To with OrganId, DocumentId, Code (number and notation), "
    "PromulgationDate, DocumentType/TypeName, Subject, SignerInfo/FullName, ResponseFor ids and at "
    "least one TraceHeader are present and not empty (the law's list QD28-10.2.c-q).",
)
def _required_fields(ctx: _Context) -> Iterator[Diagnostic]:
    pkg = ctx.doc
    h = pkg.header

    def missing(path: str, what: str) -> Diagnostic:
        return Diagnostic(Severity.ERROR, path, _REQ, f"{what} is missing or empty; it is required")

    if _blank(h.from_.organ_id):
        yield missing(f"{_MH}/From/OrganId", "the sender's agency code (From/OrganId)")
    if not h.to:
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/To",
            _REQ,
            "the document has no recipient: add one To per receiving agency",
        )
    for i, org in enumerate(h.to):
        if _blank(org.organ_id):
            yield missing(f"{_MH}/{_nth('To', i, len(h.to))}/OrganId", f"recipient {i + 1}'s agency code")
    if _blank(h.document_id):
        yield missing(f"{_MH}/DocumentId", "the document identifier (DocumentId)")
    if h.code is None:
        yield missing(f"{_MH}/Code", "the number and notation (Code, số và ký hiệu)")
    else:
        if _blank(h.code.code_number):
            yield missing(f"{_MH}/Code/CodeNumber", "the document number (CodeNumber)")
        if _blank(h.code.code_notation):
            yield missing(f"{_MH}/Code/CodeNotation", "the document notation (CodeNotation, e.g. VPCP-TTĐT)")
    if h.promulgation_info is None or h.promulgation_info.promulgation_date is None:
        yield missing(
            f"{_MH}/PromulgationInfo/PromulgationDate",
            "the promulgation date (yyyy/MM/dd, a real calendar day)",
        )
    if h.document_type is None or _blank(h.document_type.type_name):
        yield missing(f"{_MH}/DocumentType/TypeName", "the document type name (e.g. Công văn)")
    if _blank(h.subject):
        yield missing(f"{_MH}/Subject", "the subject (trích yếu)")
    if h.signer_info is None or _blank(h.signer_info.full_name):
        yield missing(f"{_MH}/SignerInfo/FullName", "the signer's full name")
    for i, rf in enumerate(h.response_for):
        base = f"{_MH}/{_nth('ResponseFor', i, len(h.response_for))}"
        if _blank(rf.organ_id):
            yield missing(f"{base}/OrganId", "the agency code of the answered document's sender")
        if _blank(rf.document_id):
            yield missing(f"{base}/DocumentId", "the identifier of the answered document")
    if pkg.trace is None or not pkg.trace.trace_headers:
        yield Diagnostic(
            Severity.ERROR,
            f"{_THL}/TraceHeader",
            _REQ,
            "TraceHeaderList has no TraceHeader: the sender adds the first hop (its OrganId and a Timestamp)",
        )


_EXPECTED = "QD28-10.2.c-q"


@_rule(
    "expected-fields",
    _EXPECTED,
    "Fields the law lists but real packages omit: From/To OrganName, SignerInfo/Position, "
    "PromulgationInfo/Place (WARNING in strict mode, INFO in lenient mode).",
)
def _expected_fields(ctx: _Context) -> Iterator[Diagnostic]:
    h = ctx.doc.header
    sev = Severity.WARNING if ctx.strict else Severity.INFO

    def absent(path: str, what: str) -> Diagnostic:
        return Diagnostic(sev, path, _EXPECTED, f"{what} is missing; the law's list of metadata expects it")

    orgs: list[tuple[str, Organization]] = [("From", h.from_)]
    orgs += [(_nth("To", i, len(h.to)), o) for i, o in enumerate(h.to)]
    for name, org in orgs:
        if _blank(org.organ_name):
            yield absent(f"{_MH}/{name}/OrganName", f"the agency name of {name}")
    if h.signer_info is not None and _blank(h.signer_info.position):
        yield absent(f"{_MH}/SignerInfo/Position", "the signer's position (chức vụ)")
    if h.promulgation_info is not None and _blank(h.promulgation_info.place):
        yield absent(f"{_MH}/PromulgationInfo/Place", "the place of promulgation")


# ---------------------------------------------------------------- document: values


@_rule("subject-length", "EDXML-LEN", f"Subject (trích yếu) has at most {MAX_SUBJECT_CHARS} characters.")
def _subject_length(ctx: _Context) -> Iterator[Diagnostic]:
    n = len(ctx.doc.header.subject or "")
    if n > MAX_SUBJECT_CHARS:
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/Subject",
            "EDXML-LEN",
            f"the subject has {n} characters, more than the limit of {MAX_SUBJECT_CHARS}: shorten it "
            "(put the full text in Content or an attachment)",
        )


_ENUM = "EDXML-ENUM"


def _legal(value: object, allowed: Collection[object]) -> bool:
    try:
        return value in allowed
    except TypeError:  # unhashable garbage
        return False


@_rule(
    "enumerations",
    _ENUM,
    "Enumerated values are legal: Priority 0–4, SteeringType 0–3 (tolerated in lenient mode), "
    "BussinessDocType 0–3, Paper 0/1, ReceiverType 0/1, StatusCode 01–06/13/15/16.",
    "document",
    "status",
)
def _enumerations(ctx: _Context) -> Iterator[Diagnostic]:
    pkg = ctx.package
    if isinstance(pkg, StatusPackage):
        code = pkg.header.status_code
        if not _legal(code, set(StatusCode)):
            yield Diagnostic(
                Severity.ERROR,
                f"{_MH}/StatusCode",
                _ENUM,
                f"StatusCode {code!r} is not one of 01–06, 13, 15, 16",
            )
        return
    h = pkg.header
    priority = h.other_info.priority if h.other_info is not None else None
    if priority is not None and not _legal(priority, set(Priority)):
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/OtherInfo/Priority",
            _ENUM,
            f"Priority {priority!r} is not one of 0 (normal), 1 (khẩn), 2 (thượng khẩn), "
            "3 (hỏa tốc), 4 (hỏa tốc hẹn giờ)",
        )
    if h.steering_type is not None and not _legal(h.steering_type, range(4)):
        yield Diagnostic(
            ctx.tolerated, f"{_MH}/SteeringType", _ENUM, f"SteeringType {h.steering_type!r} is outside 0–3"
        )
    bus = pkg.trace.business if pkg.trace is not None else None
    if bus is None:
        return
    if not _legal(bus.business_doc_type, set(BusinessDocType)):
        yield Diagnostic(
            Severity.ERROR,
            f"{_BUS}/BussinessDocType",
            _ENUM,
            f"BussinessDocType {bus.business_doc_type!r} is not one of 0 (new), 1 (recall), 2 (update), "
            "3 (replace)",
        )
    if bus.paper is not None and not _legal(bus.paper, (0, 1)):
        yield Diagnostic(ctx.tolerated, f"{_BUS}/Paper", _ENUM, f"Paper {bus.paper!r} must be 0 or 1")
    receivers = bus.document_info.receivers if bus.document_info is not None else []
    for i, rc in enumerate(receivers):
        if not _legal(rc.receiver_type, set(ReceiverType)):
            path = f"{_BUS}/BussinessDocumentInfo/ReceiverList/{_nth('Receiver', i, len(receivers))}"
            yield Diagnostic(
                Severity.ERROR,
                f"{path}/ReceiverType",
                _ENUM,
                f"ReceiverType {rc.receiver_type!r} must be 0 (removed) or 1 (added)",
            )


def _norm(organ_id: str) -> str:
    return organ_id.strip().upper()


@_rule("duplicate-recipients", "EDXML-DUPTO", "Each recipient (To/OrganId) appears once.")
def _duplicate_recipients(ctx: _Context) -> Iterator[Diagnostic]:
    to = ctx.doc.header.to
    first_seen: dict[str, int] = {}
    for i, org in enumerate(to):
        if _blank(org.organ_id):
            continue
        key = _norm(org.organ_id)
        if key in first_seen:
            j = first_seen[key]
            yield Diagnostic(
                Severity.ERROR,
                f"{_MH}/{_nth('To', i, len(to))}/OrganId",
                "EDXML-DUPTO",
                f"recipient {org.organ_id.strip()} appears twice, at To[{j + 1}] and To[{i + 1}]: "
                "list each recipient once",
            )
        else:
            first_seen[key] = i


@_rule("sender-is-recipient", "QD28-8.2", "The sender does not address the document to itself (warning).")
def _sender_is_recipient(ctx: _Context) -> Iterator[Diagnostic]:
    h = ctx.doc.header
    if _blank(h.from_.organ_id):
        return
    sender = _norm(h.from_.organ_id)
    for i, org in enumerate(h.to):
        if not _blank(org.organ_id) and _norm(org.organ_id) == sender:
            yield Diagnostic(
                Severity.WARNING,
                f"{_MH}/{_nth('To', i, len(h.to))}/OrganId",
                "QD28-8.2",
                f"the sender {h.from_.organ_id.strip()} is also listed as a recipient; "
                "check that the document goes to the right receivers",
            )


# ---------------------------------------------------------------- document: manifest and attachments

_MAN = "EDXML-MANIFEST"


@_rule(
    "manifest",
    _MAN,
    "Every manifest Reference has exactly one Attachment with the same ContentId and the reverse; "
    "ContentIds are unique; AttachmentName agrees (warning).",
)
def _manifest(ctx: _Context) -> Iterator[Diagnostic]:
    pkg = ctx.doc
    refs, atts = pkg.manifest, pkg.attachments

    def ref_path(i: int) -> str:
        return f"{_MANIFEST}/{_nth('Reference', i, len(refs))}"

    def att_path(i: int) -> str:
        return f"{_ATT}/{_nth('Attachment', i, len(atts))}"

    ref_ids: dict[str, list[int]] = defaultdict(list)
    att_ids: dict[str, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        if _blank(ref.content_id):
            yield Diagnostic(
                Severity.ERROR,
                f"{ref_path(i)}/ContentId",
                _MAN,
                "the Reference has no ContentId: give it one (e.g. cid:1) and the same to its Attachment",
            )
        else:
            ref_ids[ref.content_id.strip()].append(i)
    for i, att in enumerate(atts):
        if _blank(att.content_id):
            yield Diagnostic(
                Severity.ERROR,
                f"{att_path(i)}/ContentId",
                _MAN,
                "the Attachment has no ContentId: give it the ContentId of its manifest Reference",
            )
        else:
            att_ids[att.content_id.strip()].append(i)
    for cid, idx in ref_ids.items():
        for i in idx[1:]:
            yield Diagnostic(
                Severity.ERROR,
                f"{ref_path(i)}/ContentId",
                _MAN,
                f"ContentId {cid} is announced by Reference[{idx[0] + 1}] and again by Reference[{i + 1}]: "
                "give each attachment its own ContentId",
            )
        if cid not in att_ids:
            yield Diagnostic(
                Severity.ERROR,
                f"{ref_path(idx[0])}/ContentId",
                _MAN,
                f"the manifest announces {cid} but no Attachment carries it: add the attachment or "
                "remove the Reference",
            )
    for cid, idx in att_ids.items():
        for i in idx[1:]:
            yield Diagnostic(
                Severity.ERROR,
                f"{att_path(i)}/ContentId",
                _MAN,
                f"ContentId {cid} is carried by Attachment[{idx[0] + 1}] and again by Attachment[{i + 1}]: "
                "each Reference has exactly one Attachment",
            )
        if cid not in ref_ids:
            yield Diagnostic(
                Severity.ERROR,
                f"{att_path(idx[0])}/ContentId",
                _MAN,
                f"Attachment {cid} is not announced in edXMLManifest: add a Reference with ContentId {cid}",
            )
            continue
        ref, att = refs[ref_ids[cid][0]], atts[idx[0]]
        if (ref.attachment_name or "").strip() != (att.attachment_name or "").strip():
            yield Diagnostic(
                Severity.WARNING,
                f"{att_path(idx[0])}/AttachmentName",
                _MAN,
                f"{cid} is named {ref.attachment_name!r} in the manifest but {att.attachment_name!r} in the "
                "attachment: use the same name in both",
            )


@_rule("manifest-version", "EDXML-STRUCT", 'edXMLManifest carries version="1.0".')
def _manifest_version(ctx: _Context) -> Iterator[Diagnostic]:
    version = ctx.doc.manifest_version
    if (version or "").strip() != "1.0":
        yield Diagnostic(
            ctx.tolerated,
            f"{_MANIFEST}/@version",
            "EDXML-STRUCT",
            f'edXMLManifest version is {version!r}: use "1.0"',
        )


@_rule(
    "attachment-payload",
    "EDXML-ATTACH",
    "Each attachment payload opens: a ZIP holding exactly one safe file when labelled or shaped as a "
    "ZIP, else the plain file.",
)
def _attachment_payload(ctx: _Context) -> Iterator[Diagnostic]:
    from simulator.edxml.attachments import AttachmentError, unwrap  # lazy: heavy and optional per rule

    atts = ctx.doc.attachments
    for i, att in enumerate(atts):
        try:
            unwrap(att, max_uncompressed=ctx.max_attachment_bytes)
        except AttachmentError as exc:
            yield Diagnostic(
                Severity.ERROR,
                f"{_ATT}/{_nth('Attachment', i, len(atts))}/ContentTransferEncoded",
                "EDXML-ATTACH",
                str(exc),
            )


# ---------------------------------------------------------------- identifiers


def _organ_ids(pkg: Package) -> Iterator[tuple[str, str, bool]]:
    """(path, agency code, is a later hub hop) for every agency code in the package."""
    if isinstance(pkg, StatusPackage):
        yield f"{_MH}/From/OrganId", pkg.header.from_.organ_id, False
        yield f"{_MH}/ResponseFor/OrganId", pkg.header.response_for.organ_id, False
        return
    doc = pkg.header
    yield f"{_MH}/From/OrganId", doc.from_.organ_id, False
    for i, org in enumerate(doc.to):
        yield f"{_MH}/{_nth('To', i, len(doc.to))}/OrganId", org.organ_id, False
    for i, rf in enumerate(doc.response_for):
        yield f"{_MH}/{_nth('ResponseFor', i, len(doc.response_for))}/OrganId", rf.organ_id, False
    if pkg.trace is None:
        return
    hops = pkg.trace.trace_headers
    for i, th in enumerate(hops):
        if th.organ_id is not None:
            yield f"{_THL}/{_nth('TraceHeader', i, len(hops))}/OrganId", th.organ_id, i > 0
    bus = pkg.trace.business
    if bus is None:
        return
    if bus.document_info is not None:
        rcv = bus.document_info.receivers
        for i, rc in enumerate(rcv):
            path = f"{_BUS}/BussinessDocumentInfo/ReceiverList/{_nth('Receiver', i, len(rcv))}/OrganId"
            yield path, rc.organ_id, False
    for i, rep in enumerate(bus.replacements):
        base = f"{_BUS}/ReplacementInfoList/{_nth('ReplacementInfo', i, len(bus.replacements))}/OrganIdList"
        for j, oid in enumerate(rep.organ_ids):
            yield f"{base}/{_nth('OrganId', j, len(rep.organ_ids))}", oid, False


@_rule(
    "agency-codes",
    "QD28-10.2.a",
    "Every agency code (From, To, ResponseFor, TraceHeader, Receiver, ReplacementInfo) is "
    "NNN.NN.NN.XNN; non-conforming codes are tolerated in lenient mode; codes in hops added by a hub "
    "are at most a warning.",
    "document",
    "status",
)
def _agency_codes(ctx: _Context) -> Iterator[Diagnostic]:
    for path, code, hub_hop in _organ_ids(ctx.package):
        if _blank(code):
            continue  # presence is the business of the required-fields / trace / status rules
        for d in check_agency_code(code, strict=ctx.strict, path=path):
            if hub_hop and d.severity is Severity.ERROR:
                d = Diagnostic(Severity.WARNING, d.path, d.requirement, d.message + " (hop added by a hub)")
            yield d


def _document_ids(pkg: Package) -> Iterator[tuple[str, str]]:
    if isinstance(pkg, StatusPackage):
        yield f"{_MH}/ResponseFor/DocumentId", pkg.header.response_for.document_id
        return
    h = pkg.header
    yield f"{_MH}/DocumentId", h.document_id
    for i, rf in enumerate(h.response_for):
        yield f"{_MH}/{_nth('ResponseFor', i, len(h.response_for))}/DocumentId", rf.document_id
    bus = pkg.trace.business if pkg.trace is not None else None
    if bus is not None:
        if bus.document_id != h.document_id:  # the same text is reported once, on the header
            yield f"{_BUS}/DocumentId", bus.document_id
        reps = bus.replacements
        for i, rep in enumerate(reps):
            yield (
                f"{_BUS}/ReplacementInfoList/{_nth('ReplacementInfo', i, len(reps))}/DocumentId",
                rep.document_id,
            )


_DOCID = "QD28-10.2.b"


@_rule(
    "document-ids",
    _DOCID,
    "Every document identifier (DocumentId, ResponseFor, Bussiness, ReplacementInfo) parses as "
    "<agency>,<yyyy/MM/dd>,<number>/<notation> or <agency>,<yyyy>,<sequence>; for a new document it "
    "agrees with From, PromulgationDate and Code (warnings).",
    "document",
    "status",
)
def _document_id_rule(ctx: _Context) -> Iterator[Diagnostic]:
    for path, text in _document_ids(ctx.package):
        if not _blank(text):
            yield from check_document_id(text, strict=ctx.strict, path=path)
    if isinstance(ctx.package, DocumentPackage) and ctx.package.business_doc_type is BusinessDocType.NEW:
        yield from _document_id_consistency(ctx.package)


def _document_id_consistency(pkg: DocumentPackage) -> Iterator[Diagnostic]:
    h = pkg.header
    try:
        ident = parse_document_id(h.document_id, strict=False)
    except IdentifierError:
        return  # reported above
    path = f"{_MH}/DocumentId"

    def warn(message: str) -> Diagnostic:
        return Diagnostic(Severity.WARNING, path, _DOCID, message)

    if not _blank(h.from_.organ_id) and _norm(ident.agency) != _norm(h.from_.organ_id):
        yield warn(
            f"DocumentId {h.document_id!r} names agency {ident.agency} but the sender (From/OrganId) is "
            f"{h.from_.organ_id.strip()}: a new document's identifier starts with its issuer's code"
        )
    promulgated = h.promulgation_info.promulgation_date if h.promulgation_info else None
    if promulgated is not None:
        if ident.date is not None and ident.date != promulgated:
            yield warn(
                f"DocumentId {h.document_id!r} carries the date {ident.date:%Y/%m/%d} but PromulgationDate "
                f"is {promulgated:%Y/%m/%d}: use the promulgation date"
            )
        elif ident.date is None and ident.form == "yearly" and ident.year != promulgated.year:
            yield warn(
                f"DocumentId {h.document_id!r} carries the year {ident.year} but PromulgationDate is in "
                f"{promulgated.year}: use the year of promulgation"
            )
    if h.code is None or ident.notation is None or _blank(h.code.code_number) or _blank(h.code.code_notation):
        return
    expected = f"{h.code.code_number.strip()}/{h.code.code_notation.strip()}"
    if ident.number.strip() != expected:
        yield warn(
            f"DocumentId {h.document_id!r} carries {ident.number!r} but Code is {expected}: "
            "use the document's number/notation"
        )


def _response_for(pkg: Package) -> Iterator[tuple[str, ResponseFor]]:
    if isinstance(pkg, StatusPackage):
        yield f"{_MH}/ResponseFor", pkg.header.response_for
        return
    rfs = pkg.header.response_for
    for i, rf in enumerate(rfs):
        yield f"{_MH}/{_nth('ResponseFor', i, len(rfs))}", rf


@_rule(
    "response-codes",
    _EXPECTED,
    "ResponseFor/Code, when present, is number/notation (e.g. 7816/VPCP-TTĐT).",
    "document",
    "status",
)
def _response_codes(ctx: _Context) -> Iterator[Diagnostic]:
    for path, rf in _response_for(ctx.package):
        if rf.code is None:
            continue
        try:
            parse_code(rf.code)
        except IdentifierError as exc:
            yield Diagnostic(ctx.tolerated, f"{path}/Code", _EXPECTED, exc.message)


# ---------------------------------------------------------------- dates

_DATE = "EDXML-DATE"


@_rule(
    "dates",
    _DATE,
    "Dates are plausible: PromulgationDate not in the future, DueDate not before it, an answered "
    "document not promulgated after its answer (warnings).",
    "document",
    "status",
)
def _dates(ctx: _Context) -> Iterator[Diagnostic]:
    pkg = ctx.package
    if isinstance(pkg, StatusPackage):
        ts, rf = pkg.header.timestamp, pkg.header.response_for
        if ts is not None and rf.promulgation_date is not None:
            local = ts.astimezone(VN_TZ).date() if ts.tzinfo else ts.date()
            if rf.promulgation_date > local:
                yield Diagnostic(
                    Severity.WARNING,
                    f"{_MH}/ResponseFor/PromulgationDate",
                    _DATE,
                    f"the answered document is dated {rf.promulgation_date:%Y/%m/%d}, after this status's "
                    f"Timestamp ({local:%Y/%m/%d}): check the ResponseFor date",
                )
        return
    h = pkg.header
    promulgated = h.promulgation_info.promulgation_date if h.promulgation_info else None
    if promulgated is None:
        return
    if promulgated > ctx.today:
        yield Diagnostic(
            Severity.WARNING,
            f"{_MH}/PromulgationInfo/PromulgationDate",
            _DATE,
            f"PromulgationDate {promulgated:%Y/%m/%d} is in the future (today is {ctx.today:%Y/%m/%d} in "
            "Vietnam): a document is sent after it is signed",
        )
    if h.due_date is not None and h.due_date < promulgated:
        yield Diagnostic(
            Severity.WARNING,
            f"{_MH}/DueDate",
            _DATE,
            f"DueDate {h.due_date:%Y/%m/%d} is before PromulgationDate {promulgated:%Y/%m/%d}: "
            "the processing deadline must come after promulgation",
        )
    for path, rf in _response_for(pkg):
        if rf.promulgation_date is not None and rf.promulgation_date > promulgated:
            yield Diagnostic(
                Severity.WARNING,
                f"{path}/PromulgationDate",
                _DATE,
                f"the answered document is dated {rf.promulgation_date:%Y/%m/%d}, after this document "
                f"({promulgated:%Y/%m/%d}): check the ResponseFor date",
            )


# ---------------------------------------------------------------- trace and business

_TRACE = "EDXML-TRACE"


@_rule(
    "trace-business",
    _TRACE,
    "TraceHeaderList: the first hop is the sender's, hops carry timestamps in order, and the Bussiness "
    "block fits its BussinessDocType (new: same DocumentId; recall: a reason; update: "
    "BussinessDocumentInfo and a ReceiverList when recipients change; replace: ReplacementInfo).",
)
def _trace_business(ctx: _Context) -> Iterator[Diagnostic]:
    pkg = ctx.doc
    if pkg.trace is None:
        return  # required-fields reports the missing TraceHeader
    yield from _trace_hops(ctx, pkg)
    bus = pkg.trace.business
    if bus is None:
        yield Diagnostic(
            ctx.tolerated,
            _BUS,
            _TRACE,
            "TraceHeaderList has no Bussiness block: add one with DocumentId and BussinessDocType "
            "(0 for a new document)",
        )
        return
    kind = bus.business_doc_type
    if _blank(bus.document_id):
        yield Diagnostic(
            ctx.tolerated, f"{_BUS}/DocumentId", _TRACE, "Bussiness/DocumentId is empty: name the document"
        )
    elif kind is BusinessDocType.NEW and bus.document_id.strip() != (pkg.header.document_id or "").strip():
        yield Diagnostic(
            ctx.tolerated,
            f"{_BUS}/DocumentId",
            _TRACE,
            f"for a new document Bussiness/DocumentId ({bus.document_id!r}) must equal "
            f"MessageHeader/DocumentId ({pkg.header.document_id!r})",
        )
    if kind is BusinessDocType.RECALL and _blank(bus.business_doc_reason):
        yield Diagnostic(
            ctx.tolerated,
            f"{_BUS}/BussinessDocReason",
            _TRACE,
            "a recall (BussinessDocType 1) must say why in BussinessDocReason",
        )
    yield from _update_info(ctx, kind, bus.document_info)
    yield from _replacement_info(ctx, kind, bus.replacements)


def _trace_hops(ctx: _Context, pkg: DocumentPackage) -> Iterator[Diagnostic]:
    assert pkg.trace is not None
    hops = pkg.trace.trace_headers
    if not hops:
        return
    first = hops[0]
    sender = pkg.header.from_.organ_id
    path0 = f"{_THL}/{_nth('TraceHeader', 0, len(hops))}"
    if first.organ_id is None or _blank(first.organ_id):
        yield Diagnostic(
            ctx.tolerated,
            f"{path0}/OrganId",
            _TRACE,
            "the first TraceHeader (the sender's hop) has no OrganId: put the sender's agency code there",
        )
    elif not _blank(sender) and _norm(first.organ_id) != _norm(sender):
        yield Diagnostic(
            Severity.WARNING,
            f"{path0}/OrganId",
            _TRACE,
            f"the first TraceHeader is from {first.organ_id.strip()} but the sender is {sender.strip()}: "
            "the sender adds the first hop",
        )
    previous: dt.datetime | None = None
    for i, hop in enumerate(hops):
        path = f"{_THL}/{_nth('TraceHeader', i, len(hops))}/Timestamp"
        if hop.timestamp is None:
            yield Diagnostic(
                ctx.tolerated, path, _TRACE, "the TraceHeader has no readable Timestamp (yyyy/MM/dd HH:mm:ss)"
            )
            continue
        ts = hop.timestamp if hop.timestamp.tzinfo else hop.timestamp.replace(tzinfo=VN_TZ)
        if previous is not None and ts < previous:
            yield Diagnostic(
                Severity.WARNING,
                path,
                _TRACE,
                f"hop {i + 1} is timestamped before hop {i}: hops are appended in time order "
                "(check the clocks, QD28-14.4)",
            )
        previous = ts


def _update_info(
    ctx: _Context, kind: BusinessDocType, info: BusinessDocumentInfo | None
) -> Iterator[Diagnostic]:
    base = f"{_BUS}/BussinessDocumentInfo"
    if kind is not BusinessDocType.UPDATE:
        if info is not None:
            yield Diagnostic(
                Severity.WARNING,
                base,
                _TRACE,
                f"BussinessDocumentInfo belongs to an update (BussinessDocType 2), not to type {int(kind)}: "
                "remove it or fix the type",
            )
        return
    if info is None:
        yield Diagnostic(
            ctx.tolerated,
            base,
            _TRACE,
            "an update (BussinessDocType 2) needs BussinessDocumentInfo saying what changed "
            "(DocumentInfo, DocumentReceiver)",
        )
        return
    if info.document_receiver and not info.receivers:
        yield Diagnostic(
            ctx.tolerated,
            f"{base}/ReceiverList",
            _TRACE,
            "DocumentReceiver is 1 (recipients changed) but ReceiverList is empty: list each added or "
            "removed Receiver",
        )
    elif info.receivers and not info.document_receiver:
        yield Diagnostic(
            Severity.WARNING,
            f"{base}/DocumentReceiver",
            _TRACE,
            "ReceiverList lists receivers but DocumentReceiver is 0: set it to 1",
        )
    if not info.document_info and not info.document_receiver:
        yield Diagnostic(
            Severity.WARNING,
            base,
            _TRACE,
            "the update changes nothing: DocumentInfo and DocumentReceiver are both 0",
        )
    for i, rc in enumerate(info.receivers):
        if _blank(rc.organ_id):
            path = f"{base}/ReceiverList/{_nth('Receiver', i, len(info.receivers))}/OrganId"
            yield Diagnostic(ctx.tolerated, path, _TRACE, "the Receiver has no OrganId")


def _replacement_info(
    ctx: _Context, kind: BusinessDocType, reps: Sequence[ReplacementInfo]
) -> Iterator[Diagnostic]:
    base = f"{_BUS}/ReplacementInfoList"
    if kind is not BusinessDocType.REPLACE:
        if reps:
            yield Diagnostic(
                Severity.WARNING,
                base,
                _TRACE,
                f"ReplacementInfoList belongs to a replacement (BussinessDocType 3), not to type {int(kind)}",
            )
        return
    if not reps:
        yield Diagnostic(
            ctx.tolerated,
            base,
            _TRACE,
            "a replacement (BussinessDocType 3) needs at least one ReplacementInfo naming the replaced "
            "document's DocumentId",
        )
    for i, rep in enumerate(reps):
        if _blank(rep.document_id):
            path = f"{base}/{_nth('ReplacementInfo', i, len(reps))}/DocumentId"
            yield Diagnostic(
                ctx.tolerated,
                path,
                _TRACE,
                "the ReplacementInfo does not name the replaced document's DocumentId",
            )


# ---------------------------------------------------------------- status packages

_STATUS = "EDXML-STATUS"


@_rule(
    "status-package",
    _STATUS,
    "A status carries From/OrganId, ResponseFor with OrganId and DocumentId, a Timestamp, and a "
    "Description for 02, 13 and 16; a receiver code comes from someone other than the original "
    "sender, a 13 from the original sender (warnings).",
    "status",
)
def _status_package(ctx: _Context) -> Iterator[Diagnostic]:
    h = ctx.status.header
    if _blank(h.from_.organ_id):
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/From/OrganId",
            _STATUS,
            "the reporting agency's code (From/OrganId) is missing",
        )
    if _blank(h.response_for.organ_id):
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/ResponseFor/OrganId",
            _STATUS,
            "ResponseFor/OrganId (the original sender's agency code) is missing",
        )
    if _blank(h.response_for.document_id):
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/ResponseFor/DocumentId",
            _STATUS,
            "ResponseFor/DocumentId (the document this status is about) is missing",
        )
    if h.timestamp is None:
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/Timestamp",
            _STATUS,
            "the status has no readable Timestamp (yyyy/MM/dd HH:mm:ss, Vietnam time)",
        )
    code = h.status_code
    if not isinstance(code, StatusCode):
        return  # the enumerations rule reports it
    if code.needs_reason and _blank(h.description):
        yield Diagnostic(
            Severity.ERROR,
            f"{_MH}/Description",
            _STATUS,
            f"status {code.value} needs a reason: write it in Description",
        )
    if _blank(h.from_.organ_id) or _blank(h.response_for.organ_id):
        return
    same = _norm(h.from_.organ_id) == _norm(h.response_for.organ_id)
    if same and not code.sent_by_sender:
        yield Diagnostic(
            Severity.WARNING,
            f"{_MH}/From/OrganId",
            _STATUS,
            f"status {code.value} is sent by the receiver, but From equals ResponseFor/OrganId (the "
            "original sender): From must be the reporting receiver",
        )
    elif not same and code.sent_by_sender:
        yield Diagnostic(
            Severity.WARNING,
            f"{_MH}/From/OrganId",
            _STATUS,
            f"status 13 is sent by the original sender, but From ({h.from_.organ_id.strip()}) differs from "
            f"ResponseFor/OrganId ({h.response_for.organ_id.strip()})",
        )


# ---------------------------------------------------------------- entry points


_RULE_IDS = frozenset(r.id for r in RULES)


def _kind(package: Package) -> Kind:
    if isinstance(package, DocumentPackage):
        return "document"
    if isinstance(package, StatusPackage):
        return "status"
    raise TypeError(f"validate() takes a DocumentPackage or StatusPackage, not {type(package).__name__}")


def validate(
    package: Package,
    *,
    mode: Mode = Mode.STRICT,
    today: dt.date | None = None,
    skip: Collection[str] = (),
    max_attachment_bytes: int = _DEFAULT_MAX_ATTACHMENT,
) -> list[Diagnostic]:
    """Run every rule of :data:`RULES` that applies to ``package``; return their diagnostics.

    ``today`` (Vietnam date, default: now) anchors the "not in the future" checks; ``skip`` names
    rule ids not to run (e.g. ``{"attachment-payload"}`` where archives were already opened);
    ``max_attachment_bytes`` caps the uncompressed size of each attachment.
    """
    unknown = [rule_id for rule_id in skip if rule_id not in _RULE_IDS]
    if unknown:
        raise ValueError(f"unknown rule id(s) to skip: {', '.join(sorted(unknown))}")
    kind = _kind(package)
    ctx = _Context(
        package=package,
        mode=Mode(mode),
        today=today if today is not None else dt.datetime.now(VN_TZ).date(),
        max_attachment_bytes=max_attachment_bytes,
    )
    out: list[Diagnostic] = []
    for rule in RULES:
        if kind in rule.applies_to and rule.id not in skip:
            out.extend(rule.check(ctx))
    return out


def ensure_valid(
    package: Package, *, mode: Mode = Mode.STRICT, today: dt.date | None = None
) -> list[Diagnostic]:
    """:func:`validate`, raising :class:`EdxmlError` when any diagnostic is an ERROR.

    Returns the remaining (warning/info) diagnostics otherwise.
    """
    diagnostics = validate(package, mode=mode, today=today)
    if has_errors(diagnostics):
        raise EdxmlError(diagnostics)
    return diagnostics


def _legal_order() -> str:
    return (
        "the legal order is 01 → 02 (final) or 03; 03 → 04, 05 or 06; 04 → 05 or 06; 05 → 06; "
        "a 13 may come before 06 and is answered by 15 or 16"
    )


def _next_allowed(current: StatusCode | None) -> str:
    allowed = sorted(s.value for s in LIFECYCLE.get(current, frozenset()))
    after = current.value if current is not None else "nothing"
    return f"after {after} the next status may be {', '.join(allowed)}" if allowed else f"{after} is final"


def validate_transition(
    history: Sequence[StatusCode], new: StatusCode, *, mode: Mode = Mode.STRICT
) -> Diagnostic | None:
    """Judge status ``new`` after ``history`` (one document, one receiver); None when legal.

    A skipped step (e.g. 03 with no 01) is an ERROR in strict mode and a WARNING in lenient mode;
    every other illegal move is an ERROR.
    """
    t = check_transition(history, new)
    if t.verdict.legal:
        return None
    prev = t.previous.value if t.previous is not None else "nothing"
    reason = {
        TransitionVerdict.SKIPPED: (
            f"status {new.value} after {prev} skips a step ({_next_allowed(t.previous)})"
        ),
        TransitionVerdict.BACKWARDS: f"status {new.value} after {prev} goes backwards",
        TransitionVerdict.AFTER_FINAL: f"status {new.value} comes after the final status {prev}",
        TransitionVerdict.UNSOLICITED_ANSWER: (
            f"status {new.value} answers a recall/update request (13) that is not pending"
        ),
        TransitionVerdict.RECALL_TOO_LATE: "status 13 (recall request) comes after 06 (handling completed)",
    }[t.verdict]
    lenient_skip = t.verdict is TransitionVerdict.SKIPPED and Mode(mode) is Mode.LENIENT
    return Diagnostic(
        Severity.WARNING if lenient_skip else Severity.ERROR,
        f"{_MH}/StatusCode",
        "QD28-14.2",
        f"{reason}: {_legal_order()}",
    )
