// Throwaway TLS material for end-to-end tests, made by the openssl CLI as
// tests/e2e/js/tls.test.mjs makes it: a CA, a server certificate it signed,
// and the files the server and the clients are given.
//
// Thread safety: TestCerts::Make writes only into its own fresh directory.

#ifndef LOCKTOPUS_TESTS_E2E_TEST_CERTS_H_
#define LOCKTOPUS_TESTS_E2E_TEST_CERTS_H_

#include <filesystem>
#include <optional>
#include <string>

namespace locktopus::e2e {

struct TestCerts {
  std::filesystem::path dir;  // removed by the destructor
  std::string ca;             // PEM of the CA that signed `cert`
  std::string cert, key;      // the server's certificate and key
  // A second, unrelated CA: trusting it is as good as trusting none.
  std::string other_ca;
  // A certificate of `ca` for "other.example" only, and its key: a server
  // using it has a trusted certificate that names another host.
  std::string other_host_cert, other_host_key;

  // Makes everything in a fresh temporary directory. The server
  // certificate names localhost and 127.0.0.1. nullopt if the openssl CLI
  // is missing or fails (why goes to stderr).
  static std::optional<TestCerts> Make();

  TestCerts() = default;
  TestCerts(TestCerts&& other) noexcept;
  TestCerts& operator=(TestCerts&&) = delete;
  ~TestCerts();
};

}  // namespace locktopus::e2e

#endif  // LOCKTOPUS_TESTS_E2E_TEST_CERTS_H_
