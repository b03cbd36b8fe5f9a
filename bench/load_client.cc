#include "bench/load_client.h"

#include <iostream>

namespace locktopus::bench {

void Shared::Error(const std::string& what) {
  MutexLock lock(mu_);
  if (!first_error_.empty()) return;
  first_error_ = what;
  std::cerr << "locktopus-bench: first error: " << what << "\n";
}

std::string Shared::first_error() const {
  MutexLock lock(mu_);
  return first_error_;
}

std::string_view Name(LoadClient::State state) {
  switch (state) {
    case LoadClient::State::kConnecting:
      return "connecting";
    case LoadClient::State::kConnected:
      return "connected";
    case LoadClient::State::kLocking:
      return "locking";
    case LoadClient::State::kEnqueued:
      return "enqueued";
    case LoadClient::State::kHolding:
      return "holding";
    case LoadClient::State::kReleasing:
      return "releasing";
    case LoadClient::State::kClosing:
      return "closing";
    case LoadClient::State::kEnded:
      return "ended";
  }
  return "?";
}

}  // namespace locktopus::bench
