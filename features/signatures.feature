@signatures
Feature: Digital signatures and certificates (chữ ký số và chứng thư số)
  QĐ 28/2018/QĐ-TTg, Điều 6 khoản 1 and Điều 9 khoản 1: the receiver checks the authenticity of
  origin and the integrity of every document. A package whose signature does not verify, or whose
  signing certificate is expired, not yet valid, revoked, issued by an untrusted authority or not meant
  for signing, is refused (02) and never accepted as signed (03). Certificates come from the test CA,
  which plays the role of the government CA (Ban Cơ yếu Chính phủ).

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-SIG-001 @QD28-6.1 @QD28-9.1
  Scenario: A package altered after signing is refused (toàn vẹn)
    When agency A sends the SUT's agency a signed document that was altered after signing
    Then agency A receives status "02" for that document
    And the SUT never accepted the document (no status "03")

  @TC-SIG-002 @QD28-6.1 @QD28-9.1
  Scenario: A package signed with an expired certificate is refused
    When agency A sends the SUT's agency a document signed with an expired certificate
    Then agency A receives status "02" for that document
    And the SUT never accepted the document (no status "03")

  @TC-SIG-003 @QD28-6.1 @QD28-9.1
  Scenario: A package signed with a certificate that is not yet valid is refused
    When agency A sends the SUT's agency a document signed with a not-yet-valid certificate
    Then agency A receives status "02" for that document
    And the SUT never accepted the document (no status "03")

  @TC-SIG-004 @QD28-6.1 @QD28-9.1
  Scenario: A package signed with a revoked certificate is refused (thu hồi chứng thư)
    When agency A sends the SUT's agency a document signed with a revoked certificate
    Then agency A receives status "02" for that document
    And the SUT never accepted the document (no status "03")

  @TC-SIG-005 @QD28-6.1 @QD28-9.1
  Scenario: A package signed with a certificate from an untrusted authority is refused
    When agency A sends the SUT's agency a document signed with an untrusted certificate
    Then agency A receives status "02" for that document
    And the SUT never accepted the document (no status "03")

  @TC-SIG-006 @QD28-6.1 @QD28-9.1
  Scenario: A package signed with a certificate not meant for signing is refused (key usage)
    When agency A sends the SUT's agency a document signed with a wrong-key-usage certificate
    Then agency A receives status "02" for that document
    And the SUT never accepted the document (no status "03")

  @TC-SIG-007 @QD28-4.1 @QD28-6.1
  Scenario: A legacy SHA-1 signature never gives a document legal value
    When agency A sends the SUT's agency a document signed with the legacy SHA-1 algorithm
    Then the SUT does not hold the document as signed-valid
