"""Read edXML bytes into the typed model, leniently, with diagnostics instead of exceptions.

What the parser accepts and what it says (spec/edxml.md):

* Parsing goes through :func:`simulator.edxml.xmlsafe.safe_fromstring` only. Malformed XML, a
  DOCTYPE/entities, an empty or oversize file → one ERROR ``EDXML-XML`` at ``/`` and no package.
  Stray bytes before ``<?xml`` are dropped with a WARNING ``EDXML-XML``.
* Namespace: the *document namespace* is the root element's namespace. Anything but the QCVN 102
  namespace (including none) is an ERROR ``EDXML-NS``, but the package is still read in the
  root's namespace, so a consistently mis-namespaced package yields a model and the validator can
  say everything else that is wrong with it. An element with a known edXML name in yet another
  namespace is an ERROR ``EDXML-NS`` and is not read. Prefixes are not checked here (the validator
  sees them through :attr:`ParseResult.root`).
* Elements are matched by local name; their order is free. A single-valued element that appears
  twice → WARNING ``EDXML-STRUCT``, the first one is read. Unknown elements are ignored, and so is
  ``Signature`` in whatever namespace (the verifier's business).
* Document or status: a package is a **status** when its MessageHeader has a ``StatusCode`` and
  none of the document markers (MessageHeader/``To``, ``Subject``, ``DocumentId``; an
  ``edXMLBody``; an ``AttachmentEncoded``). StatusCode together with a document marker → ERROR
  ``EDXML-STRUCT`` and the package is read as a document. A status carrying a TraceHeaderList →
  WARNING, ignored.
* Strings are taken verbatim (not stripped). Absent optional element → ``None``; present but
  empty → ``""``; absent required string (typed ``str`` in the model) → ``""`` for the validator to
  report. Typed values (integers, enums, booleans, dates) are stripped, and an unreadable one
  becomes ``None`` plus an ERROR (``EDXML-ENUM`` / ``EDXML-DATE``) naming the element path; an empty
  one is read as absent with an INFO. Fields the model cannot leave empty take their default
  (BussinessDocType → 0, DocumentInfo/DocumentReceiver → false) beside the ERROR; a Receiver whose
  ReceiverType is unreadable is dropped beside the ERROR.
* Times: ``yyyy/MM/dd HH:mm:ss`` or ISO 8601; another offset than +07:00 → converted, WARNING
  ``QD28-14.4``; ISO without offset → read as Vietnam time, INFO ``QD28-14.4``.
* A status without From or ResponseFor, or with an unknown StatusCode → ERROR and ``package=None``
  (all other diagnostics are still listed). A document without From → ERROR ``EDXML-REQ`` and an
  empty From in the model.
* Attachments: base64 may hold whitespace; bad base64 or a missing ContentTransferEncoded → ERROR
  ``EDXML-ATTACH`` naming the ContentId and that attachment is skipped.

Paths in diagnostics are local names with a 1-based index only where same-named siblings exist:
``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from lxml import etree

from simulator.edxml.diagnostics import Diagnostic, EdxmlError, Severity, has_errors
from simulator.edxml.model import (
    NAMESPACE,
    Appendix,
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentHeader,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    ReceiverChange,
    ReceiverType,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from simulator.edxml.vntime import parse_date, parse_timestamp
from simulator.edxml.xmlsafe import DEFAULT_MAX_BYTES, UnsafeXmlError, safe_fromstring, strip_leading_junk

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PackageKind",
    "ParseResult",
    "element_path",
    "parse",
    "parse_or_raise",
    "parse_tree",
]

PackageKind = Literal["document", "status"]
_Kids = dict[str, list[etree._Element]]
_UNSEEN = "\x00"  # no XML name holds a NUL
_NAMES: dict[str, dict[str, str | None]] = {}
"""Namespace prefix → {tag → local name, or None when in another namespace}: a dict lookup per child
instead of a prefix test and a slice (the same few dozen tags recur in every package)."""
_NAMES_MAX = 4096  # hostile input cannot grow the memo without bound
_IntEnumT = TypeVar("_IntEnumT", Priority, BusinessDocType, ReceiverType)
_T = TypeVar("_T")

_NS_PREFIX = "{" + NAMESPACE + "}"
_INT = re.compile(r"^[+-]?[0-9]+$")
_DOC_MARKERS_MH = ("To", "Subject", "DocumentId")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_STATUS_CODES = {c.value: c for c in StatusCode}
# Every element name the parser reads: a foreign-namespace element with one of these names is flagged.
_KNOWN = frozenset(
    """edXML edXMLEnvelope edXMLHeader MessageHeader TraceHeaderList edXMLBody edXMLManifest Reference
    AttachmentEncoded Attachment ContentId ContentType Description AttachmentName ContentTransferEncoded
    From To OrganId OrganizationInCharge OrganName OrganAdd Email Telephone Fax Website DocumentId Code
    CodeNumber CodeNotation PromulgationInfo Place PromulgationDate DocumentType Type TypeDetail TypeName
    Subject Content SignerInfo Competence Position FullName DueDate OtherInfo Priority SphereOfPromulgation
    TyperNotation PromulgationAmount PageAmount Direction Appendixes Appendix ResponseFor SteeringType
    ToPlaces StaffInfo Department Staff Mobile StatusCode Timestamp TraceHeader Bussiness BussinessDocType
    BussinessDocReason Paper BussinessDocumentInfo DocumentInfo DocumentReceiver ReceiverList Receiver
    ReceiverType ReplacementInfoList ReplacementInfo OrganIdList""".split()  # noqa: SIM905
)


@dataclass(slots=True)
class ParseResult:
    """What :func:`parse` found. ``root`` is the parsed tree, for the signature verifier to reuse."""

    package: DocumentPackage | StatusPackage | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    root: etree._Element | None = None
    junk_bytes: int = 0
    kind: PackageKind | None = None

    @property
    def ok(self) -> bool:
        """A package was read and nothing is an ERROR (warnings allowed)."""
        return self.package is not None and not has_errors(self.diagnostics)


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return "comment()" if tag is etree.Comment else "node()"
    return tag.rpartition("}")[2]


def element_path(el: etree._Element) -> str:
    """``/edXML/…/To[2]/OrganId``: local names, 1-based index only among same-named siblings."""
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        name = _local(node.tag)
        parent = node.getparent()
        if parent is not None:
            same = [s for s in parent if s.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def _text_of(el: etree._Element) -> str:
    if len(el):  # comments, PIs or (wrongly) child elements inside a leaf
        return "".join(str(t) for t in el.itertext())
    return el.text or ""


class _Reader:
    """Walks one tree; collects diagnostics. Paths are computed only when something is said."""

    __slots__ = ("decode", "diags", "foreign", "groups", "names", "prefix")

    def __init__(self, namespace: str, *, decode: bool = True) -> None:
        self.prefix = "{" + namespace + "}" if namespace else ""
        self.names = _NAMES.setdefault(self.prefix, {}) if len(_NAMES) < _NAMES_MAX else {}
        self.diags: list[Diagnostic] = []
        self.decode = decode
        self.groups: dict[etree._Element, _Kids] = {}
        self.foreign: dict[etree._Element, list[etree._Element]] = {}

    # -- diagnostics -------------------------------------------------------------------------
    def say(self, severity: Severity, path: str, requirement: str, message: str) -> None:
        self.diags.append(Diagnostic(severity, path, requirement, message))

    # -- structure ---------------------------------------------------------------------------
    def index(self, root: etree._Element) -> None:
        """Group every element of the tree under its parent in one pass (one lxml walk instead of an
        iterator per parent, ≈3× faster); :meth:`kids` then reads the groups."""
        groups: dict[etree._Element, _Kids] = {}
        foreign: dict[etree._Element, list[etree._Element]] = {}
        names = self.names
        for child in root.iter(etree.Element):  # elements only: no comments or PIs
            parent = child.getparent()
            if parent is None:
                continue
            tag = child.tag
            local = names.get(tag, _UNSEEN)
            if local is _UNSEEN:
                local = self._local_name(tag)
            if local is None:
                foreign.setdefault(parent, []).append(child)
                continue
            kids = groups.get(parent)
            if kids is None:
                groups[parent] = {local: [child]}
                continue
            group = kids.get(local)
            if group is None:
                kids[local] = [child]
            else:
                group.append(child)
        self.groups = groups
        self.foreign = foreign

    def kids(self, el: etree._Element) -> _Kids:
        """Children in the document namespace, grouped by local name, in document order.

        A child in another namespace with one of edXML's names is reported (once per call) and left out.
        """
        for child in self.foreign.get(el, ()):
            self._foreign(child, child.tag)
        return self.groups.get(el) or {}

    def _local_name(self, tag: str) -> str | None:
        """The local name of a tag in the document's namespace; None for another namespace."""
        prefix = self.prefix
        if prefix:
            local = tag[len(prefix) :] if tag.startswith(prefix) else None
        else:
            local = None if tag[:1] == "{" else tag
        if len(self.names) < _NAMES_MAX:  # remembered per namespace, across packages
            self.names[tag] = local
        return local

    def _foreign(self, child: etree._Element, tag: str) -> None:
        local = _local(tag)
        if local not in _KNOWN:
            return  # an extension or a ds:Signature: not ours to read
        ns = tag[1 : tag.index("}")] if tag.startswith("{") else ""
        expected = self.prefix[1:-1] or "no namespace"
        self.say(
            Severity.ERROR,
            element_path(child),
            "EDXML-NS",
            f"{local} is in namespace {ns or '(none)'!r} but the package uses {expected!r}; the element "
            f"is ignored — put it in {NAMESPACE}",
        )

    def first(self, kids: _Kids, name: str) -> etree._Element | None:
        group = kids.get(name)
        if not group:
            return None
        if len(group) > 1:
            self.say(
                Severity.WARNING,
                element_path(group[1]),
                "EDXML-STRUCT",
                f"{name} appears {len(group)} times where one is expected; only the first is read — "
                "remove the repeats",
            )
        return group[0]

    # -- leaves ------------------------------------------------------------------------------
    def string(self, kids: _Kids, name: str) -> str | None:
        el = self.first(kids, name)
        return None if el is None else _text_of(el)

    def required(self, kids: _Kids, name: str) -> str:
        el = self.first(kids, name)
        return "" if el is None else _text_of(el)

    def _typed_text(self, kids: _Kids, name: str, requirement: str) -> tuple[etree._Element, str] | None:
        el = self.first(kids, name)
        if el is None:
            return None
        text = _text_of(el).strip()
        if not text:
            self.say(
                Severity.INFO,
                element_path(el),
                requirement,
                f"{name} is empty and is read as absent; omit the element or give it a value",
            )
            return None
        return el, text

    def integer(self, kids: _Kids, name: str) -> int | None:
        found = self._typed_text(kids, name, "EDXML-ENUM")
        if found is None:
            return None
        el, text = found
        value = _to_int(text)
        if value is None:
            self.say(
                Severity.ERROR,
                element_path(el),
                "EDXML-ENUM",
                f"{name} is {text[:40]!r}, not an integer; write digits only (e.g. 1)",
            )
        return value

    def int_enum(self, kids: _Kids, name: str, cls: type[_IntEnumT]) -> _IntEnumT | None:
        found = self._typed_text(kids, name, "EDXML-ENUM")
        if found is None:
            return None
        el, text = found
        value = _to_int(text)
        if value is not None:
            try:
                return cls(value)
            except ValueError:
                pass
        legal = ", ".join(str(int(m)) for m in cls)
        self.say(
            Severity.ERROR,
            element_path(el),
            "EDXML-ENUM",
            f"{name} is {text[:40]!r}, not one of the legal values {legal}",
        )
        return None

    def boolean(self, kids: _Kids, name: str, *, words: str) -> bool | None:
        found = self._typed_text(kids, name, "EDXML-ENUM")
        if found is None:
            return None
        el, text = found
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        self.say(
            Severity.ERROR,
            element_path(el),
            "EDXML-ENUM",
            f"{name} is {text[:40]!r}; write {words}",
        )
        return None

    def date(self, kids: _Kids, name: str) -> dt.date | None:
        found = self._typed_text(kids, name, "EDXML-DATE")
        if found is None:
            return None
        el, text = found
        try:
            return parse_date(text)
        except (ValueError, OverflowError) as exc:
            self.say(
                Severity.ERROR,
                element_path(el),
                "EDXML-DATE",
                f"{name}: {exc}; write a real calendar date as yyyy/MM/dd",
            )
            return None

    def timestamp(self, kids: _Kids, name: str) -> dt.datetime | None:
        found = self._typed_text(kids, name, "EDXML-DATE")
        if found is None:
            return None
        el, text = found
        try:
            parsed = parse_timestamp(text)
        except (ValueError, OverflowError) as exc:
            self.say(
                Severity.ERROR,
                element_path(el),
                "EDXML-DATE",
                f"{name}: {str(exc)[:200]}; write yyyy/MM/dd HH:mm:ss in Vietnam time",
            )
            return None
        if parsed.foreign_offset is not None:
            self.say(
                Severity.WARNING,
                element_path(el),
                "QD28-14.4",
                f"{name} {text!r} carries the offset {_offset(parsed.foreign_offset)}, not Vietnam time "
                f"(+07:00); read as {parsed.value.isoformat()} — emit Vietnam time",
            )
        elif parsed.naive_iso:
            self.say(
                Severity.INFO,
                element_path(el),
                "QD28-14.4",
                f"{name} {text!r} is ISO 8601 without an offset and is read as Vietnam time; "
                "add +07:00 or use yyyy/MM/dd HH:mm:ss",
            )
        return parsed.value

    # -- blocks ------------------------------------------------------------------------------
    def organization(self, el: etree._Element) -> Organization:
        k = self.kids(el)
        s = self.string
        return Organization(
            organ_id=self.required(k, "OrganId"),
            organ_name=s(k, "OrganName"),
            organization_in_charge=s(k, "OrganizationInCharge"),
            organ_add=s(k, "OrganAdd"),
            email=s(k, "Email"),
            telephone=s(k, "Telephone"),
            fax=s(k, "Fax"),
            website=s(k, "Website"),
        )

    def response_for(self, el: etree._Element) -> ResponseFor:
        k = self.kids(el)
        return ResponseFor(
            organ_id=self.required(k, "OrganId"),
            document_id=self.required(k, "DocumentId"),
            code=self.string(k, "Code"),
            promulgation_date=self.date(k, "PromulgationDate"),
        )

    def staff_info(self, el: etree._Element | None) -> StaffInfo | None:
        if el is None:
            return None
        k = self.kids(el)
        return StaffInfo(
            department=self.string(k, "Department"),
            staff=self.string(k, "Staff"),
            mobile=self.string(k, "Mobile"),
            email=self.string(k, "Email"),
        )

    def other_info(self, el: etree._Element) -> OtherInfo:
        k = self.kids(el)
        appendixes: list[Appendix] = []
        apps = self.first(k, "Appendixes")
        if apps is not None:
            appendixes = [Appendix(_text_of(a)) for a in self.kids(apps).get("Appendix", ())]
        return OtherInfo(
            priority=self.int_enum(k, "Priority", Priority),
            sphere_of_promulgation=self.string(k, "SphereOfPromulgation"),
            typer_notation=self.string(k, "TyperNotation"),
            promulgation_amount=self.integer(k, "PromulgationAmount"),
            page_amount=self.integer(k, "PageAmount"),
            direction=self.boolean(k, "Direction", words="true or false"),
            appendixes=appendixes,
        )

    def document_header(self, mh: etree._Element, k: _Kids) -> DocumentHeader:
        from_el = self.first(k, "From")
        if from_el is None:
            self.say(
                Severity.ERROR,
                element_path(mh) + "/From",
                "EDXML-REQ",
                "the document has no From (the sending agency); add From/OrganId",
            )
            from_ = Organization(organ_id="")
        else:
            from_ = self.organization(from_el)
        code = None
        code_el = self.first(k, "Code")
        if code_el is not None:
            ck = self.kids(code_el)
            code = Code(self.required(ck, "CodeNumber"), self.required(ck, "CodeNotation"))
        promulgation = None
        pi_el = self.first(k, "PromulgationInfo")
        if pi_el is not None:
            pk = self.kids(pi_el)
            promulgation = PromulgationInfo(self.string(pk, "Place"), self.date(pk, "PromulgationDate"))
        doc_type = None
        dt_el = self.first(k, "DocumentType")
        if dt_el is not None:
            dk = self.kids(dt_el)
            doc_type = DocumentType(
                self.integer(dk, "Type"), self.integer(dk, "TypeDetail"), self.string(dk, "TypeName")
            )
        signer = None
        si_el = self.first(k, "SignerInfo")
        if si_el is not None:
            sk = self.kids(si_el)
            signer = SignerInfo(
                self.string(sk, "Competence"), self.string(sk, "Position"), self.string(sk, "FullName")
            )
        oi_el = self.first(k, "OtherInfo")
        places: list[str] = []
        tp_el = self.first(k, "ToPlaces")
        if tp_el is not None:
            places = [_text_of(p) for p in self.kids(tp_el).get("Place", ())]
        return DocumentHeader(
            from_=from_,
            to=[self.organization(el) for el in k.get("To", ())],
            document_id=self.required(k, "DocumentId"),
            subject=self.required(k, "Subject"),
            code=code,
            promulgation_info=promulgation,
            document_type=doc_type,
            content=self.string(k, "Content"),
            signer_info=signer,
            due_date=self.date(k, "DueDate"),
            other_info=None if oi_el is None else self.other_info(oi_el),
            response_for=[self.response_for(el) for el in k.get("ResponseFor", ())],
            steering_type=self.integer(k, "SteeringType"),
            to_places=places,
        )

    def _aliased(self, kids: _Kids, name: str, alias: str) -> etree._Element | None:
        """``Bussiness…`` (sic, the standard's spelling) or the corrected ``Business…`` with a warning."""
        el = self.first(kids, name)
        if el is None:
            el = self.first(kids, alias)
            if el is not None:
                self.say(
                    Severity.WARNING,
                    element_path(el),
                    "EDXML-TRACE",
                    f"{alias} is spelled {name} (sic, two s's) in QCVN 102; read anyway — use {name}",
                )
        return el

    def business(self, el: etree._Element) -> Business:
        k = self.kids(el)
        doc_type = BusinessDocType.NEW
        type_el = self._aliased(k, "BussinessDocType", "BusinessDocType")
        if type_el is None:
            self.say(
                Severity.WARNING,
                element_path(el) + "/BussinessDocType",
                "EDXML-TRACE",
                "Bussiness has no BussinessDocType; read as 0 (new) — state 0, 1, 2 or 3",
            )
        else:
            name = _local(type_el.tag)
            parsed = self.int_enum({name: [type_el]}, name, BusinessDocType)
            doc_type = parsed if parsed is not None else BusinessDocType.NEW
        reason_el = self._aliased(k, "BussinessDocReason", "BusinessDocReason")
        info = None
        info_el = self._aliased(k, "BussinessDocumentInfo", "BusinessDocumentInfo")
        if info_el is not None:
            info = self.document_info(info_el)
        replacements: list[ReplacementInfo] = []
        ril = self.first(k, "ReplacementInfoList")
        if ril is not None:
            for ri in self.kids(ril).get("ReplacementInfo", ()):
                rk = self.kids(ri)
                organ_ids: list[str] = []
                oil = self.first(rk, "OrganIdList")
                if oil is not None:
                    organ_ids = [_text_of(o) for o in self.kids(oil).get("OrganId", ())]
                replacements.append(ReplacementInfo(self.required(rk, "DocumentId"), organ_ids))
        return Business(
            document_id=self.required(k, "DocumentId"),
            business_doc_type=doc_type,
            business_doc_reason=None if reason_el is None else _text_of(reason_el),
            paper=self.integer(k, "Paper"),
            staff_info=self.staff_info(self.first(k, "StaffInfo")),
            document_info=info,
            replacements=replacements,
        )

    def document_info(self, el: etree._Element) -> BusinessDocumentInfo:
        k = self.kids(el)
        receivers: list[ReceiverChange] = []
        rl = self.first(k, "ReceiverList")
        if rl is not None:
            for rec in self.kids(rl).get("Receiver", ()):
                rk = self.kids(rec)
                rtype = self.int_enum(rk, "ReceiverType", ReceiverType)
                if rtype is None:
                    if "ReceiverType" not in rk:
                        self.say(
                            Severity.ERROR,
                            element_path(rec) + "/ReceiverType",
                            "EDXML-ENUM",
                            "Receiver has no ReceiverType; the entry is ignored — "
                            "write 0 (removed) or 1 (added)",
                        )
                    continue
                receivers.append(ReceiverChange(self.required(rk, "OrganId"), rtype))
        return BusinessDocumentInfo(
            document_info=bool(self.boolean(k, "DocumentInfo", words="0 or 1")),
            document_receiver=bool(self.boolean(k, "DocumentReceiver", words="0 or 1")),
            receivers=receivers,
        )

    def trace(self, el: etree._Element) -> TraceHeaderList:
        k = self.kids(el)
        hops = []
        for th in k.get("TraceHeader", ()):
            tk = self.kids(th)
            stamp = self.timestamp(tk, "Timestamp")
            hops.append(TraceHeader(timestamp=stamp, organ_id=self.string(tk, "OrganId")))
        bus_el = self._aliased(k, "Bussiness", "Business")
        return TraceHeaderList(
            trace_headers=hops,
            business=None if bus_el is None else self.business(bus_el),
            attributes={_local(key): str(value) for key, value in el.attrib.items()},
        )

    def manifest(self, body: etree._Element) -> tuple[str, list[ManifestReference]]:
        man = self.first(self.kids(body), "edXMLManifest")
        if man is None:
            return "1.0", []
        refs = []
        for ref in self.kids(man).get("Reference", ()):
            rk = self.kids(ref)
            refs.append(
                ManifestReference(
                    content_id=self.required(rk, "ContentId"),
                    attachment_name=self.required(rk, "AttachmentName"),
                    content_type=self.string(rk, "ContentType"),
                    description=self.string(rk, "Description"),
                )
            )
        return man.get("version", ""), refs  # absent attribute: "" for the validator to report

    def attachment(self, el: etree._Element) -> Attachment | None:
        k = self.kids(el)
        cid = self.required(k, "ContentId")
        name = self.required(k, "AttachmentName")
        label = f"attachment {cid or '(no ContentId)'}" + (f" ({name!r})" if name else "")
        enc = self.first(k, "ContentTransferEncoded")
        if enc is None:
            self.say(
                Severity.ERROR,
                element_path(el) + "/ContentTransferEncoded",
                "EDXML-ATTACH",
                f"{label} has no ContentTransferEncoded; the attachment is skipped — add the base64 content",
            )
            return None
        text = _text_of(enc)
        if not self.decode:
            checked, problem = _b64check(text)
            if checked is not None:
                return Attachment(
                    cid,
                    name,
                    None,
                    self.string(k, "ContentType"),
                    self.string(k, "Description"),
                    encoded=checked,
                )
            payload = None
        else:
            payload, problem = _b64decode(text)
        if payload is None:
            self.say(
                Severity.ERROR,
                element_path(enc),
                "EDXML-ATTACH",
                f"{label}: ContentTransferEncoded is not valid base64 ({problem}); the attachment is "
                "skipped — encode the file with standard padded base64 (RFC 4648)",
            )
            return None
        return Attachment(
            content_id=cid,
            attachment_name=name,
            payload=payload,
            content_type=self.string(k, "ContentType"),
            description=self.string(k, "Description"),
        )

    def status_header(self, mh: etree._Element, k: _Kids) -> StatusHeader | None:
        from_el = self.first(k, "From")
        rf_el = self.first(k, "ResponseFor")
        from_ = None if from_el is None else self.organization(from_el)
        rf = None if rf_el is None else self.response_for(rf_el)
        staff = self.staff_info(self.first(k, "StaffInfo"))
        code = self.status_code(k)
        description = self.string(k, "Description")
        timestamp = self.timestamp(k, "Timestamp")
        for name, value in (("From", from_), ("ResponseFor", rf)):
            if value is None:
                self.say(
                    Severity.ERROR,
                    element_path(mh) + "/" + name,
                    "EDXML-STATUS",
                    f"the status package has no {name}; it cannot be read — add {name} "
                    + (
                        "(the reporting agency)"
                        if name == "From"
                        else "(the document's sender and DocumentId)"
                    ),
                )
        if from_ is None or rf is None or code is None:
            return None
        return StatusHeader(
            from_=from_,
            response_for=rf,
            status_code=code,
            timestamp=timestamp,
            description=description,
            staff_info=staff,
        )

    def status_code(self, k: _Kids) -> StatusCode | None:
        el = self.first(k, "StatusCode")
        if el is None:  # not reached: a status is recognised by its StatusCode
            return None
        text = _text_of(el).strip()
        code = _STATUS_CODES.get(text)
        if code is not None:
            return code
        if text.isascii() and text.isdigit() and len(text) <= 3:
            code = _STATUS_CODES.get(f"{int(text):02d}")
            if code is not None:
                self.say(
                    Severity.WARNING,
                    element_path(el),
                    "EDXML-ENUM",
                    f"StatusCode {text!r} should be written with two digits: {code.value!r}",
                )
                return code
        legal = ", ".join(_STATUS_CODES)
        self.say(
            Severity.ERROR,
            element_path(el),
            "EDXML-ENUM",
            f"StatusCode {text[:40]!r} is not a known status code ({legal}); the status cannot be read",
        )
        return None


