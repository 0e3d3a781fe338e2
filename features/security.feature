@security
Feature: Encrypted, authenticated connection to the hub (kết nối mã hóa, xác thực)
  QĐ 28/2018/QĐ-TTg, Điều 13 khoản 2: the connection between a QLVB and the national hub is encrypted
  and authenticated. The SUT must refuse a hub whose TLS certificate it cannot trust.

  Background:
    Given the simulated hub is running with the SUT connected

  @TC-SEC-001 @QD28-13.2
  Scenario: The SUT refuses a hub whose TLS certificate has expired
    Given a hub whose TLS certificate is valid
    And the SUT connects to that hub
    Given a hub whose TLS certificate is expired
    When the SUT is asked to connect to that hub
    Then the SUT refuses the connection

  @TC-SEC-002 @QD28-13.2
  Scenario: The SUT refuses a hub whose TLS certificate comes from an untrusted authority
    Given a hub whose TLS certificate is valid
    And the SUT connects to that hub
    Given a hub whose TLS certificate is untrusted
    When the SUT is asked to connect to that hub
    Then the SUT refuses the connection
