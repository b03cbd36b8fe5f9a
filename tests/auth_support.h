// An Authenticator for the server's unit tests, loaded the way the server
// loads --auth-token-file: from a file, here a scratch one.

#ifndef LOCKTOPUS_TESTS_AUTH_SUPPORT_H_
#define LOCKTOPUS_TESTS_AUTH_SUPPORT_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "server/core/auth.h"

namespace locktopus::testing {

// Knows `token` alone; null (and a test failure) if it cannot be made.
inline std::unique_ptr<server::Authenticator> OneTokenAuthenticator(
    const std::string& token) {
  char path[] = "/tmp/locktopus-token-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    ADD_FAILURE() << "cannot make a scratch token file";
    return nullptr;
  }
  const std::string line = token + "\n";
  const bool written =
      write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  close(fd);
  auto loaded = server::Authenticator::Load(path);
  std::remove(path);
  if (!written || !loaded.ok()) {
    ADD_FAILURE() << "cannot load the scratch token file";
    return nullptr;
  }
  return std::move(loaded).value();
}

}  // namespace locktopus::testing

#endif  // LOCKTOPUS_TESTS_AUTH_SUPPORT_H_
