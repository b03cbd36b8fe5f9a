#include "tests/e2e/test_certs.h"

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <vector>

namespace locktopus::e2e {
namespace fs = std::filesystem;

namespace {

// Runs openssl with `args` in `dir`, its output to dir/openssl.log; true if
// it exits 0.
bool Openssl(const fs::path& dir, const std::string& args) {
  const std::string command =
      "cd '" + dir.string() + "' && openssl " + args + " >>openssl.log 2>&1";
  const int status = std::system(command.c_str());
  if (status == 0) return true;
  std::ifstream log(dir / "openssl.log");
  std::cerr << "openssl " << args << " failed:\n" << log.rdbuf() << "\n";
  return false;
}

// An EC key and a certificate request for `name`, signed by the CA made as
// `ca`: `name`.pem and `name`.key.
bool Sign(const fs::path& dir, const std::string& ca, const std::string& name,
          const std::string& subject_alt_names) {
  std::ofstream(dir / (name + ".cnf"))
      << "subjectAltName=" << subject_alt_names << "\n";
  return Openssl(dir,
                 "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                 "-nodes -keyout " +
                     name + ".key -out " + name + ".csr -subj /CN=" + name) &&
         Openssl(dir, "x509 -req -in " + name + ".csr -CA " + ca +
                          ".pem -CAkey " + ca + ".key -CAcreateserial -out " +
                          name + ".pem -days 2 -extfile " + name + ".cnf");
}

bool MakeCa(const fs::path& dir, const std::string& name) {
  return Openssl(dir,
                 "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                 "-nodes -keyout " +
                     name + ".key -out " + name +
                     ".pem -days 2 -subj '/CN=" + name + " test CA'");
}

}  // namespace

std::optional<TestCerts> TestCerts::Make() {
  char name[] = "/tmp/locktopus-certs-XXXXXX";
  if (mkdtemp(name) == nullptr) return std::nullopt;
  TestCerts certs;
  certs.dir = name;
  const fs::path& d = certs.dir;
  if (!MakeCa(d, "ca") || !MakeCa(d, "other-ca") ||
      !Sign(d, "ca", "localhost", "DNS:localhost,IP:127.0.0.1") ||
      !Sign(d, "ca", "other.example", "DNS:other.example")) {
    return std::nullopt;
  }
  certs.ca = (d / "ca.pem").string();
  certs.other_ca = (d / "other-ca.pem").string();
  certs.cert = (d / "localhost.pem").string();
  certs.key = (d / "localhost.key").string();
  certs.other_host_cert = (d / "other.example.pem").string();
  certs.other_host_key = (d / "other.example.key").string();
  return certs;
}

TestCerts::TestCerts(TestCerts&& other) noexcept
    : dir(std::move(other.dir)),
      ca(std::move(other.ca)),
      cert(std::move(other.cert)),
      key(std::move(other.key)),
      other_ca(std::move(other.other_ca)),
      other_host_cert(std::move(other.other_host_cert)),
      other_host_key(std::move(other.other_host_key)) {
  other.dir.clear();
}

TestCerts::~TestCerts() {
  std::error_code ignored;
  if (!dir.empty()) fs::remove_all(dir, ignored);
}

}  // namespace locktopus::e2e
