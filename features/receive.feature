@receive
Feature: Receiving a document (tiếp nhận văn bản điện tử)
  QĐ 28/2018/QĐ-TTg, Điều 9 khoản 1: before accepting a document the receiving system checks that it
  is complete, intact and authentic, and answers through the system. Status 01 (đã đến) is sent
  automatically on arrival (Điều 6 khoản 3), then 03 (đã tiếp nhận) or 02 (từ chối) with a reason.
  Điều 4: a validly signed document has the legal value of paper; an unsigned one is for reference only.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-RECV-001 @QD28-9.1 @QD28-6.3
  Scenario: A valid signed document is announced (01) and accepted (03) automatically
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives the statuses "01", "03" for that document, in that order

  @TC-RECV-002 @QD28-4.1 @QD28-9.1
  Scenario: A validly signed document has legal value (giá trị pháp lý)
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives status "03" for that document
    And the SUT reports the legal validity of the document as "signed-valid"

  @TC-RECV-003 @QD28-4.1 @VPCP19-SIG
  Scenario: An unsigned document is kept for reference only (chỉ để tham khảo)
    When agency A sends the SUT's agency an unsigned document
    Then agency A receives status "01" for that document
    And the SUT reports the legal validity of the document as "reference-only"

  @TC-RECV-004 @EDXML-STATUS @QD28-14.2
  Scenario: The statuses the SUT sends are well-formed answers to the document (ResponseFor)
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives status "03" for that document
    And every status the SUT's agency sent for that document is a valid status package answering it

  @TC-RECV-005 @VXP-ACK
  Scenario: Every document the SUT fetches is acknowledged at the hub (updateStatus done)
    When agency A sends the SUT's agency a valid signed document
    Then agency A receives status "03" for that document
    And the hub shows the delivery to the SUT's agency acknowledged as done
