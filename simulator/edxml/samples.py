"""Realistic sample packages: valid (strict) documents and status packages, and sized load corpora.

Everything comes from :mod:`simulator.edxml.fake`; a ``seed`` (or a seeded ``Faker``) together with
a fixed ``at`` gives the same package every time. Without ``at`` the package is dated now (Vietnam
time), which is what a hub checking clock skew expects.

Business operations (spec/edxml.md §4):

* ``NEW`` — a new document; with ``original_document_id`` it answers that document (ResponseFor).
* ``RECALL`` / ``UPDATE`` — the package reuses the original DocumentId (and its number, notation and
  date when the identifier is in the dated form); recall carries a reason, update a
  BussinessDocumentInfo announcing the last recipient as added.
* ``REPLACE`` — a new document whose ReplacementInfoList names the original, for every recipient.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence

from faker import Faker

from simulator.edxml.attachments import make_attachment
from simulator.edxml.builder import build
from simulator.edxml.fake import (
    EdxmlProvider,
    describe_agency,
    document_type_for_notation,
    edxml_provider,
    make_faker,
)
from simulator.edxml.identifiers import format_document_id, parse_document_id
from simulator.edxml.model import (
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
    StatusCode,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from simulator.edxml.vntime import now_vn, to_vn

__all__ = ["STATUS_DESCRIPTIONS", "sample_document", "sample_status", "sized_document"]

#: Default Description per status code (a reason where the code needs one: 02, 13, 16).
STATUS_DESCRIPTIONS: dict[StatusCode, str] = {
    StatusCode.ARRIVED: "Văn bản đã đến hệ thống quản lý văn bản và điều hành",
    StatusCode.REFUSED: "Văn bản không thuộc thẩm quyền giải quyết của cơ quan; đề nghị gửi đúng nơi nhận",
    StatusCode.ACCEPTED: "Đã tiếp nhận, vào sổ văn bản đến",
    StatusCode.ASSIGNED: "Đã phân công đơn vị chủ trì xử lý",
    StatusCode.IN_PROGRESS: "Đang xử lý",
    StatusCode.COMPLETED: "Đã hoàn thành xử lý văn bản",
    StatusCode.RECALL_REQUEST: "Văn bản có sai sót về thể thức; đề nghị thu hồi để ban hành lại",
    StatusCode.RECALL_AGREED: "Đồng ý thu hồi văn bản",
    StatusCode.RECALL_REFUSED: "Văn bản đã được xử lý xong, không thể thu hồi",
}
_RECALL_REASONS = (
    "Thu hồi do văn bản ban hành sai thể thức",
    "Thu hồi do gửi nhầm nơi nhận",
    "Thu hồi để đính chính nội dung trích yếu",
)
_UPDATE_REASON = "Cập nhật bổ sung nơi nhận và thông tin văn bản"
_REPLACE_REASON = "Thay thế văn bản đã ban hành do có sai sót về nội dung"
_MAX_RECIPIENT_TRIES = 200


def _ascii_notation(notation: str) -> str:
    decomposed = unicodedata.normalize("NFD", notation.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if ch.isascii() and (ch.isalnum() or ch == "-"))


def _distinct_recipients(p: EdxmlProvider, sender: Organization, count: int) -> list[Organization]:
    if count < 1:
        raise ValueError(f"a document needs at least one recipient (To), got recipients={count}")
    seen = {sender.organ_id}
    out: list[Organization] = []
    for _ in range(_MAX_RECIPIENT_TRIES * count):
        org = p.agency()
        if org.organ_id not in seen:
            seen.add(org.organ_id)
            out.append(org)
            if len(out) == count:
                return out
    raise ValueError(f"could not draw {count} distinct recipients from the simulated directory")


def _original_parts(
    p: EdxmlProvider, sender: Organization, original: str | None, when: dt.datetime
) -> tuple[str, Code, dt.date, DocumentType]:
    """The original document's id, code, date and type (generated when ``original`` is None)."""
    if original is None:
        date = (when - dt.timedelta(days=p.generator.random.randint(1, 20))).date()
        doc_type = p.document_type()
        code = Code(p.document_number(), p.document_notation(sender, doc_type))
        doc_id = format_document_id(sender.organ_id, date, code.code_number, code.code_notation)
        return doc_id, code, date, doc_type
    ident = parse_document_id(original, strict=False)
    if ident.notation:
        notation, doc_type = ident.notation, document_type_for_notation(ident.notation)
    else:
        doc_type = p.document_type()
        notation = p.document_notation(sender, doc_type)
    return original, Code(ident.sequence, notation), ident.date or when.date(), doc_type


