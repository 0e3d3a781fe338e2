"""Build edXML bytes from the typed model (spec/edxml.md §1–§4).

Namespace layout, exactly as the official builder emits it::

    <edXML xmlns="…QCVN_102_2016">                              default namespace, no prefix
      <edXML:edXMLEnvelope xmlns:edXML="…QCVN_102_2016">        re-declared under the prefix edXML
        <edXML:edXMLHeader><edXML:MessageHeader>…               everything inside: edXML: prefix
      </edXML:edXMLEnvelope>
      <AttachmentEncoded><Attachment>…                          outside the envelope: no prefix

Element order is the order of spec/edxml.md; optional ``None`` fields are omitted, empty strings
are kept as empty elements. Dates are ``yyyy/MM/dd``, timestamps ``yyyy/MM/dd HH:mm:ss`` in Vietnam
time, booleans ``true``/``false``, and Paper/DocumentInfo/DocumentReceiver ``0``/``1``.

No signature here: ``simulator.pki`` signs the tree from :func:`build_tree` (it inserts
``ds:Signature`` after TraceHeaderList, or after MessageHeader for a status) and serialises it with
:func:`serialize`.
"""

from __future__ import annotations

import binascii
import datetime as dt

from lxml import etree

from simulator.edxml.diagnostics import Diagnostic, EdxmlError, Severity
from simulator.edxml.model import (
    NAMESPACE,
    Attachment,
    Business,
    DocumentHeader,
    DocumentPackage,
    ManifestReference,
    Organization,
    OtherInfo,
    ResponseFor,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeaderList,
)
from simulator.edxml.parser import element_path
from simulator.edxml.vntime import format_date, format_timestamp

__all__ = ["XML_DECLARATION", "build", "build_tree", "serialize"]

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
_E = "{" + NAMESPACE + "}"


def _fail(el: etree._Element, value: object, what: str) -> EdxmlError:
    path = element_path(el)
    return EdxmlError(
        [
            Diagnostic(
                Severity.ERROR,
                path,
                "EDXML-XML",
                f"cannot build {path}: {value!r} {what}",
            )
        ]
    )


def _sub(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, _E + name)


def _text(parent: etree._Element, name: str, value: str | None) -> None:
    if value is None:
        return
    el = etree.SubElement(parent, _E + name)
    try:
        el.text = value
    except (ValueError, TypeError):
        raise _fail(
            el,
            value,
            "holds characters XML 1.0 cannot carry (NUL, control characters other than tab/newline/"
            "carriage return, lone surrogates, U+FFFE/U+FFFF); remove them",
        ) from None


def _int(parent: etree._Element, name: str, value: int | None) -> None:
    if value is not None:
        _text(parent, name, str(int(value)))


def _date(parent: etree._Element, name: str, value: dt.date | None) -> None:
    if value is not None:
        _text(parent, name, format_date(value))


def _timestamp(parent: etree._Element, name: str, value: dt.datetime | None) -> None:
    if value is not None:
        _text(parent, name, format_timestamp(value))


def _bool01(parent: etree._Element, name: str, value: bool) -> None:
    _text(parent, name, "1" if value else "0")


def _organization(parent: etree._Element, name: str, org: Organization) -> None:
    el = _sub(parent, name)
    _text(el, "OrganId", org.organ_id)
    _text(el, "OrganizationInCharge", org.organization_in_charge)
    _text(el, "OrganName", org.organ_name)
    _text(el, "OrganAdd", org.organ_add)
    _text(el, "Email", org.email)
    _text(el, "Telephone", org.telephone)
    _text(el, "Fax", org.fax)
    _text(el, "Website", org.website)


def _response_for(parent: etree._Element, rf: ResponseFor) -> None:
    el = _sub(parent, "ResponseFor")
    _text(el, "OrganId", rf.organ_id)
    _text(el, "Code", rf.code)
    _date(el, "PromulgationDate", rf.promulgation_date)
    _text(el, "DocumentId", rf.document_id)


