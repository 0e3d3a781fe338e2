"""The packages the reference QLVB writes: documents, recall/update/replace packages, status packages.

:class:`Composer` holds what a QLVB needs to write a package for one of its agencies — the agencies'
:class:`Organization` records, a clerk (StaffInfo) per agency, signing certificates issued from the test
CA on first use, a document number sequence per agency, and realistic metadata from the faker provider
— and the clock to stamp with. Every package is strict edXML (spec/edxml.md): DocumentId
``<agency>,<yyyy/MM/dd>,<number>/<notation>``, Priority, SignerInfo, the sender's TraceHeader and a
Bussiness block; signed with RSA-SHA256 and exclusive C14N.

The defects that change what the QLVB writes (``sends-unsigned``, ``signs-sha1``,
``malformed-agency-codes``, ``bad-document-id``, ``drops-priority``, ``omits-signer``,
``invalid-edxml``, ``duplicate-to``, ``sends-late``, ``wrong-business-type``) are decided here. Bad
input raises ``ValueError`` with a sentence naming the field and the requirement.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable, Collection, Mapping, Sequence

from faker import Faker

from simulator.edxml.attachments import make_attachment, unwrap
from simulator.edxml.builder import build
from simulator.edxml.fake import describe_agency, edxml_provider, make_faker
from simulator.edxml.identifiers import IdentifierError, format_document_id, parse_document_id
from simulator.edxml.model import (
    Business,
    BusinessDocType,
    Code,
    DocumentHeader,
    DocumentPackage,
    DocumentType,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
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
from simulator.pki.ca import Credential, TestCA
from simulator.pki.dsig import SignatureAlgorithm, sign
from simulator.sut.driver import AttachmentDigest, OutgoingDocument

__all__ = ["Composer", "attachment_digests"]

_FAKER: Faker | None = None
_FAKER_LOCK = threading.Lock()
_LATE = dt.timedelta(days=3)


def _shared_faker() -> Faker:
    """One Faker for every unseeded composer of the process (building one costs ~50 ms); it is only
    used under ``_FAKER_LOCK``."""
    global _FAKER
    with _FAKER_LOCK:
        if _FAKER is None:
            _FAKER = make_faker(None)
        return _FAKER


def attachment_digests(pkg: DocumentPackage) -> tuple[AttachmentDigest, ...]:
    """Name, SHA-256 and size of each file the package carries (inside the ZIP for the official form)."""
    out: list[AttachmentDigest] = []
    for att in pkg.attachments:
        f = unwrap(att)
        out.append(AttachmentDigest(f.name, f.sha256, len(f.data)))
    return tuple(out)


class Composer:
    """Writes packages for the agencies in ``orgs`` (see the module docstring). Not thread-safe on its
    own: the engine calls it under its lock (the shared faker has a lock of its own)."""

    def __init__(
        self,
        orgs: Mapping[str, Organization],
        ca: TestCA,
        *,
        defects: Collection[str],
        stamp: Callable[[], dt.datetime],
        directory: Callable[[], Mapping[str, Organization]],
        credential_suffix: str,
        seed: int | None = None,
    ) -> None:
        """``stamp``: the time to write (hub time, Vietnam time); ``directory``: the hub's agency directory
        (asked once, for recipients' names); ``credential_suffix``: makes a credential name unique when
        ``qlvb-<agency>`` already exists in the CA with other parameters."""
        self.orgs = orgs
        self.ca = ca
        self.defects = frozenset(defects)
        self._stamp = stamp
        self._directory_source = directory
        self._directory: Mapping[str, Organization] | None = None
        self._suffix = credential_suffix
        self._fake: Faker = make_faker(seed) if seed is not None else _shared_faker()
        self._fake_lock = threading.Lock() if seed is not None else _FAKER_LOCK
        self._provider = edxml_provider(self._fake)
        self._credentials: dict[str, Credential] = {}
        self._staff: dict[str, StaffInfo] = {}
        self._numbers: dict[str, int] = {}

    # ------------------------------------------------------------------ who writes
    def staff_of(self, agency: str) -> StaffInfo:
        if agency not in self._staff:
            with self._fake_lock:
                self._staff[agency] = self._provider.staff(self.orgs[agency])
        return self._staff[agency]

    def credential(self, agency: str) -> Credential:
        """The agency's signing credential, issued from the test CA on first use and cached."""
        cred = self._credentials.get(agency)
        if cred is None:
            name = f"qlvb-{agency}"
            try:
                cred = self.ca.issue(name, organ_id=agency, common_name=f"Văn thư {agency}")
            except ValueError:  # the name exists with other parameters (another tool issued it)
                org = self.orgs[agency]
                cred = self.ca.issue(
                    f"{name}-{self._suffix}", organ_id=agency, common_name=org.organ_name or agency
                )
            self._credentials[agency] = cred
        return cred

    def org(self, code: str) -> Organization:
        """The Organization for an agency code: its own, the hub directory's, else a generated name."""
        if code in self.orgs:
            return self.orgs[code]
        if self._directory is None:
            self._directory = self._directory_source()
        found = self._directory.get(code)
        if found is not None:
            return copy.copy(found)
        with self._fake_lock:
            return self._provider.agency_for(code)

    # ------------------------------------------------------------------ documents
    def _identity(self, org: Organization, when: dt.datetime) -> tuple[str, Code, dt.date, DocumentType]:
        """A fresh DocumentId, code, date and type for a document of ``org`` promulgated at ``when``."""
        agency = org.organ_id
        number = self._numbers.get(agency)
        with self._fake_lock:
            number = self._fake.random.randint(100, 900) if number is None else number + 1
            doc_type = self._provider.document_type()
            notation = self._provider.document_notation(org, doc_type)
        self._numbers[agency] = number
        code = Code(str(number), notation)
        date = when.date()
        if "bad-document-id" in self.defects:
            document_id = f"{agency},{code}"
        else:
            document_id = format_document_id(agency, date, number, notation)
        return document_id, code, date, doc_type

    def _signer(self, org: Organization) -> SignerInfo | None:
        if "omits-signer" in self.defects:
            return None
        with self._fake_lock:
            return self._provider.signer(org)

    def _trace_code(self, agency: str) -> str:
        if "malformed-agency-codes" in self.defects:
            return f"vxp.saas.{list(self.orgs).index(agency) + 1:02d}"
        return agency

    def _business(self, agency: str, document_id: str, kind: BusinessDocType, reason: str | None) -> Business:
        if "wrong-business-type" in self.defects:
            kind = BusinessDocType.NEW
        return Business(
            document_id=document_id,
            business_doc_type=kind,
            business_doc_reason=reason,
            paper=0,
            staff_info=self.staff_of(agency),
        )

    @staticmethod
    def response_for(document_id: str) -> ResponseFor:
        """ResponseFor naming the document ``document_id`` answers (ValueError when unreadable)."""
        try:
            ident = parse_document_id(document_id, strict=False)
        except IdentifierError as exc:
            raise ValueError(f"response_for: {exc.message} [{exc.requirement}]") from None
        return ResponseFor(ident.agency, document_id, ident.number if ident.notation else None, ident.date)

    def document(
        self,
        document: OutgoingDocument,
        kind: BusinessDocType = BusinessDocType.NEW,
        *,
        reason: str | None = None,
        replaces: tuple[str, Sequence[str]] | None = None,
    ) -> DocumentPackage:
        """A new document (or a replacement of ``replaces`` = (DocumentId, its recipients))."""
        org = self.orgs[document.from_]
        when = self._stamp()
        if "sends-late" in self.defects:
            when -= _LATE
        document_id, code, date, doc_type = self._identity(org, when)
        to = [self.org(c) for c in document.to]
        if "duplicate-to" in self.defects and to:
            to.append(self.org(document.to[0]))  # the first recipient listed again
        refs, atts = [], []
        for i, spec in enumerate(document.attachments, start=1):
            ref, att = make_attachment(i, spec.name, spec.data, inner_content_type=spec.content_type)
            refs.append(ref)
            atts.append(att)
        response_for = [self.response_for(document.response_for)] if document.response_for else []
        business = self._business(org.organ_id, document_id, kind, reason)
        if business.business_doc_type is BusinessDocType.REPLACE and replaces is not None:
            business.replacements = [ReplacementInfo(replaces[0], list(replaces[1]))]
        info = describe_agency(org.organ_id)
        header = DocumentHeader(
            from_=org,
            to=to,
            document_id=document_id,
            subject=document.subject,
            code=code,
            promulgation_info=PromulgationInfo(
                place=info.place if info is not None else "Hà Nội", promulgation_date=date
            ),
            document_type=doc_type,
            signer_info=self._signer(org),
            other_info=OtherInfo(
                priority=None if "drops-priority" in self.defects else Priority(document.priority),
                promulgation_amount=len(to) + 1,
                page_amount=1,
            ),
            response_for=response_for,
            steering_type=7 if "invalid-edxml" in self.defects else None,
            to_places=["Như trên", "Lưu: VT"],
        )
        trace = TraceHeaderList(
            trace_headers=[TraceHeader(timestamp=when, organ_id=self._trace_code(org.organ_id))],
            business=business,
        )
        return DocumentPackage(header=header, trace=trace, manifest=refs, attachments=atts)

    def derived(self, original: DocumentPackage, kind: BusinessDocType, reason: str) -> DocumentPackage:
        """``original`` again as a recall/update package: same DocumentId, no attachments, a new hop."""
        pkg = copy.deepcopy(original)
        pkg.manifest = []
        pkg.attachments = []
        agency = pkg.header.from_.organ_id
        pkg.trace = TraceHeaderList(
            trace_headers=[TraceHeader(timestamp=self._stamp(), organ_id=self._trace_code(agency))],
            business=self._business(agency, pkg.header.document_id, kind, reason),
        )
        return pkg

    def seal(self, pkg: DocumentPackage, sign_it: bool = True) -> bytes:
        """The package bytes, signed with the sending agency's certificate (unless ``sign_it`` is False)."""
        data = build(pkg)
        if not sign_it or "sends-unsigned" in self.defects:
            return data
        algorithm = SignatureAlgorithm.RSA_SHA1 if "signs-sha1" in self.defects else None
        return sign(data, self.credential(pkg.header.from_.organ_id), algorithm=algorithm)

    def signs(self, sign_it: bool) -> bool:
        """Whether :meth:`seal` signs."""
        return sign_it and "sends-unsigned" not in self.defects

    # ------------------------------------------------------------------ statuses
    def status(
        self,
        agency: str,
        response_for: ResponseFor,
        code: StatusCode,
        description: str,
    ) -> StatusPackage:
        """A status package from ``agency`` about the document ``response_for`` names."""
        return StatusPackage(
            StatusHeader(
                from_=self.orgs[agency],
                response_for=response_for,
                status_code=code,
                timestamp=self._stamp(),
                description=description,
                staff_info=self.staff_of(agency),
            )
        )

    def seal_status(self, status: StatusPackage, sign_it: bool) -> bytes:
        data = build(status)
        return sign(data, self.credential(status.header.from_.organ_id)) if sign_it else data
