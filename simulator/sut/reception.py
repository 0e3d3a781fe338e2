"""What the reference QLVB concludes about a document it received (QD28-9.1): accept, and with which
legal validity, or refuse, and why.

:func:`assess` checks, in this order — nothing in a forged package is worth reading, so authenticity
comes first (QD28-6.1):

1. the package is usable edXML (parser errors of structure, namespace, required blocks);
2. the signature, against the test CA's trust store (:func:`judge_signature`): unsigned → reference
   only (QD28-4.1); valid RSA-SHA256/ECDSA → signed-valid; legacy RSA-SHA1 → reference only; tampered,
   wrapped, untrusted, expired, not yet valid, revoked, wrong key usage → refused. A verified package
   is read again from what the signature covers (no wrapping);
3. it is addressed (To) to the receiving agency;
4. the From/To agency codes are ``NNN.NN.NN.XNN`` (QD28-10.2.a);
5. the required fields are there (EDXML-REQ);
6. every manifest reference has its attachment and every attachment opens (QD28-10.1).

Other strict-validation errors (dates, enumerations, lengths, trace details) are tolerated on receipt
and kept as warnings. Refusal reasons are Vietnamese (what the sender's clerk reads), then English,
then the requirement ID. The named defects of the receiving checks are decided here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from simulator.edxml.attachments import AttachmentError, unwrap
from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.model import DocumentPackage
from simulator.edxml.parser import parse_tree
from simulator.edxml.validator import Mode, validate
from simulator.pki.dsig import SignatureAlgorithm, Verifier, VerifyFailure, VerifyResult
from simulator.sut.driver import AttachmentDigest, LegalValidity

__all__ = ["MAX_REASON", "Assessment", "assess", "judge_signature", "reason"]

MAX_REASON = 480
# Parser errors that make a package unusable for the register (others are tolerated on receipt).
_FATAL_PARSE = frozenset({"EDXML-XML", "EDXML-NS", "EDXML-STRUCT", "EDXML-REQ", "EDXML-STATUS"})

_VI_FAILURE = {
    VerifyFailure.DIGEST_MISMATCH: "nội dung văn bản đã bị thay đổi sau khi ký (sai giá trị băm)",
    VerifyFailure.BAD_SIGNATURE_VALUE: "giá trị chữ ký số không đúng",
    VerifyFailure.WRAPPING: "cấu trúc chữ ký số bị can thiệp (wrapping)",
    VerifyFailure.MULTIPLE_SIGNATURES: "có nhiều chữ ký số lồng nhau",
    VerifyFailure.BAD_REFERENCE: "chữ ký số không bao trùm toàn bộ văn bản",
    VerifyFailure.UNSUPPORTED_ALGORITHM: "thuật toán ký không được hỗ trợ",
    VerifyFailure.SHA1_REFUSED: "thuật toán SHA-1 không còn được chấp nhận",
    VerifyFailure.NO_CERTIFICATE: "chữ ký số không kèm chứng thư số",
    VerifyFailure.WRONG_NAMESPACE: "chữ ký số sai không gian tên XML",
    VerifyFailure.MALFORMED: "chữ ký số không đọc được",
    VerifyFailure.UNTRUSTED_CHAIN: "chứng thư số không do tổ chức chứng thực tin cậy cấp",
    VerifyFailure.EXPIRED: "chứng thư số đã hết hạn",
    VerifyFailure.NOT_YET_VALID: "chứng thư số chưa có hiệu lực",
    VerifyFailure.REVOKED: "chứng thư số đã bị thu hồi",
    VerifyFailure.WRONG_KEY_USAGE: "chứng thư số không được phép dùng để ký",
    VerifyFailure.UNSIGNED: "văn bản không có chữ ký số",
}
_BAD_SIGNATURE = (
    VerifyFailure.DIGEST_MISMATCH,
    VerifyFailure.BAD_SIGNATURE_VALUE,
    VerifyFailure.WRAPPING,
    VerifyFailure.MULTIPLE_SIGNATURES,
    VerifyFailure.BAD_REFERENCE,
    VerifyFailure.UNSUPPORTED_ALGORITHM,
    VerifyFailure.NO_CERTIFICATE,
    VerifyFailure.WRONG_NAMESPACE,
    VerifyFailure.MALFORMED,
    VerifyFailure.SHA1_REFUSED,
)
# The defect under which a verification failure is accepted anyway.
_ACCEPTED_BY_DEFECT: dict[VerifyFailure, str] = {
    VerifyFailure.UNTRUSTED_CHAIN: "accepts-untrusted-cert",
    VerifyFailure.EXPIRED: "accepts-expired-cert",
    VerifyFailure.NOT_YET_VALID: "accepts-expired-cert",
    VerifyFailure.REVOKED: "accepts-revoked-cert",
    VerifyFailure.WRONG_KEY_USAGE: "accepts-wrong-key-usage",
    **{f: "accepts-bad-signature" for f in _BAD_SIGNATURE},
}


@dataclass(slots=True)
class Assessment:
    """The verdict on one received document. ``refusal`` is the 02 reason, None when accepted."""

    validity: LegalValidity
    refusal: str | None
    verdict: str
    package: DocumentPackage  # what to register (the signed content when the signature verified)
    attachments: tuple[AttachmentDigest, ...] = ()
    warnings: list[str] = field(default_factory=list)


def reason(vi: str, en: str, requirement: str) -> str:
    """A refusal/answer reason: Vietnamese first, English, the requirement; at most MAX_REASON chars."""
    text = f"{vi}. {en} [{requirement}]"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def judge_signature(result: VerifyResult, defects: Collection[str]) -> tuple[LegalValidity, str, str | None]:
    """(legal validity, verdict note, refusal reason or None) for one verification result."""
    if result.ok and not result.signed:
        if "unsigned-as-valid" in defects:
            return LegalValidity.SIGNED_VALID, "unsigned, registered as signed (defect)", None
        return LegalValidity.REFERENCE_ONLY, "unsigned: reference only (QD28-4.1)", None
    if result.ok:
        if result.algorithm == SignatureAlgorithm.RSA_SHA1.value and "accepts-sha1" not in defects:
            return (
                LegalValidity.REFERENCE_ONLY,
                "signed with legacy RSA-SHA1: kept for reference only (QD28-4.1)",
                None,
            )
        return LegalValidity.SIGNED_VALID, result.message, None
    failure = result.failure or VerifyFailure.MALFORMED
    if _ACCEPTED_BY_DEFECT.get(failure) in defects:
        return LegalValidity.SIGNED_VALID, f"{failure.value} accepted (defect)", None
    vi = _VI_FAILURE.get(failure, "chữ ký số không hợp lệ")
    return (
        LegalValidity.INVALID,
        result.message,
        reason(f"Từ chối tiếp nhận: {vi}", f"refused: {result.message}", result.requirement or "QD28-6.1"),
    )


def _refused(pkg: DocumentPackage, why: str) -> Assessment:
    return Assessment(LegalValidity.INVALID, why, "refused", pkg)


def _is_from_or_to(d: Diagnostic) -> bool:
    return "/MessageHeader/From/" in d.path or "/MessageHeader/To" in d.path


def assess(
    raw: bytes,
    parse_diagnostics: Sequence[Diagnostic],
    pkg: DocumentPackage,
    agency: str,
    verifier: Verifier,
    defects: Collection[str],
) -> Assessment:
    """Judge the document ``pkg`` (parsed from ``raw``) delivered to ``agency``; see the module docstring."""
    fatal = [x for x in parse_diagnostics if x.severity is Severity.ERROR and x.requirement in _FATAL_PARSE]
    if fatal:
        x = fatal[0]
        return _refused(
            pkg,
            reason(
                "Gói tin edXML không hợp lệ",
                f"the package is not usable edXML: {x.path}: {x.message}",
                x.requirement,
            ),
        )
    verdict = verifier.verify(raw)
    validity, note, refusal = judge_signature(verdict, defects)
    if refusal is not None:
        return _refused(pkg, refusal)
    if verdict.ok and verdict.signed and verdict.signed_root is not None:
        signed = parse_tree(verdict.signed_root).package  # what the signature covers (no wrapping)
        if isinstance(signed, DocumentPackage):
            pkg = signed
    to_codes = [o.organ_id.strip() for o in pkg.header.to]
    if agency not in to_codes and "accepts-misaddressed" not in defects:
        return _refused(
            pkg,
            reason(
                f"Văn bản không gửi đến cơ quan {agency} (không đúng nơi nhận)",
                f"misaddressed: the document is addressed to {', '.join(to_codes) or 'nobody'}, "
                f"not to {agency}",
                "QD28-9.1",
            ),
        )
    errors = [
        x
        for x in validate(pkg, mode=Mode.STRICT, skip={"attachment-payload"})
        if x.severity is Severity.ERROR
    ]
    codes = [x for x in errors if x.requirement == "QD28-10.2.a" and _is_from_or_to(x)]
    if codes and "accepts-malformed-agency-code" not in defects:
        x = codes[0]
        return _refused(
            pkg, reason("Mã định danh cơ quan không đúng quy định", f"{x.path}: {x.message}", x.requirement)
        )
    required = [x for x in errors if x.requirement == "EDXML-REQ"]
    if required:
        x = required[0]
        return _refused(
            pkg, reason("Văn bản thiếu thông tin bắt buộc", f"{x.path}: {x.message}", x.requirement)
        )
    missing = [x for x in errors if x.requirement in ("EDXML-MANIFEST", "EDXML-ATTACH")]
    if missing and "accepts-missing-attachment" not in defects:
        x = missing[0]
        return _refused(
            pkg, reason("Văn bản thiếu hoặc hỏng tệp đính kèm", f"{x.path}: {x.message}", "QD28-9.1")
        )
    digests: list[AttachmentDigest] = []
    for att in pkg.attachments:
        try:
            f = unwrap(att)
        except AttachmentError as exc:
            if "accepts-missing-attachment" in defects:
                continue
            return _refused(pkg, reason("Tệp đính kèm bị hỏng", str(exc), "QD28-10.1"))
        digests.append(AttachmentDigest(f.name, f.sha256, len(f.data)))
    if "drops-attachment" in defects and digests:
        digests.pop()
    return Assessment(validity, None, note, pkg, tuple(digests), [f"{x.path}: {x.message}" for x in errors])