def _to_int(text: str) -> int | None:
    if not _INT.match(text):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        return None


def _offset(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _b64decode(text: str) -> tuple[bytes | None, str]:
    """Standard padded base64 (RFC 4648); whitespace (line-wrapped, MIME style) is tolerated."""
    return _tolerating_whitespace(_b64_strict, text)


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64check(text: str) -> tuple[str | None, str]:
    """What :func:`_b64decode` accepts, without decoding: the text to decode later (whitespace removed),
    or None and the problem. A table lookup per byte instead of CPython's decoder (~4× faster)."""
    return _tolerating_whitespace(_b64_syntax, text)


def _tolerating_whitespace(read: Callable[[str], tuple[_T | None, str]], text: str) -> tuple[_T | None, str]:
    value, problem = read(text)
    if value is None:
        compact = "".join(text.split())
        if compact != text:
            value, problem = read(compact)
    return value, problem


def _b64_syntax(text: str) -> tuple[str | None, str]:
    if len(text) % 4:
        return None, f"{len(text)} base64 characters, not a multiple of 4: truncated or badly padded"
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None, "Non-base64 digit found"
    core = raw.rstrip(b"=")
    if core.translate(None, _B64_ALPHABET):
        return None, "Non-base64 digit found"
    if len(raw) - len(core) > 2:
        return None, "Excess padding"
    return text, ""


def _b64_strict(text: str) -> tuple[bytes | None, str]:
    # b64decode(validate=True) is one C regex check of the alphabet plus the C decoder; with the length
    # check it is as strict as a2b_base64(strict_mode=True), and faster.
    if len(text) % 4:
        return None, f"{len(text)} base64 characters, not a multiple of 4: truncated or badly padded"
    try:
        return base64.b64decode(text, validate=True), ""
    except (binascii.Error, ValueError) as exc:
        return None, str(exc)


def _result(
    reader: _Reader,
    root: etree._Element,
    package: DocumentPackage | StatusPackage | None,
    kind: PackageKind | None,
) -> ParseResult:
    return ParseResult(package=package, diagnostics=reader.diags, root=root, kind=kind)


def parse_tree(root: etree._Element, *, decode_attachments: bool = True) -> ParseResult:
    """Read an already parsed tree (root ``edXML``). Never raises for bad content.

    ``decode_attachments=False`` checks each attachment's base64 without decoding it (same
    diagnostics); :attr:`Attachment.payload` decodes on first use.
    """
    tag = root.tag
    local = _local(tag)
    namespace = tag[1 : tag.index("}")] if isinstance(tag, str) and tag.startswith("{") else ""
    reader = _Reader(namespace, decode=decode_attachments)
    if local != "edXML":
        reader.say(
            Severity.ERROR,
            "/" + local,
            "EDXML-STRUCT",
            f"the root element is {local!r}, not 'edXML'; this is not an edXML package",
        )
        return _result(reader, root, None, None)
    reader.index(root)
    if namespace != NAMESPACE:
        reader.say(
            Severity.ERROR,
            "/edXML",
            "EDXML-NS",
            f"the root edXML is in {('namespace ' + repr(namespace)) if namespace else 'no namespace'}; "
            f'declare xmlns="{NAMESPACE}" (read anyway in the root\'s namespace)',
        )
    root_kids = reader.kids(root)
    envelope = _required_block(reader, root, root_kids, "edXMLEnvelope")
    if envelope is None:
        return _result(reader, root, None, None)
    env_kids = reader.kids(envelope)
    header = _required_block(reader, envelope, env_kids, "edXMLHeader")
    if header is None:
        return _result(reader, root, None, None)
    header_kids = reader.kids(header)
    mh = _required_block(reader, header, header_kids, "MessageHeader")
    if mh is None:
        return _result(reader, root, None, None)
    mh_kids = reader.kids(mh)

    markers = [n for n in _DOC_MARKERS_MH if n in mh_kids]
    markers += [n for n in ("edXMLBody",) if n in env_kids]
    markers += [n for n in ("AttachmentEncoded",) if n in root_kids]
    if "StatusCode" in mh_kids:
        if not markers:
            return _status(reader, root, mh, mh_kids, header_kids)
        reader.say(
            Severity.ERROR,
            element_path(mh_kids["StatusCode"][0]),
            "EDXML-STRUCT",
            f"the MessageHeader has a StatusCode but also document elements ({', '.join(markers)}); "
            "read as a document and the StatusCode ignored — send statuses as separate status packages",
        )
    return _document(reader, root, root_kids, env_kids, header_kids, mh, mh_kids)


def _required_block(reader: _Reader, parent: etree._Element, kids: _Kids, name: str) -> etree._Element | None:
    el = reader.first(kids, name)
    if el is None:
        reader.say(
            Severity.ERROR,
            element_path(parent) + "/" + name,
            "EDXML-STRUCT",
            f"{element_path(parent).rsplit('/', 1)[-1]} has no {name}; the package cannot be read — "
            "see the structure in QCVN 102 (edXML/edXMLEnvelope/edXMLHeader/MessageHeader)",
        )
    return el


def _status(
    reader: _Reader, root: etree._Element, mh: etree._Element, mh_kids: _Kids, header_kids: _Kids
) -> ParseResult:
    if "TraceHeaderList" in header_kids:
        reader.say(
            Severity.WARNING,
            element_path(header_kids["TraceHeaderList"][0]),
            "EDXML-STRUCT",
            "a status package carries a TraceHeaderList; it is ignored — a status holds only a MessageHeader",
        )
    header = reader.status_header(mh, mh_kids)
    return _result(reader, root, None if header is None else StatusPackage(header), "status")


def _document(
    reader: _Reader,
    root: etree._Element,
    root_kids: _Kids,
    env_kids: _Kids,
    header_kids: _Kids,
    mh: etree._Element,
    mh_kids: _Kids,
) -> ParseResult:
    header = reader.document_header(mh, mh_kids)
    trace_el = reader.first(header_kids, "TraceHeaderList")
    trace = None if trace_el is None else reader.trace(trace_el)
    version, refs = "1.0", list[ManifestReference]()
    body = reader.first(env_kids, "edXMLBody")
    body_kids: _Kids = {}
    if body is not None:
        body_kids = reader.kids(body)
        version, refs = reader.manifest(body)
    blocks = root_kids.get("AttachmentEncoded", [])
    if len(blocks) > 1:
        reader.say(
            Severity.WARNING,
            element_path(blocks[1]),
            "EDXML-STRUCT",
            f"AttachmentEncoded appears {len(blocks)} times; all are read — put every Attachment in one",
        )
    for misplaced in (*env_kids.get("AttachmentEncoded", ()), *body_kids.get("AttachmentEncoded", ())):
        reader.say(
            Severity.WARNING,
            element_path(misplaced),
            "EDXML-STRUCT",
            "AttachmentEncoded is inside the envelope; read anyway — it belongs directly under edXML",
        )
        blocks.append(misplaced)
    attachments = []
    for block in blocks:
        for att_el in reader.kids(block).get("Attachment", ()):
            att = reader.attachment(att_el)
            if att is not None:
                attachments.append(att)
    package = DocumentPackage(
        header=header, trace=trace, manifest=refs, attachments=attachments, manifest_version=version
    )
    return _result(reader, root, package, "document")


def parse(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    strip_junk: bool = True,
    decode_attachments: bool = True,
) -> ParseResult:
    """Parse edXML bytes. Never raises for bad input: problems come back as diagnostics.

    ``decode_attachments``: see :func:`parse_tree`."""
    diagnostics: list[Diagnostic] = []
    junk = 0
    if strip_junk:
        data, junk = strip_leading_junk(data)
        if junk:
            diagnostics.append(
                Diagnostic(
                    Severity.WARNING,
                    "/",
                    "EDXML-XML",
                    f"{junk} stray byte(s) before the XML were dropped; the file must start with "
                    "'<?xml' (or a UTF-8 byte order mark)",
                )
            )
    try:
        root = safe_fromstring(data, max_bytes=max_bytes)
    except UnsafeXmlError as exc:
        diagnostics.append(Diagnostic(Severity.ERROR, "/", "EDXML-XML", str(exc)))
        return ParseResult(package=None, diagnostics=diagnostics, junk_bytes=junk)
    result = parse_tree(root, decode_attachments=decode_attachments)
    result.diagnostics[:0] = diagnostics
    result.junk_bytes = junk
    return result


def parse_or_raise(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, strip_junk: bool = True
) -> DocumentPackage | StatusPackage:
    """Strict convenience: the package if :attr:`ParseResult.ok`, else :class:`EdxmlError`."""
    result = parse(data, max_bytes=max_bytes, strip_junk=strip_junk)
    if result.package is None or not result.ok:
        raise EdxmlError(result.diagnostics)
    return result.package
