@resilience
Feature: Hub incidents, duplicates and acknowledgements (sự cố, trùng lặp)
  Văn phòng Chính phủ 26/12/2019: the sending infrastructure keeps working through incidents, with a
  fallback. Under hub faults (503, dropped responses) the SUT retries, loses nothing and duplicates
  nothing; a document delivered twice is registered once; every fetched item is acknowledged.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-RES-001 @VPCP19-RES
  Scenario: The SUT retries sendEdoc through 503 answers and the document arrives once
    Given the hub answers 503 to the next 2 "sendEdoc" calls
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once

  @TC-RES-002 @VPCP19-RES @VXP-DUP
  Scenario: A lost reply after the hub committed the document creates no duplicate
    Given the hub drops its reply to the next "sendEdoc" call after committing the package
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once

  @TC-RES-003 @VPCP19-RES @VXP-ACK
  Scenario: The SUT acknowledges again when the hub fails its acknowledgement (updateStatus)
    Given the hub answers 503 to the next 2 "updateStatus" calls
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives status "03" for that document
    And the hub shows the delivery to the SUT's agency acknowledged as done
    And the SUT answered status "01" exactly once for that document

  @TC-RES-004 @VXP-DUP
  Scenario: A document the hub delivers twice is registered once
    Given the hub delivers the next document twice
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives status "03" for that document
    And the SUT answered status "01" exactly once for that document
    And the SUT answered status "03" exactly once for that document

  @TC-RES-005 @VXP-DUP @QD28-9.1
  Scenario: The same package sent twice by the sender is registered once
    When agency A sends the SUT's agency the same signed package twice
    Then agency A receives status "03" for that document
    And the SUT answered status "01" exactly once for that document
    And the SUT answered status "03" exactly once for that document