def _staff_info(parent: etree._Element, staff: StaffInfo | None, *, status: bool) -> None:
    if staff is None:
        return
    el = _sub(parent, "StaffInfo")
    _text(el, "Department", staff.department)
    _text(el, "Staff", staff.staff)
    if status:  # spec §3 order
        _text(el, "Mobile", staff.mobile)
        _text(el, "Email", staff.email)
    else:  # spec §4 order
        _text(el, "Email", staff.email)
        _text(el, "Mobile", staff.mobile)


def _other_info(parent: etree._Element, info: OtherInfo) -> None:
    el = _sub(parent, "OtherInfo")
    _int(el, "Priority", info.priority)
    _text(el, "SphereOfPromulgation", info.sphere_of_promulgation)
    _text(el, "TyperNotation", info.typer_notation)
    _int(el, "PromulgationAmount", info.promulgation_amount)
    _int(el, "PageAmount", info.page_amount)
    if info.direction is not None:
        _text(el, "Direction", "true" if info.direction else "false")
    if info.appendixes:
        apps = _sub(el, "Appendixes")
        for appendix in info.appendixes:
            _text(apps, "Appendix", appendix.text)


def _document_header(header_el: etree._Element, h: DocumentHeader) -> None:
    mh = _sub(header_el, "MessageHeader")
    _organization(mh, "From", h.from_)
    for to in h.to:
        _organization(mh, "To", to)
    _text(mh, "DocumentId", h.document_id)
    if h.code is not None:
        code = _sub(mh, "Code")
        _text(code, "CodeNumber", h.code.code_number)
        _text(code, "CodeNotation", h.code.code_notation)
    if h.promulgation_info is not None:
        pi = _sub(mh, "PromulgationInfo")
        _text(pi, "Place", h.promulgation_info.place)
        _date(pi, "PromulgationDate", h.promulgation_info.promulgation_date)
    if h.document_type is not None:
        dtype = _sub(mh, "DocumentType")
        _int(dtype, "Type", h.document_type.type)
        _int(dtype, "TypeDetail", h.document_type.type_detail)
        _text(dtype, "TypeName", h.document_type.type_name)
    _text(mh, "Subject", h.subject)
    _text(mh, "Content", h.content)
    if h.signer_info is not None:
        si = _sub(mh, "SignerInfo")
        _text(si, "Competence", h.signer_info.competence)
        _text(si, "Position", h.signer_info.position)
        _text(si, "FullName", h.signer_info.full_name)
    _date(mh, "DueDate", h.due_date)
    if h.other_info is not None:
        _other_info(mh, h.other_info)
    for rf in h.response_for:
        _response_for(mh, rf)
    _int(mh, "SteeringType", h.steering_type)
    if h.to_places:
        places = _sub(mh, "ToPlaces")
        for place in h.to_places:
            _text(places, "Place", place)


def _business(parent: etree._Element, b: Business) -> None:
    el = _sub(parent, "Bussiness")
    _text(el, "DocumentId", b.document_id)
    _int(el, "BussinessDocType", b.business_doc_type)
    _text(el, "BussinessDocReason", b.business_doc_reason)
    _int(el, "Paper", b.paper)
    _staff_info(el, b.staff_info, status=False)
    if b.document_info is not None:
        info = _sub(el, "BussinessDocumentInfo")
        _bool01(info, "DocumentInfo", b.document_info.document_info)
        _bool01(info, "DocumentReceiver", b.document_info.document_receiver)
        if b.document_info.receivers:
            rl = _sub(info, "ReceiverList")
            for rc in b.document_info.receivers:
                rec = _sub(rl, "Receiver")
                _text(rec, "OrganId", rc.organ_id)
                _int(rec, "ReceiverType", rc.receiver_type)
    if b.replacements:
        ril = _sub(el, "ReplacementInfoList")
        for rep in b.replacements:
            ri = _sub(ril, "ReplacementInfo")
            _text(ri, "DocumentId", rep.document_id)
            if rep.organ_ids:
                oil = _sub(ri, "OrganIdList")
                for organ_id in rep.organ_ids:
                    _text(oil, "OrganId", organ_id)


