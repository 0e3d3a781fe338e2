@attachments
Feature: Attached files (hồ sơ, tài liệu gửi kèm)
  QĐ 28/2018/QĐ-TTg, Điều 10 khoản 1: the exchanged content is the document and every attached
  file; Điều 9 khoản 1: the receiver checks completeness (tính đầy đủ) before accepting.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-ATT-001 @QD28-10.1
  Scenario: Every attachment received is kept intact (same SHA-256, none dropped)
    When agency A sends the SUT's agency a signed document with 3 attachments
    Then agency A receives status "03" for that document
    And the SUT holds the 3 attachments with the SHA-256 they were sent with

  @TC-ATT-002 @QD28-9.1 @QD28-10.1 @EDXML-MANIFEST
  Scenario: A document whose announced attachment is missing is refused (thiếu tệp đính kèm)
    When agency A sends the SUT's agency a signed document whose manifest announces a missing attachment
    Then agency A receives status "02" for that document
    And the status "02" carries a non-empty reason (lý do)
    And the SUT never accepted the document (no status "03")
