"""sendEdoc's pipeline: hash check → parse → validate → verify by policy → route → commit.

:meth:`Intake.send` either returns the DocId of a package that is committed (package bytes, one
delivery per recipient, status history rows and the evidence row in one transaction), or raises
:class:`~simulator.hub.envelope.HubError` with nothing stored. The DocId is only known to the caller
after the commit returned.

The hub's trace hop. spec/edxml.md §4 says the hub appends its own TraceHeader when it accepts a
package. The sender's XML-DSig signature is enveloped with ``Reference URI=""``: it covers the whole
document except the Signature element itself, TraceHeaderList included. Re-serialising the package with
an extra TraceHeader would therefore break every valid signature, and recipients must be able to
verify the sender's signature (QD28-6.1; the real hubs that appended the hop did not verify, and
neither did most receivers). So the hub **stores and delivers the bytes exactly as received** (only
stray bytes before ``<?xml`` are dropped in lenient mode; they are outside the signed XML) and records
its hop beside them: ``PackageRecord.hub_organ_id`` / ``received_at`` and the evidence row's
``detail.hub_trace``. Delivery lists show the hop's time as ``created_time``.

Policies (:class:`simulator.hub.config.Policies`, runtime-changeable):

* ``validation="lenient"``: the package is delivered whatever the validator says, so that the
  conformance suite can hand broken packages to a system under test (which must refuse them,
  QD28-9.1); the diagnostics become findings. Only what makes routing impossible is refused: not XML,
  no package model, messagetype contradicting the package, a sender the caller does not host, unknown
  recipients. ``"strict"``: any validator or parser ERROR refuses the package, leading junk is not
  stripped, a zero-padded ``hash-file`` is refused.
* ``signature``: ``off`` skips verification; ``warn`` records a failed verification as a finding and
  accepts; ``enforce`` refuses it. Unsigned status packages are accepted under every policy (the
  samples carry none) and noted as INFO.
* ``duplicates``: the same bytes (SHA-256) from the same sender agency to the same recipients are a
  duplicate — ``deliver`` records it (VXP-DUP) and delivers again, ``refuse`` answers 409. Packages
  that differ only in their ``to`` routing are not duplicates (QLVBs send one package per recipient).
* ``status_order``: an illegal status transition is routed and recorded (``record``) or refused
  (``refuse``, 409).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from lxml import etree

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.model import DocumentPackage, StatusPackage
from simulator.edxml.parser import ParseResult, parse
from simulator.edxml.validator import Mode, validate
from simulator.edxml.vntime import format_timestamp
from simulator.hub.auth import Params
from simulator.hub.config import Policies
from simulator.hub.envelope import ErrorCode, HubError
from simulator.hub.evidence import record
from simulator.hub.routing import RoutePlan, parse_to_header, plan_document, plan_status
from simulator.hub.store import AgencyRecord, DeliveryRecord, PackageRecord, StatusEvent, Store, StoreTxn

__all__ = ["Intake", "IntakeResult", "VerifierLike", "sdk_hex", "strip_crlf"]

_log = logging.getLogger(__name__)
_LENIENT_SKIP = frozenset({"attachment-payload"})
_BODY_PATH = "/"


class _VerifyResultLike(Protocol):
    ok: bool
    message: str
    requirement: str

    @property
    def failure(self) -> Any: ...

    @property
    def signer_subject(self) -> str | None: ...


class VerifierLike(Protocol):
    def verify(self, data: bytes | etree._Element) -> Any: ...


@dataclass(slots=True)
class IntakeResult:
    doc_id: str
    sha256: str
    recipients: list[str]
    delivery_ids: list[str]
    duplicate_of: str | None = None
    findings: list[Diagnostic] = field(default_factory=list)


_UNPADDED_HEX = tuple(format(b, "x") for b in range(256))


def sdk_hex(digest: bytes) -> str:
    """The SDK's unpadded lowercase hex of a digest (``0x0a`` → ``a``)."""
    return "".join(map(_UNPADDED_HEX.__getitem__, digest))


def strip_crlf(body: bytes) -> bytes:
    """The package bytes: the body without the one CRLF the SDK appends (bodies without it are accepted)."""
    return body[:-2] if body.endswith(b"\r\n") else body


