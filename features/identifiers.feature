@identifiers
Feature: Identifiers (mã định danh cơ quan và mã định danh văn bản)
  QĐ 28/2018/QĐ-TTg, Điều 10 khoản 2 điểm a: an agency identifier has 13 characters in four groups
  separated by dots (e.g. 000.00.00.G22). Điểm b: a document identifier is made of the agency
  identifier, the year (date) of issue and the number of the document in the year.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-ID-001 @QD28-10.2.a @QD28-14.2
  Scenario: Every agency code the SUT emits has the 13-character form
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once
    And every agency code in the package has the 13-character form

  @TC-ID-002 @QD28-10.2.b
  Scenario: The SUT's DocumentId is agency code, date and number/notation
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once
    And the package's DocumentId is made of the SUT's agency code, the date and the number

  @TC-ID-003 @QD28-10.2.a @QD28-9.1
  Scenario: A document naming a malformed agency code is refused
    When agency A sends the SUT's agency a signed document that also names the malformed agency code "vxp.saas.03"
    Then agency A receives status "02" for that document
    And the SUT never accepted the document (no status "03")