def _attachments(
    p: EdxmlProvider,
    code: Code,
    count: int,
    size: int,
    files: Sequence[tuple[str, bytes]],
) -> tuple[list[ManifestReference], list[Attachment]]:
    if count < 0 or size < 0:
        raise ValueError(f"attachments and attachment_size must be 0 or more, got {count} and {size}")
    # (name, data, description, compress): the generated PDF-like payloads are incompressible, so they
    # are stored in the ZIP (as fast as the official builder's output is valid); given files are deflated.
    named: list[tuple[str, bytes, str, bool]] = []
    for i in range(count):
        if i == 0:
            name = f"{code.code_number}_{_ascii_notation(code.code_notation)}.pdf"
            named.append((name, p.attachment_bytes(size), "Văn bản chính", False))
        else:
            named.append((f"Phu_luc_{i:02d}.pdf", p.attachment_bytes(size), f"Phụ lục {i}", False))
    named += [(name, data, "Tài liệu gửi kèm", True) for name, data in files]
    refs: list[ManifestReference] = []
    atts: list[Attachment] = []
    for index, (name, data, description, compress) in enumerate(named, start=1):
        inner = "application/pdf" if name.lower().endswith(".pdf") else None
        ref, att = make_attachment(
            index, name, data, description=description, inner_content_type=inner, compress=compress
        )
        refs.append(ref)
        atts.append(att)
    return refs, atts


def _business(
    p: EdxmlProvider,
    kind: BusinessDocType,
    document_id: str,
    original_id: str | None,
    sender: Organization,
    to: list[Organization],
) -> Business:
    business = Business(document_id=document_id, business_doc_type=kind, paper=0, staff_info=p.staff(sender))
    if kind is BusinessDocType.RECALL:
        business.business_doc_reason = p.generator.random.choice(_RECALL_REASONS)
    elif kind is BusinessDocType.UPDATE:
        business.business_doc_reason = _UPDATE_REASON
        business.document_info = BusinessDocumentInfo(
            document_info=True,
            document_receiver=True,
            receivers=[ReceiverChange(to[-1].organ_id, ReceiverType.ADDED)],
        )
    elif kind is BusinessDocType.REPLACE:
        assert original_id is not None
        business.business_doc_reason = _REPLACE_REASON
        business.replacements = [ReplacementInfo(original_id, [o.organ_id for o in to])]
    return business


def sample_document(
    fake: Faker | None = None,
    *,
    seed: int | None = None,
    sender: Organization | None = None,
    recipients: int | list[Organization] = 3,
    priority: Priority | None = None,
    attachments: int = 1,
    attachment_size: int = 40_000,
    business: BusinessDocType = BusinessDocType.NEW,
    original_document_id: str | None = None,
    at: dt.datetime | None = None,
    files: Sequence[tuple[str, bytes]] = (),
    number: str | None = None,
) -> DocumentPackage:
    """A realistic document package that passes strict validation.

    ``fake`` (or a fresh one seeded with ``seed``) draws everything not given. ``recipients`` is a
    count of distinct generated agencies or the list itself; ``files`` are extra ``(name, bytes)``
    attachments after the ``attachments`` generated PDF-like ones of ``attachment_size`` bytes.
    ``at`` (default now) is the promulgation day and the sender's TraceHeader time. ``number``: the
    document's CodeNumber (its sequence number, digits) for a new or replacing document; drawn when None.
    """
    f = fake if fake is not None else make_faker(seed)
    p = edxml_provider(f)
    business = BusinessDocType(business)
    when = to_vn(at) if at is not None else now_vn()
    if sender is None:
        sender = p.agency()
    to = list(recipients) if isinstance(recipients, list) else _distinct_recipients(p, sender, recipients)
    if not to:
        raise ValueError("a document needs at least one recipient (To)")

    response_for: list[ResponseFor] = []
    original_id: str | None = None
    if business is BusinessDocType.NEW:
        doc_type = p.document_type()
        code = Code(number or p.document_number(), p.document_notation(sender, doc_type))
        date = when.date()
        document_id = format_document_id(sender.organ_id, date, code.code_number, code.code_notation)
        if original_document_id is not None:  # a new document answering another one
            ident = parse_document_id(original_document_id, strict=False)
            response_for.append(
                ResponseFor(
                    ident.agency, original_document_id, ident.number if ident.notation else None, ident.date
                )
            )
    elif business is BusinessDocType.REPLACE:
        original_id = _original_parts(p, sender, original_document_id, when)[0]
        doc_type = p.document_type()
        code = Code(number or p.document_number(), p.document_notation(sender, doc_type))
        date = when.date()
        document_id = format_document_id(sender.organ_id, date, code.code_number, code.code_notation)
    else:  # RECALL, UPDATE: the same document again
        document_id, code, date, doc_type = _original_parts(p, sender, original_document_id, when)
        original_id = document_id

    signer = p.signer(sender)
    rnd = p.generator.random
    due = date + dt.timedelta(days=rnd.randint(7, 30)) if rnd.random() < 0.3 else None
    staff = p.staff(sender)
    typer = "".join(w[0] for w in (staff.staff or "X").split())
    info = describe_agency(sender.organ_id)
    place_info = info.place if info is not None else "Hà Nội"
    header = DocumentHeader(
        from_=sender,
        to=to,
        document_id=document_id,
        subject=p.subject(),
        code=code,
        promulgation_info=PromulgationInfo(place=place_info, promulgation_date=date),
        document_type=doc_type,
        signer_info=signer,
        due_date=due,
        other_info=OtherInfo(
            priority=priority if priority is not None else p.priority(),
            typer_notation=typer,
            promulgation_amount=len(to) + 2,
            page_amount=p.generator.random.randint(1, 12),
        ),
        response_for=response_for,
        to_places=["Như trên", f"Lưu: VT, {code.code_notation.rsplit('-', 1)[-1]}"],
    )
    refs, atts = _attachments(p, code, attachments, attachment_size, files)
    trace = TraceHeaderList(
        trace_headers=[TraceHeader(timestamp=when, organ_id=sender.organ_id)],
        business=_business(p, business, document_id, original_id, sender, to),
    )
    return DocumentPackage(header=header, trace=trace, manifest=refs, attachments=atts)