def _default_verifier_factory(data_dir: Path) -> Callable[[], VerifierLike]:
    def make() -> VerifierLike:
        from simulator.pki.ca import TestCA
        from simulator.pki.dsig import SignaturePolicy, Verifier

        trust = TestCA.open(data_dir / "pki").trust_store()
        # The hub reads only the verdict (not the verified tree) and hands over the tree its parser built,
        # used by this request's thread alone: verified where it is, no copy, no re-parse.
        return Verifier(trust, SignaturePolicy(), engine="fast", keep_signed_root=False, in_place=True)

    return make


class Intake:
    """The sendEdoc pipeline of one worker process (verifier and trust store loaded once, lazily)."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Callable[[], dt.datetime],
        hub_organ_id: str,
        max_package_bytes: int,
        data_dir: Path,
        verifier_factory: Callable[[], VerifierLike] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._hub_organ_id = hub_organ_id
        self._max = max_package_bytes
        self._verifier_factory = verifier_factory or _default_verifier_factory(data_dir)
        self._verifier: VerifierLike | None = None

    @property
    def max_package_bytes(self) -> int:
        return self._max

    def verifier(self) -> VerifierLike:
        if self._verifier is None:
            self._verifier = self._verifier_factory()
        return self._verifier

    # ------------------------------------------------------------------------------------------
    def send(
        self,
        system_id: str,
        params: Params,
        body: bytes,
        policies: Policies,
        findings: list[Diagnostic] | None = None,
    ) -> IntakeResult:
        t0 = time.perf_counter()
        strict = policies.validation == "strict"
        found: list[Diagnostic] = list(findings or [])
        data = strip_crlf(body)
        if len(data) > self._max:
            raise HubError(
                ErrorCode.TOO_LARGE,
                "VXP-SIZE",
                f"the package is {len(data):,} bytes, above the hub's limit of {self._max:,} bytes; "
                "send smaller attachments",
                findings=found,
            )
        digest = hashlib.sha256(data).digest()
        sha = digest.hex()
        self._check_hash(params, body, data, digest, strict, found)
        message_type = self._message_type(params, strict, found)
        service_type = params.get_str("servicetype") or "eDoc"
        if service_type.lower() != "edoc":
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    "header:XroadVnpt-servicetype",
                    "VXP-PARAM",
                    f"servicetype is {service_type!r}; the SDK sends 'eDoc'",
                )
            )

        # lenient mode never opens an attachment: its base64 is checked, decoded only if something reads it
        result = parse(data, max_bytes=self._max, strip_junk=not strict, decode_attachments=strict)
        found.extend(result.diagnostics)
        package = self._package(result, strict, found)
        if message_type is None:
            message_type = "edoc" if result.kind == "document" else "status"
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    "header:XroadVnpt-messagetype",
                    "VXP-PARAM",
                    f"messagetype is missing; taken from the package ({message_type})",
                )
            )
        expected = "edoc" if result.kind == "document" else "status"
        if message_type != expected:
            raise HubError(
                ErrorCode.BAD_PARAMETER,
                "VXP-ROUTE",
                f"messagetype={message_type} but the package is a {result.kind} package; send documents "
                "with messagetype=edoc and status packages with messagetype=status",
                findings=found,
            )
        # Lenient mode delivers whatever the validator says, so it skips opening the attachment archives
        # (the costliest rule); checking them is the receiver's duty (QD28-9.1). Strict runs every rule.
        diagnostics = (
            validate(package, mode=Mode.STRICT, skip=())
            if strict
            else validate(package, mode=Mode.LENIENT, skip=_LENIENT_SKIP)
        )
        found.extend(diagnostics)
        if strict:
            errors = [d for d in found if d.severity is Severity.ERROR and not d.path.startswith("header:")]
            if errors:
                raise HubError(
                    ErrorCode.INVALID_PACKAGE,
                    errors[0].requirement,
                    f"the package is not valid edXML (strict validation): {errors[0].path}: "
                    f"{errors[0].message}"
                    + (f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""),
                    findings=found,
                )
        sender = self._sender(params, package, found)
        stored = data[result.junk_bytes :] if result.junk_bytes else data
        signature = self._verify(stored, result, package, policies, found)
        if result.junk_bytes:
            sha = hashlib.sha256(stored).hexdigest()
        to_header = parse_to_header(params.get_str("to"))
        received_at = self._clock()

        with self._store.transaction() as txn:
            plan = self._plan(package, sender, to_header, txn, strict, found)
            known = txn.agencies([sender, *plan.recipients])  # one directory lookup for all checks
            self._check_sender_owner(known, system_id, sender, found)
            self._check_recipients(known, plan, found)
            recipients = plan.recipients
            dup_key = hashlib.sha256(f"{sha}|{sender}|{','.join(sorted(recipients))}".encode()).hexdigest()
            duplicate_of = txn.find_duplicate(dup_key)
            if duplicate_of is not None:
                if policies.duplicates == "refuse":
                    raise HubError(
                        ErrorCode.DUPLICATE,
                        "VXP-DUP",
                        f"this package (sha256 {sha}) from {sender} to {', '.join(recipients)} was already "
                        f"accepted as DocId {duplicate_of}; it is not delivered again (duplicates policy: "
                        "refuse)",
                        findings=found,
                    )
                found.append(
                    Diagnostic(
                        Severity.WARNING,
                        "/",
                        "VXP-DUP",
                        f"duplicate of DocId {duplicate_of} (same bytes, sender and recipients); "
                        "delivered again (duplicates policy: deliver)",
                    )
                )
            if plan.order_violations:
                found.extend(plan.order_violations)
                if policies.status_order == "refuse":
                    first = plan.order_violations[0]
                    raise HubError(
                        ErrorCode.STATUS_ORDER,
                        first.requirement,
                        f"{first.message}; refused (status_order policy: refuse)",
                        findings=found,
                    )
            doc_id = str(uuid.uuid4())
            deliveries = [
                DeliveryRecord(str(uuid.uuid4()), code, known[code].system_id or "", message_type)
                for code in recipients
            ]
            txn.insert_package(
                self._record(
                    doc_id,
                    sha,
                    stored,
                    result,
                    package,
                    message_type,
                    service_type,
                    system_id,
                    sender,
                    received_at,
                    dup_key,
                    plan,
                    duplicate_of,
                    signature,
                ),
                deliveries,
            )
            if plan.statuses:
                txn.add_status_events(
                    [
                        StatusEvent(
                            s.document_id,
                            s.original_sender,
                            s.receiver,
                            s.code.value,
                            s.verdict.value,
                            doc_id,
                            received_at,
                        )
                        for s in plan.statuses
                    ]
                )
            txn.add_evidence(
                record(
                    at=received_at,
                    operation="sendEdoc",
                    http_status=200,
                    error_code=ErrorCode.OK.value,
                    system=system_id,
                    sha256=sha,
                    doc_ids=[doc_id, *(d.doc_id for d in deliveries)],
                    findings=found,
                    detail={
                        "kind": result.kind,
                        "from": sender,
                        "to": recipients,
                        "document_id": plan.document_id,
                        "original_doc_id": plan.original_doc_id,
                        "duplicate_of": duplicate_of,
                        "signature": signature,
                        "size": len(stored),
                        "junk_bytes": result.junk_bytes,
                        "hub_trace": {
                            "organ_id": self._hub_organ_id,
                            "timestamp": format_timestamp(received_at),
                        },
                        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3),
                    },
                )
            )
        return IntakeResult(doc_id, sha, recipients, [d.doc_id for d in deliveries], duplicate_of, found)

    # ------------------------------------------------------------------------------------------
    def _check_hash(
        self, params: Params, body: bytes, data: bytes, digest: bytes, strict: bool, found: list[Diagnostic]
    ) -> None:
        given = params.get_str("hash-file")
        where = "header:XroadVnpt-hash-file"
        if given is None:
            if strict:
                raise HubError(
                    ErrorCode.BAD_PARAMETER,
                    "VXP-HASH",
                    "hash-file is missing: sign the SHA-256 of the package bytes (without the trailing CRLF) "
                    "as XroadVnpt-hash-file",
                    findings=found,
                )
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    where,
                    "VXP-HASH",
                    "hash-file is missing: the upload's integrity cannot be checked",
                )
            )
            return
        given = given.lower()
        if given == sdk_hex(digest):
            return
        if given == digest.hex():
            if strict:
                raise HubError(
                    ErrorCode.HASH_MISMATCH,
                    "VXP-HASH",
                    "hash-file is zero-padded hex; the SDK writes each digest byte without zero padding "
                    "(''.join(format(b, 'x') for b in digest))",
                    findings=found,
                )
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    where,
                    "VXP-HASH",
                    "hash-file is zero-padded hex; the SDK writes each byte unpadded; accepted",
                )
            )
            return
        if body is not data and given in (
            sdk_hex(hashlib.sha256(body).digest()),
            hashlib.sha256(body).hexdigest(),
        ):
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    where,
                    "VXP-HASH",
                    "hash-file covers the trailing CRLF too; the SDK hashes the package without it",
                )
            )
            return
        raise HubError(
            ErrorCode.HASH_MISMATCH,
            "VXP-HASH",
            f"hash-file does not match the uploaded bytes: the hub computed {sdk_hex(digest)} (SHA-256 of "
            f"{len(data)} bytes without the trailing CRLF, unpadded hex) but the request says {given}; the "
            "upload was corrupted or the hash was computed over other bytes",
            findings=found,
        )

    @staticmethod
    def _message_type(
        params: Params, strict: bool, found: list[Diagnostic]
    ) -> Literal["edoc", "status"] | None:
        value = params.get_str("messagetype")
        if value is None:
            if strict:
                raise HubError(
                    ErrorCode.BAD_PARAMETER,
                    "VXP-PARAM",
                    "messagetype is missing: send messagetype=edoc for a document or status for a "
                    "status package",
                    findings=found,
                )
            return None
        low = value.lower()
        if low == "edoc":
            return "edoc"
        if low == "status":
            return "status"
        raise HubError(
            ErrorCode.BAD_PARAMETER,
            "VXP-PARAM",
            f"messagetype={value!r} is not one of edoc, status",
            findings=found,
        )

    @staticmethod
    def _package(
        result: ParseResult, strict: bool, found: list[Diagnostic]
    ) -> DocumentPackage | StatusPackage:
        if result.package is not None:
            return result.package
        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
        first = errors[0] if errors else None
        if result.root is None:
            desc = first.message if first else "the upload is not XML"
            raise HubError(
                ErrorCode.BAD_XML,
                "EDXML-XML",
                f"the upload is not an acceptable XML file: {desc}",
                findings=found,
            )
        desc = f"{first.path}: {first.message}" if first else "no edXML package could be read"
        raise HubError(
            ErrorCode.INVALID_PACKAGE,
            first.requirement if first else "EDXML-STRUCT",
            f"the upload is not an edXML package the hub can route: {desc}",
            findings=found,
        )

    @staticmethod
    def _sender(params: Params, package: DocumentPackage | StatusPackage, found: list[Diagnostic]) -> str:
        pkg_from = package.header.from_.organ_id.strip()
        param_from = params.get_str("from")
        if param_from is None:
            found.append(
                Diagnostic(
                    Severity.WARNING,
                    "header:XroadVnpt-from",
                    "VXP-PARAM",
                    "the from parameter is missing; the SDK sends the sender's OrganId",
                )
            )
        elif pkg_from and param_from != pkg_from:
            raise HubError(
                ErrorCode.SENDER_FORBIDDEN,
                "VXP-ROUTE",
                f"the from parameter ({param_from}) differs from the package's From/OrganId ({pkg_from}); "
                "send as the agency that issued the package",
                findings=found,
            )
        sender = pkg_from or param_from or ""
        if not sender:
            raise HubError(
                ErrorCode.INVALID_PACKAGE,
                "EDXML-REQ",
                "the package has no From/OrganId and no from parameter: the hub cannot tell the sender",
                findings=found,
            )
        return sender

    def _verify(
        self,
        data: bytes,
        result: ParseResult,
        package: DocumentPackage | StatusPackage,
        policies: Policies,
        found: list[Diagnostic],
    ) -> str:
        if policies.signature == "off" or result.root is None:
            return "not checked"
        # The parser's tree, not the bytes (parsing twice cost ≈0.2 ms a package): the default verifier
        # checks it in place and leaves it as it was (Verifier(in_place=True)).
        verdict = self.verifier().verify(result.root)
        if verdict.ok:
            for warning in getattr(verdict, "warnings", []) or []:
                found.append(
                    Diagnostic(Severity.WARNING, "/", verdict.requirement or "EDXML-SIG", str(warning))
                )
            return "valid"
        failure = getattr(verdict.failure, "value", str(verdict.failure))
        path = "/edXML/edXMLEnvelope/edXMLHeader/Signature"
        if isinstance(package, StatusPackage) and str(failure).lower() == "unsigned":
            found.append(
                Diagnostic(
                    Severity.INFO,
                    path,
                    "EDXML-SIG",
                    "the status package is unsigned (accepted: status samples carry no signature)",
                )
            )
            return "unsigned"
        requirement = verdict.requirement or "QD28-6.1"
        if policies.signature == "enforce":
            raise HubError(
                ErrorCode.BAD_SIGNATURE,
                requirement,
                f"the package signature does not verify ({failure}): {verdict.message}",
                findings=found,
            )
        found.append(
            Diagnostic(
                Severity.ERROR,
                path,
                requirement,
                f"signature does not verify ({failure}): {verdict.message}; accepted "
                "(signature policy: warn)",
            )
        )
        return f"invalid: {failure}"

    @staticmethod
    def _check_sender_owner(
        known: dict[str, AgencyRecord], system_id: str, sender: str, found: list[Diagnostic]
    ) -> None:
        agency = known.get(sender)
        if agency is None or agency.deleted:
            raise HubError(
                ErrorCode.SENDER_FORBIDDEN,
                "VXP-ROUTE",
                f"the sender {sender} is not in the hub's directory; register the agency (registerAgency) "
                f"or configure it for system {system_id}",
                findings=found,
            )
        if agency.system_id != system_id:
            raise HubError(
                ErrorCode.SENDER_FORBIDDEN,
                "VXP-ROUTE",
                f"the sender {sender} is not hosted by system {system_id}; a system may only send as "
                "its own agencies",
                findings=found,
            )

    @staticmethod
    def _plan(
        package: DocumentPackage | StatusPackage,
        sender: str,
        to_header: list[str] | None,
        txn: StoreTxn,
        strict: bool,
        found: list[Diagnostic],
    ) -> RoutePlan:
        try:
            if isinstance(package, DocumentPackage):
                plan = plan_document(package, sender, to_header, txn)
            else:
                plan = plan_status(
                    package, sender, to_header, txn, mode=Mode.STRICT if strict else Mode.LENIENT
                )
        except HubError as exc:
            exc.findings[:0] = found
            raise
        found.extend(plan.findings)
        return plan

    @staticmethod
    def _check_recipients(known: dict[str, AgencyRecord], plan: RoutePlan, found: list[Diagnostic]) -> None:
        if not plan.recipients:
            raise HubError(
                ErrorCode.UNKNOWN_RECIPIENT,
                "VXP-ROUTE",
                "the package names no recipient: list them in To (or the to parameter)",
                findings=found,
            )
        unknown = [c for c in plan.recipients if c not in known or known[c].deleted]
        if unknown:
            raise HubError(
                ErrorCode.UNKNOWN_RECIPIENT,
                "VXP-ROUTE",
                f"unknown recipient{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: not in the "
                "hub's directory (getAgenciesList lists the known agencies)",
                findings=found,
            )
        offline = [c for c in plan.recipients if not known[c].system_id]
        if offline:
            raise HubError(
                ErrorCode.UNKNOWN_RECIPIENT,
                "VXP-ROUTE",
                f"recipient{'s' if len(offline) > 1 else ''} {', '.join(offline)} "
                f"{'are' if len(offline) > 1 else 'is'} in the directory but not connected to the hub "
                "through any system",
                findings=found,
            )

    def _record(
        self,
        doc_id: str,
        sha: str,
        stored: bytes,
        result: ParseResult,
        package: DocumentPackage | StatusPackage,
        message_type: Literal["edoc", "status"],
        service_type: str,
        system_id: str,
        sender: str,
        received_at: dt.datetime,
        dup_key: str,
        plan: RoutePlan,
        duplicate_of: str | None,
        signature: str,
    ) -> PackageRecord:
        rec = PackageRecord(
            doc_id=doc_id,
            sha256=sha,
            data=stored,
            kind="document" if result.kind == "document" else "status",
            message_type=message_type,
            service_type=service_type,
            sender_system=system_id,
            from_organ=sender,
            received_at=received_at,
            hub_organ_id=self._hub_organ_id,
            dup_key=dup_key,
            document_id=plan.document_id,
            original_doc_id=plan.original_doc_id,
            duplicate_of=duplicate_of,
            junk_bytes=result.junk_bytes,
            signature=signature,
        )
        if isinstance(package, DocumentPackage):
            rec.business_type = int(package.business_doc_type)
            rec.title = package.header.subject
            code = package.header.code
            rec.notation = str(code) if code is not None else ""
        else:
            rec.status_code = package.header.status_code.value
            rec.title = package.header.description or f"status {package.header.status_code.value}"
            rec.notation = package.header.response_for.code or ""
        return rec
