@time
Feature: Vietnam time, synchronised with the hub (thời gian gửi, nhận)
  QĐ 28/2018/QĐ-TTg, Điều 14 khoản 4: send and receive times are unified in the Vietnam time zone
  (UTC+07:00, ISO 8601) and synchronised with the national hub. edXML timestamps are written
  yyyy/MM/dd HH:mm:ss in Vietnam time or ISO 8601 with +07:00.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-TIME-001 @QD28-14.4 @EDXML-DATE
  Scenario: The statuses the SUT sends carry Vietnam time close to the hub clock
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives status "03" for that document
    And the timestamps of the SUT's statuses are Vietnam time within the skew tolerance of the hub clock

  @TC-TIME-002 @QD28-14.4 @EDXML-DATE
  Scenario: The documents the SUT sends carry Vietnam time close to the hub clock
    When the SUT's agency sends a document to agency A
    Then agency A receives the document exactly once
    And the package's timestamps are Vietnam time within the skew tolerance of the hub clock

  @TC-TIME-003 @QD28-14.4
  Scenario: The SUT follows the hub clock after synchronising (đồng bộ thời gian)
    Given the hub clock runs 10 minutes ahead
    And the SUT has synchronised its clock with the hub
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives status "03" for that document
    And the timestamps of the SUT's statuses are Vietnam time within the skew tolerance of the hub clock