def _trace(header_el: etree._Element, trace: TraceHeaderList) -> None:
    el = _sub(header_el, "TraceHeaderList")
    for key, value in trace.attributes.items():
        try:
            el.set(key, value)
        except (ValueError, TypeError):
            problem = "is not a legal XML attribute; fix its name or value"
            raise _fail(el, f"{key}={value!r}", problem) from None
    for th in trace.trace_headers:
        hop = _sub(el, "TraceHeader")
        _text(hop, "OrganId", th.organ_id)
        _timestamp(hop, "Timestamp", th.timestamp)
    if trace.business is not None:
        _business(el, trace.business)


def _manifest(envelope: etree._Element, version: str, refs: list[ManifestReference]) -> None:
    body = _sub(envelope, "edXMLBody")
    manifest = _sub(body, "edXMLManifest")
    manifest.set("version", version)
    for ref in refs:
        el = _sub(manifest, "Reference")
        _text(el, "ContentId", ref.content_id)
        _text(el, "ContentType", ref.content_type)
        _text(el, "Description", ref.description)
        _text(el, "AttachmentName", ref.attachment_name)


def _attachments(root: etree._Element, attachments: list[Attachment]) -> None:
    encoded = _sub(root, "AttachmentEncoded")
    for att in attachments:
        el = _sub(encoded, "Attachment")
        _text(el, "ContentId", att.content_id)
        _text(el, "AttachmentName", att.attachment_name)
        _text(el, "Description", att.description)
        _text(el, "ContentType", att.content_type)
        data = _sub(el, "ContentTransferEncoded")
        # One pass, no line breaks; lxml takes the ASCII bytes without an extra str copy.
        data.text = binascii.b2a_base64(att.payload, newline=False)  # type: ignore[assignment]


def build_tree(package: DocumentPackage | StatusPackage) -> etree._Element:
    """The package as an lxml tree (root ``edXML``), ready to sign or serialise."""
    root = etree.Element(_E + "edXML", nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    envelope = etree.SubElement(root, _E + "edXMLEnvelope", nsmap={"edXML": NAMESPACE})
    header = _sub(envelope, "edXMLHeader")
    if isinstance(package, StatusPackage):
        _status_header(header, package.header)
        return root
    if not isinstance(package, DocumentPackage):
        raise TypeError(f"build() takes a DocumentPackage or StatusPackage, not {type(package).__name__}")
    _document_header(header, package.header)
    if package.trace is not None:
        _trace(header, package.trace)
    _manifest(envelope, package.manifest_version, package.manifest)
    _attachments(root, package.attachments)
    return root


def _status_header(header_el: etree._Element, h: StatusHeader) -> None:
    mh = _sub(header_el, "MessageHeader")
    _organization(mh, "From", h.from_)
    _response_for(mh, h.response_for)
    _staff_info(mh, h.staff_info, status=True)
    _text(mh, "StatusCode", h.status_code.value)
    _text(mh, "Description", h.description)
    _timestamp(mh, "Timestamp", h.timestamp)


def serialize(root: etree._Element, *, pretty: bool = False) -> bytes:
    """UTF-8 bytes with the declaration ``<?xml version="1.0" encoding="UTF-8"?>``."""
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=pretty)
    return XML_DECLARATION + (b"\n" if pretty else b"") + body


def build(package: DocumentPackage | StatusPackage, *, pretty: bool = False) -> bytes:
    """The package as edXML bytes (UTF-8, with XML declaration, unsigned)."""
    return serialize(build_tree(package), pretty=pretty)
