@send
Feature: Sending a document (gửi văn bản điện tử)
  QĐ 28/2018/QĐ-TTg, Điều 8 khoản 1: after approval and digital signature the document is sent to
  the receivers through the connected systems; Điều 6 khoản 4: in the format of QCVN 102 (edXML);
  Điều 10 khoản 2: with its metadata (số và ký hiệu, ngày ban hành, loại văn bản, trích yếu, người
  ký, độ khẩn, bên gửi, bên nhận). Điều 8 khoản 2: the sender tracks the delivery to each receiver.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-SEND-001 @QD28-8.1 @VPCP19-SIG @EDXML-SIG
  Scenario: The SUT signs what it sends, with its agency's certificate
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once
    And the package carries a valid XML signature by the SUT's agency

  @TC-SEND-002 @QD28-6.4 @QD28-10.2.c-q @QD28-10.1 @EDXML-REQ
  Scenario: The SUT sends valid edXML with the required metadata (thể thức) and every file attached
    When the SUT's agency sends a document with 2 attachments to agency A
    Then agency A receives the document exactly once
    And the package is valid edXML in strict mode
    And the package names the number and notation, date, type, subject and signer (người ký)
    And the package holds the 2 files with the SHA-256 of the files that were attached

  @TC-SEND-006 @EDXML-XML @EDXML-NS @EDXML-STRUCT @EDXML-DUPTO @EDXML-ATTACH @EDXML-LEN
  Scenario: The packages the SUT sends are well-formed edXML, each recipient listed once
    When the SUT's agency sends a document with 2 attachments to agency A
    Then agency A receives the document exactly once
    And the package is well-formed edXML: structure, namespace, recipients, attachments and field lengths

  @TC-SEND-007 @VXP-AUTH @VXP-HASH @VXP-PARAM @VXP-ASCII
  Scenario: The SUT calls the hub as the official SDK does (signed parameters, hash-file, ASCII headers)
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once
    And the SUT's calls to the hub carried the SDK's signed parameters and hash-file

  @TC-SEND-003 @QD28-8.1 @VXP-ROUTE
  Scenario: A document for two agencies reaches exactly those two
    When the SUT's agency sends a document to agencies A and B
    Then agency A receives the document exactly once
    And agency B receives the document exactly once
    And the package is addressed to exactly agencies A and B

  @TC-SEND-004 @QD28-8.2 @QD28-6.3
  Scenario: The SUT tracks the statuses its receivers report (theo dõi trạng thái)
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once
    And the SUT shows status "03" reported by agency A for its document

  @TC-SEND-005 @QD28-6.2.a
  Scenario: The SUT sends a document on the day it is signed (ngày ban hành)
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once
    And the hub accepted the document on its promulgation day or the next working morning
