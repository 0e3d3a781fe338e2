@update_replace
Feature: Updating and replacing a document (cập nhật, thay thế văn bản)
  An update (BussinessDocType 2) changes the metadata or the receivers of a document already sent; a
  replacement (BussinessDocType 3) withdraws a document in favour of a new one. The receiver answers
  15 and applies the change (QĐ 28/2018/QĐ-TTg, Điều 9 khoản 2 điểm b; QCVN 102 TraceHeaderList).

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-UPD-001 @QD28-9.2.b @EDXML-TRACE
  Scenario: An update of the subject is applied and answered with 15
    Given agency A has sent the SUT's agency a document that it accepted
    When agency A updates the document's subject to "Về việc điều chỉnh kế hoạch năm 2026"
    Then agency A receives status "15" for that document
    And the SUT shows the subject "Về việc điều chỉnh kế hoạch năm 2026" for the document

  @TC-UPD-002 @QD28-9.2.b @EDXML-TRACE
  Scenario: A replacement withdraws the old document and registers the new one
    Given agency A has sent the SUT's agency a document that it accepted
    When agency A replaces the document with a new one
    Then agency A receives status "15" for the replaced document
    And the SUT no longer shows the replaced document as active
    And agency A receives status "03" for the new document

  @TC-UPD-003 @QD28-8.2 @EDXML-TRACE
  Scenario: The SUT updates the receivers of a document it sent
    Given the SUT's agency has sent a document to agency A
    When the SUT's agency updates that document adding agency B as a receiver
    Then agency A receives an update package for that document that adds agency B

  @TC-UPD-004 @QD28-8.2 @EDXML-TRACE
  Scenario: The SUT replaces a document it sent
    Given the SUT's agency has sent a document to agency A
    When the SUT's agency replaces that document with a new one
    Then agency A receives a replacement package that names the replaced document
