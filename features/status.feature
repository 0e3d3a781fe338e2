@status
Feature: Processing statuses (trạng thái xử lý)
  QĐ 28/2018/QĐ-TTg, Điều 9 khoản 2 điểm a: after accepting, the receiver processes the document and
  reports its processing status; Điều 14 khoản 2: status answers follow QCVN 102. Legal order:
  01 → 02 | 03; 03 → 04 | 05 | 06; 04 → 05 | 06; 05 → 06. Going backwards is a violation.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-STAT-001 @QD28-9.2.a @QD28-14.2
  Scenario: The lifecycle 03 → 04 → 05 → 06 reaches the sender in order
    Given agency A has sent the SUT's agency a document that it accepted
    When the SUT's clerk moves the document through "04", "05", "06"
    Then agency A receives the statuses "04", "05", "06" for that document, in that order
    And every status the SUT's agency sent for that document is a valid status package answering it

  @TC-STAT-002 @QD28-9.2.a @QD28-14.2
  Scenario: The SUT never reports a status going backwards
    Given agency A has sent the SUT's agency a document that it accepted
    When the SUT's clerk moves the document through "05"
    And the SUT's clerk tries to move the document to status "04"
    And the SUT's clerk moves the document through "06"
    Then agency A receives status "06" for that document
    And the statuses the SUT's agency sent for that document follow the legal order
