"""edXML packages laid out like spec/edxml.md §1 (default namespace on the root, ``edXML:`` prefix
declared again on the envelope, indentation whitespace), for the signature tests."""

from __future__ import annotations

import base64
import hashlib

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
SUBJECT = "V/v thử nghiệm liên thông văn bản điện tử"


def document_package(attachment_bytes: int = 2000) -> bytes:
    # deterministic pseudo-random attachment content
    blob = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(attachment_bytes // 32 + 1))
    b64 = base64.b64encode(blob[:attachment_bytes]).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
        </edXML:From>
        <edXML:To>
          <edXML:OrganId>000.00.00.H41</edXML:OrganId>
          <edXML:OrganName>UBND tỉnh Nghệ An</edXML:OrganName>
        </edXML:To>
        <edXML:DocumentId>000.00.00.G22,2026/11/23,7816/VPCP-TTĐT</edXML:DocumentId>
        <edXML:Code><edXML:CodeNumber>7816</edXML:CodeNumber><edXML:CodeNotation>VPCP-TTĐT</edXML:CodeNotation></edXML:Code>
        <edXML:Subject>{SUBJECT}</edXML:Subject>
        <edXML:SignerInfo><edXML:Competence>KT. CHỦ NHIỆM</edXML:Competence>
          <edXML:FullName>Nguyễn Văn A</edXML:FullName></edXML:SignerInfo>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:Timestamp>2026/11/23 08:00:00</edXML:Timestamp>
        </edXML:TraceHeader>
        <edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType></edXML:Bussiness>
      </edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference>
          <edXML:ContentId>cid:1</edXML:ContentId>
          <edXML:ContentType>application/zip</edXML:ContentType>
          <edXML:AttachmentName>vanban.pdf</edXML:AttachmentName>
        </edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:1</ContentId>
      <AttachmentName>vanban.pdf</AttachmentName>
      <ContentType>application/zip</ContentType>
      <ContentTransferEncoded>{b64}</ContentTransferEncoded>
    </Attachment>
  </AttachmentEncoded>
</edXML>
""".encode()


def status_package() -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:From>
        <edXML:ResponseFor>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:DocumentId>000.00.00.G22,2026/11/23,7816/VPCP-TTĐT</edXML:DocumentId>
        </edXML:ResponseFor>
        <edXML:StatusCode>03</edXML:StatusCode>
        <edXML:Description>Đã tiếp nhận</edXML:Description>
        <edXML:Timestamp>2026/11/23 08:05:00</edXML:Timestamp>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
  </edXMLEnvelope>
</edXML>
""".encode()
