@recall
Feature: Recalling a document (thu hồi văn bản điện tử)
  QĐ 28/2018/QĐ-TTg, Điều 8 khoản 2: to recall a document the sender notifies the receiver through
  the system; Điều 9 khoản 2 điểm b: the receiver cancels the recalled document and reports that it
  did. A recall is either a package with BussinessDocType 1 or a status 13; it is answered by 15
  (đồng ý) or, once the document is completed, 16 (từ chối) with a reason.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-RCL-001 @QD28-9.2.b
  Scenario: A recall package (BussinessDocType 1) is honoured: 15 and the document is withdrawn
    Given agency A has sent the SUT's agency a document that it accepted
    When agency A recalls the document with a recall package and the reason "Văn bản ban hành nhầm"
    Then agency A receives status "15" for that document
    And the SUT no longer shows the document as active

  @TC-RCL-002 @QD28-9.2.b
  Scenario: A recall request by status 13 is honoured: 15 and the document is withdrawn
    Given agency A has sent the SUT's agency a document that it accepted
    When agency A recalls the document with status "13" and the reason "Sai sót trích yếu"
    Then agency A receives status "15" for that document
    And the SUT no longer shows the document as active

  @TC-RCL-003 @QD28-9.2.b @EDXML-STATUS
  Scenario: A recall after completion (06) is refused with 16 and a reason
    Given agency A has sent the SUT's agency a document that it completed
    When agency A recalls the document with a recall package and the reason "Thu hồi để sửa đổi"
    Then agency A receives status "16" for that document
    And the status "16" carries a non-empty reason (lý do)
    And the SUT still shows the document as active

  @TC-RCL-004 @QD28-8.2 @EDXML-TRACE
  Scenario: The SUT recalls a document it sent with a recall package
    Given the SUT's agency has sent a document to agency A
    When the SUT's agency recalls that document with a recall package and the reason "Ban hành nhầm"
    Then agency A receives a recall package for that document with a non-empty reason
    And agency A's answer "15" reaches the SUT

  @TC-RCL-005 @QD28-8.2 @EDXML-STATUS
  Scenario: The SUT recalls a document it sent with status 13
    Given the SUT's agency has sent a document to agency A
    When the SUT's agency recalls that document with status "13" and the reason "Ban hành nhầm"
    Then agency A receives status "13" for that document with a non-empty reason
    And agency A's answer "15" reaches the SUT
