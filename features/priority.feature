@priority
Feature: Urgent documents (văn bản khẩn)
  QĐ 28/2018/QĐ-TTg, Điều 6 khoản 2 điểm b: an urgent document carries its urgency (khẩn, thượng
  khẩn, hỏa tốc), is sent right after signing and is handed for processing right after receipt.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-PRIO-001 @QD28-6.2.b @EDXML-ENUM
  Scenario Outline: The SUT carries the urgency of what it sends (<name>)
    When the SUT's agency sends a "<name>" document to agency A
    Then agency A receives the document exactly once
    And the package carries the priority <level>

    Examples:
      | name          | level |
      | khẩn          | 1     |
      | thượng khẩn   | 2     |
      | hỏa tốc       | 3     |

  @TC-PRIO-002 @QD28-6.2.b
  Scenario: Urgent documents are handled before normal ones that arrived earlier
    Given the SUT has paused its intake (tạm dừng nhận)
    When agency A sends the SUT's agency 3 normal documents and then 1 "hỏa tốc" document
    And the SUT resumes its intake
    Then the SUT accepts the "hỏa tốc" document before any of the normal ones
