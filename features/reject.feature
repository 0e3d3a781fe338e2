@reject
Feature: Refusing a document (từ chối tiếp nhận)
  QĐ 28/2018/QĐ-TTg, Điều 5 khoản 4: the receiver may refuse a document that breaks the rules, is
  responsible for refusing it, and must tell the sender through the system: status 02 with a reason.
  Điều 9 khoản 1: a document that is not addressed to the receiver is not accepted.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-REJ-001 @QD28-9.1 @QD28-5.4
  Scenario: A document addressed to another agency is refused with a reason (không đúng nơi nhận)
    When agency A sends the SUT's agency a signed document addressed to agency B only
    Then agency A receives status "02" for that document
    And the status "02" carries a non-empty reason (lý do)
    And the SUT never accepted the document (no status "03")

  @TC-REJ-002 @QD28-5.4 @QD28-9.1 @EDXML-STATUS
  Scenario: A refusal always states its reason
    When agency A sends the SUT's agency a signed document that was altered after signing
    Then agency A receives status "02" for that document
    And the status "02" carries a non-empty reason (lý do)

  @TC-REJ-003 @QD28-9.2.a @QD28-14.2
  Scenario: Nothing follows a refusal: a refused document cannot be accepted afterwards
    When agency A sends the SUT's agency a signed document addressed to agency B only
    Then agency A receives status "02" for that document
    When the SUT's clerk tries to move the document to status "03"
    Then no status follows the refusal "02" for that document
