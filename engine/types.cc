#include "engine/types.h"

#include <ostream>
#include <sstream>

namespace locktopus {

std::ostream& operator<<(std::ostream& os, Access access) {
  return os << (access == Access::kRead ? "read" : "write");
}

std::ostream& operator<<(std::ostream& os, LockState state) {
  switch (state) {
    case LockState::kNone:
      return os << "none";
    case LockState::kEnqueued:
      return os << "enqueued";
    case LockState::kAcquired:
      return os << "acquired";
  }
  return os << "?";
}

namespace {

std::ostream& PrintPath(std::ostream& os, const Path& path) {
  os << '[';
  const char* sep = "";
  for (const std::string& segment : path) {
    os << sep << '"' << segment << '"';
    sep = ",";
  }
  return os << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Resource& resource) {
  os << resource.access << ' ';
  return PrintPath(os, resource.path);
}

std::string ToString(std::span<const Resource> resources) {
  std::ostringstream os;
  os << '{';
  const char* sep = "";
  for (const Resource& r : resources) {
    os << sep << r;
    sep = ", ";
  }
  os << '}';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const RequestResult& result) {
  return os << "{step " << result.step << ", id " << result.id << ", "
            << (result.acquired ? "acquired" : "enqueued") << '}';
}

std::ostream& operator<<(std::ostream& os, const Acquisition& acquisition) {
  os << acquisition.id;
  if (auto waiter = acquisition.waiter.lock()) {
    os << " (waiter " << static_cast<const void*>(waiter.get()) << ')';
  }
  return os;
}

std::ostream& operator<<(std::ostream& os, const ReleaseResult& result) {
  os << "{step " << result.step;
  if (!result.found) return os << ", not found}";
  os << ", acquired [";
  const char* sep = "";
  for (const Acquisition& acquisition : result.acquired) {
    os << sep << acquisition;
    sep = ", ";
  }
  return os << "]}";
}

std::ostream& operator<<(std::ostream& os, const Stats& s) {
  return os << "{last_id " << s.last_id << ", locks pending " << s.locks_pending
            << " acquired " << s.locks_acquired << ", resources pending "
            << s.resources_pending << " acquired " << s.resources_acquired
            << ", paths " << s.path_count << '}';
}

std::ostream& operator<<(std::ostream& os, const InspectQuery& query) {
  os << "{path ";
  PrintPath(os, query.path);
  return os << ", limit " << query.limit << ", max_blockers "
            << query.max_blockers << '}';
}

std::ostream& operator<<(std::ostream& os, const LockInfo& info) {
  os << "{id " << info.id << ", " << info.state << ", "
     << ToString(info.resources);
  if (auto waiter = info.waiter.lock()) {
    os << ", waiter " << static_cast<const void*>(waiter.get());
  }
  if (info.state == LockState::kEnqueued || !info.waits_for.empty() ||
      info.waits_for_more) {
    os << ", waits for [";
    const char* sep = "";
    for (LockId id : info.waits_for) {
      os << sep << id;
      sep = ", ";
    }
    if (info.waits_for_more) os << sep << "...";
    os << ']';
  }
  return os << '}';
}

std::ostream& operator<<(std::ostream& os, const Inspection& inspection) {
  os << "{live " << inspection.live << ", locks [";
  const char* sep = "";
  for (const LockInfo& info : inspection.locks) {
    os << sep << info;
    sep = ", ";
  }
  if (inspection.more) os << sep << "...";
  return os << "]}";
}

std::ostream& operator<<(std::ostream& os, const OldestLocks& oldest) {
  os << "{oldest enqueued ";
  if (oldest.enqueued) {
    os << oldest.enqueued->id;
  } else {
    os << "none";
  }
  os << ", oldest acquired ";
  if (oldest.acquired) {
    os << oldest.acquired->id;
  } else {
    os << "none";
  }
  return os << "}";
}

}  // namespace locktopus