def sample_status(
    document: DocumentPackage,
    code: StatusCode,
    *,
    reporter: Organization | None = None,
    description: str | None = None,
    at: dt.datetime | None = None,
    fake: Faker | None = None,
    seed: int | None = None,
) -> StatusPackage:
    """A status package answering ``document``: ResponseFor names its sender, id, code and date.

    ``reporter`` defaults to the first recipient, or to the sender for 13 (the sender's recall
    request). ``description`` defaults to a plain Vietnamese note, a reason for 02, 13 and 16.
    """
    code = StatusCode(code)
    h = document.header
    if reporter is None:
        if code.sent_by_sender:
            reporter = h.from_
        elif h.to:
            reporter = h.to[0]
        else:
            raise ValueError("the document has no recipient (To) to report a status; pass reporter=")
    p = edxml_provider(fake if fake is not None else make_faker(seed))
    promulgated = h.promulgation_info.promulgation_date if h.promulgation_info else None
    response_for = ResponseFor(
        organ_id=h.from_.organ_id,
        document_id=h.document_id,
        code=str(h.code) if h.code is not None else None,
        promulgation_date=promulgated,
    )
    return StatusPackage(
        StatusHeader(
            from_=reporter,
            response_for=response_for,
            status_code=code,
            timestamp=to_vn(at) if at is not None else now_vn(),
            description=description if description is not None else STATUS_DESCRIPTIONS[code],
            staff_info=p.staff(reporter),
        )
    )


def sized_document(
    target_bytes: int,
    *,
    seed: int | None = 0,
    recipients: int = 3,
    at: dt.datetime | None = None,
) -> DocumentPackage:
    """A valid document whose built (unsigned) size is about ``target_bytes`` (within 1 %, or a few
    bytes for small targets), made of one incompressible attachment sized to fit.

    Targets below the size of the package with an empty attachment give that smallest package.
    """
    if target_bytes <= 0:
        raise ValueError(f"target_bytes must be positive, got {target_bytes}")
    when = to_vn(at) if at is not None else now_vn()

    def make(size: int) -> DocumentPackage:
        return sample_document(seed=seed, recipients=recipients, attachment_size=size, at=when)

    def built(size: int) -> int:
        return len(build(make(size)))

    s0, s1 = 0, 3000
    b0, b1 = built(s0), built(s1)
    if target_bytes <= b0:
        return make(0)
    slope = (b1 - b0) / (s1 - s0)
    size = max(int((target_bytes - b0) / slope), 0)
    got = built(size)  # one correction step absorbs rounding in the base64 and ZIP framing
    size = max(size + int((target_bytes - got) / slope), 0)
    return make(size)
