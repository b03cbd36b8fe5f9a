#include "bench/held_resources.h"

#include <algorithm>

namespace locktopus::bench {
namespace {

bool IsPrefix(std::span<const std::string> prefix,
              std::span<const std::string> path) {
  return prefix.size() <= path.size() &&
         std::equal(prefix.begin(), prefix.end(), path.begin());
}

std::string DescribePath(std::span<const std::string> path) {
  std::string out = "[";
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += ",";
    out += path[i];
  }
  return out + "]";
}

}  // namespace

bool Overlap(std::span<const std::string> a, std::span<const std::string> b) {
  return IsPrefix(a, b) || IsPrefix(b, a);
}

bool Conflict(Access a, std::span<const std::string> a_path, Access b,
              std::span<const std::string> b_path) {
  return (a == Access::kWrite || b == Access::kWrite) &&
         Overlap(a_path, b_path);
}

bool Conflict(const Resource& a, const Resource& b) {
  return Conflict(a.access, a.path, b.access, b.path);
}

std::string Describe(const Resource& r) {
  return std::string(r.access == Access::kWrite ? "write " : "read ") +
         DescribePath(r.path);
}

bool HeldResources::PathLess::operator()(std::span<const std::string> a,
                                         std::span<const std::string> b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
}

const HeldResources::Entry* HeldResources::Blocker(Table::const_iterator it,
                                                   const Resource& r) {
  for (const Entry& e : it->second) {
    if (Conflict(r.access, r.path, e.access, it->first)) return &e;
  }
  return nullptr;
}

bool HeldResources::Acquire(const Holder& holder,
                            std::span<const Resource> resources) {
  MutexLock lock(mu_);
  bool violated = false;
  // Checked before anything is recorded: a lock's own resources never
  // conflict with each other.
  for (const Resource& r : resources) {
    const std::span<const std::string> path(r.path);
    // Held paths that are prefixes of r's path, r's own path included...
    for (std::size_t n = 0; n <= path.size() && !violated; ++n) {
      auto it = held_.find(path.first(n));
      if (it == held_.end()) continue;
      if (const Entry* e = Blocker(it, r)) {
        Record(holder, r, it->first, *e);
        violated = true;
      }
    }
    // ...and held paths that extend it: they sort right after it.
    for (auto it = held_.upper_bound(path);
         !violated && it != held_.end() && IsPrefix(path, it->first); ++it) {
      if (const Entry* e = Blocker(it, r)) {
        Record(holder, r, it->first, *e);
        violated = true;
      }
    }
    if (violated) break;
  }
  for (const Resource& r : resources) {
    held_[r.path].push_back(Entry{holder, r.access});
  }
  return violated;
}

void HeldResources::Release(const Holder& holder,
                            std::span<const Resource> resources) {
  MutexLock lock(mu_);
  for (const Resource& r : resources) {
    auto it = held_.find(r.path);
    if (it == held_.end()) continue;
    auto& entries = it->second;
    auto mine =
        std::find_if(entries.begin(), entries.end(), [&](const Entry& e) {
          return e.holder.client == holder.client && e.access == r.access;
        });
    if (mine != entries.end()) {
      if (mine != entries.end() - 1) *mine = std::move(entries.back());
      entries.pop_back();
    }
    if (entries.empty()) held_.erase(it);
  }
}

void HeldResources::Record(const Holder& holder, const Resource& r,
                           std::span<const std::string> held_path,
                           const Entry& blocker) {
  if (violations_++ > 0) return;
  first_violation_ =
      "client " + std::to_string(holder.client) + " acquired lock " +
      std::to_string(holder.lock_id) + " with " + Describe(r) +
      " while client " + std::to_string(blocker.holder.client) + " held lock " +
      std::to_string(blocker.holder.lock_id) + " with " +
      Describe(
          Resource{blocker.access, Path(held_path.begin(), held_path.end())});
}

std::uint64_t HeldResources::violations() const {
  MutexLock lock(mu_);
  return violations_;
}

std::string HeldResources::first_violation() const {
  MutexLock lock(mu_);
  return first_violation_;
}

}  // namespace locktopus::bench
