#include "client/ctl/inspect.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
#include <set>

#include "locktopus/address.h"
#include "wire/utf8.h"

namespace locktopus::ctl {
using wire::DecodeUtf8;

namespace {

// ---- Text -------------------------------------------------------------

bool Escaped(char32_t c) {
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F) ||  // controls
         c == 0x2028 || c == 0x2029 ||                         // line breaks
         c == 0x061C || c == 0x200E || c == 0x200F ||          // bidi marks
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

bool Wide(char32_t c) {
  static constexpr std::array<std::pair<char32_t, char32_t>, 12> kWide = {{
      {0x1100, 0x115F},
      {0x2E80, 0x303E},
      {0x3041, 0x33FF},
      {0x3400, 0x4DBF},
      {0x4E00, 0x9FFF},
      {0xA000, 0xA4CF},
      {0xAC00, 0xD7A3},
      {0xF900, 0xFAFF},
      {0xFE30, 0xFE4F},
      {0xFF00, 0xFF60},
      {0xFFE0, 0xFFE6},
      {0x1F300, 0x1FAFF},
  }};
  if (c >= 0x20000 && c <= 0x3FFFD) return true;
  return std::any_of(kWide.begin(), kWide.end(), [c](const auto& range) {
    return c >= range.first && c <= range.second;
  });
}

bool ZeroWidth(char32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
         (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
         (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xFE20 && c <= 0xFE2F) ||
         c == 0x200B || c == 0x200C || c == 0x200D;
}

std::size_t Width(char32_t c) {
  if (ZeroWidth(c)) return 0;
  return Wide(c) ? 2 : 1;
}

// `text` (Printable) in at most `width` columns: cut, with "…", if wider.
std::string Fit(const std::string& text, std::size_t width) {
  if (DisplayWidth(text) <= width) return text;
  std::string out;
  std::size_t used = 0;
  for (std::size_t at = 0; at < text.size();) {
    char32_t c = 0;
    const std::size_t length =
        std::max<std::size_t>(DecodeUtf8(text, at, &c), 1);
    if (used + Width(c) + 1 > width) break;
    used += Width(c);
    out.append(text, at, length);
    at += length;
  }
  return out + "…";
}

std::string Pad(const std::string& text, std::size_t width) {
  const std::size_t used = DisplayWidth(text);
  return used >= width ? text : text + std::string(width - used, ' ');
}

std::string Quoted(const std::string& text) {
  return "\"" + Printable(text) + "\"";
}

// The client's name, or else its address: in parentheses in the table,
// where it stands in a column of names.
std::string Who(const wire::ListedLock& lock, bool mark_peer) {
  if (lock.client_name) return Printable(*lock.client_name);
  if (!lock.peer || lock.peer->empty()) return "";
  return mark_peer ? "(" + Printable(*lock.peer) + ")" : Printable(*lock.peer);
}

// How a lock whose client has gone ends: "abandoned, released in 3s", or
// for a detached session "session detached, ends in 3s unless resumed";
// nullopt while its client is connected.
std::optional<std::string> Ending(const wire::ListedLock& lock) {
  if (!lock.release_in_ms) return std::nullopt;
  const std::string in = HumanDuration(*lock.release_in_ms);
  if (lock.detached)
    return "session detached, ends in " + in + " unless resumed";
  return "abandoned, released in " + in;
}

std::string Held(const wire::ListedLock& lock) {
  std::string text =
      (lock.state == LockState::kEnqueued ? "waiting " : "held ") +
      HumanDuration(lock.since_ms);
  if (auto ending = Ending(lock)) text += "; " + *ending;
  return text;
}

const char* StateName(LockState state) {
  return state == LockState::kAcquired ? "acquired" : "enqueued";
}

// IDs waited for, in order, once each.
std::vector<std::uint64_t> Blockers(const wire::ListedLock& lock) {
  std::vector<std::uint64_t> ids = lock.waits_for;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// ---- The table ----------------------------------------------------------

constexpr std::size_t kMaxResourceColumns = 60;
constexpr std::size_t kMaxClientColumns = 40;
constexpr std::size_t kResourceLinesPerLock = 5;
constexpr std::size_t kWaitsForShown = 10;

enum Column { kId, kState, kResources, kClient, kFor, kWaitsFor, kColumns };
using Row = std::array<std::string, kColumns>;

std::vector<Row> TableRows(const wire::LocksPage& listing) {
  std::vector<Row> rows;
  rows.push_back({"ID", "STATE", "RESOURCES", "CLIENT", "FOR", "WAITS FOR"});
  for (const wire::ListedLock& lock : listing.locks) {
    Row row;
    row[kId] = std::to_string(lock.id);
    row[kState] = StateName(lock.state);
    row[kClient] = Fit(Who(lock, /*mark_peer=*/true), kMaxClientColumns);
    row[kFor] = Held(lock);
    if (lock.state == LockState::kEnqueued) {
      const std::vector<std::uint64_t> ids = Blockers(lock);
      for (std::size_t i = 0; i < ids.size() && i < kWaitsForShown; ++i) {
        row[kWaitsFor] += (i > 0 ? " " : "") + std::to_string(ids[i]);
      }
      if (lock.waits_for_more || ids.size() > kWaitsForShown) {
        row[kWaitsFor] += row[kWaitsFor].empty() ? "..." : " ...";
      }
    }
    // One line per resource, the first on the lock's own.
    const std::size_t shown =
        std::min(lock.resources.size(), kResourceLinesPerLock);
    for (std::size_t i = 0; i < std::max<std::size_t>(shown, 1); ++i) {
      if (i > 0) row = Row{};
      if (i < shown) {
        row[kResources] =
            Fit(DescribeResource(lock.resources[i]), kMaxResourceColumns);
      }
      rows.push_back(row);
    }
    if (lock.resources.size() > shown) {
      Row more;
      more[kResources] =
          "+" + std::to_string(lock.resources.size() - shown) + " more";
      rows.push_back(more);
    }
  }
  return rows;
}

// `rows` as lines of columns two spaces apart, each as wide as its widest
// cell; the last column is not padded.
template <std::size_t N>
std::string Columns(const std::vector<std::array<std::string, N>>& rows) {
  std::array<std::size_t, N> widths{};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < N; ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < N; ++c) {
      line += c + 1 < N ? Pad(row[c], widths[c]) + "  " : row[c];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// ---- why --------------------------------------------------------------

constexpr std::size_t kResourcesPerLine = 3;
// Root holders summed up after the graph; the graph itself names them all.
constexpr std::size_t kRootsShown = 10;

// "lock 2  enqueued  read a  (job-2, waiting 9s)"
std::string Describe(const wire::ListedLock& lock) {
  std::string text =
      "lock " + std::to_string(lock.id) + "  " + StateName(lock.state) + "  ";
  for (std::size_t i = 0; i < lock.resources.size() && i < kResourcesPerLine;
       ++i) {
    text += (i > 0 ? ", " : "") +
            Fit(DescribeResource(lock.resources[i]), kMaxResourceColumns);
  }
  if (lock.resources.size() > kResourcesPerLine) {
    text += " +" + std::to_string(lock.resources.size() - kResourcesPerLine) +
            " more";
  }
  const std::string who = Who(lock, /*mark_peer=*/false);
  text += "  (" + (who.empty() ? "" : who + ", ") + Held(lock) + ")";
  return text;
}

class WhyRenderer {
 public:
  WhyRenderer(const WhyGraph& graph, const WhyLimits& limits)
      : graph_(graph), limits_(limits) {}

  std::string Render() {
    const auto found = graph_.locks.find(graph_.id);
    if (found == graph_.locks.end()) return NotFound();
    const wire::ListedLock& lock = found->second;
    out_ = Describe(lock);
    if (lock.state == LockState::kAcquired) {
      out_ += "  <- root\nIt holds its lock: it waits for nothing.\n";
      return out_;
    }
    out_ += "\n";
    std::set<std::uint64_t> chain = {lock.id};
    expanded_.insert(lock.id);
    Walk(lock, "", 1, &chain);
    Footer();
    return out_;
  }

 private:
  std::string NotFound() const {
    const std::string id = std::to_string(graph_.id);
    const std::string ns = "namespace " + Quoted(graph_.ns);
    if (graph_.complete_up_to_id || !graph_.listing_cut) {
      std::string text = "lock " + id + " is not live in " + ns +
                         " (released, cancelled, or never taken)";
      if (graph_.path_text) {
        text +=
            ", or has no resource overlapping " + Printable(*graph_.path_text);
      }
      return text + ".\n";
    }
    const std::string on =
        graph_.path_text ? " overlapping " + Printable(*graph_.path_text) : "";
    return "lock " + id + " is not among the first locks listed" + on + " (" +
           std::to_string(graph_.live) + " live in " + ns + "); name a " +
           (graph_.path_text ? "narrower " : "") +
           "PATH it locks: locktopusctl why " + id + " PATH\n";
  }

  void Walk(const wire::ListedLock& lock, const std::string& prefix,
            std::size_t depth, std::set<std::uint64_t>* chain) {
    std::vector<std::uint64_t> ids = Blockers(lock);
    struct Entry {
      std::uint64_t id = 0;
      enum { kLock, kMore, kNothing } kind = kLock;
    };
    std::vector<Entry> entries;
    entries.reserve(ids.size() + 1);
    for (std::uint64_t id : ids) entries.push_back({id});
    if (lock.waits_for_more) entries.push_back({0, Entry::kMore});
    if (entries.empty()) entries.push_back({0, Entry::kNothing});
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const bool last = i + 1 == entries.size();
      const std::string branch = prefix + (last ? "└─ " : "├─ ");
      const std::string below = prefix + (last ? "   " : "│  ");
      if (lines_ >= limits_.max_locks) {
        out_ += prefix + "└─ ... (cut: more than " +
                std::to_string(limits_.max_locks) + " locks shown)\n";
        cut_ = true;
        return;
      }
      ++lines_;
      const Entry& entry = entries[i];
      if (entry.kind == Entry::kMore) {
        out_ +=
            branch + "waits for more locks than the server lists per lock\n";
        continue;
      }
      if (entry.kind == Entry::kNothing) {
        out_ += branch +
                "waits for no lock that is still live: it is about to be "
                "granted\n";
        continue;
      }
      const std::string head = branch + "waits for ";
      if (chain->count(entry.id) > 0) {
        out_ += head + "lock " + std::to_string(entry.id) +
                "  (a cycle, which the server should never list)\n";
        continue;
      }
      if (expanded_.count(entry.id) > 0) {
        out_ += head + "lock " + std::to_string(entry.id) + "  (above)\n";
        continue;
      }
      const auto found = graph_.locks.find(entry.id);
      if (found == graph_.locks.end()) {
        out_ += head + "lock " + std::to_string(entry.id) +
                "  (not listed: released since, or beyond the listing)\n";
        missing_ = true;
        continue;
      }
      const wire::ListedLock& blocker = found->second;
      expanded_.insert(blocker.id);
      out_ += head + Describe(blocker);
      if (blocker.state == LockState::kAcquired) {
        out_ += "  <- root";
        roots_.insert(blocker.id);
      }
      out_ += "\n";
      if (blocker.state != LockState::kEnqueued) continue;
      if (depth >= limits_.max_depth) {
        out_ += below + "└─ ... (cut: deeper than " +
                std::to_string(limits_.max_depth) + ")\n";
        cut_ = true;
        continue;
      }
      chain->insert(blocker.id);
      Walk(blocker, below, depth + 1, chain);
      chain->erase(blocker.id);
    }
  }

  void Footer() {
    std::size_t shown = 0;
    for (const std::uint64_t id : roots_) {
      if (shown++ == kRootsShown) {
        out_ += "... and " + std::to_string(roots_.size() - kRootsShown) +
                " more roots, above\n";
        break;
      }
      const wire::ListedLock& root = graph_.locks.at(id);
      const std::string who = root.client_name
                                  ? Printable(*root.client_name)
                                  : std::string("a client without a name");
      std::vector<std::string> details;
      if (root.peer && !root.peer->empty()) {
        details.push_back("peer " + Printable(*root.peer));
      }
      if (root.connection) {
        details.push_back("connection " + std::to_string(*root.connection));
      }
      if (auto ending = Ending(root)) details.push_back(*ending);
      std::string line = "Root: lock " + std::to_string(id) + ", held " +
                         HumanDuration(root.since_ms) + " by " + who;
      for (std::size_t i = 0; i < details.size(); ++i) {
        line += (i == 0 ? " (" : ", ") + details[i];
      }
      if (!details.empty()) line += ")";
      out_ += (id == *roots_.begin() ? "\n" : "") + line + "\n";
    }
    if (cut_) {
      out_ +=
          "The graph was cut; ask about a lock further down with "
          "locktopusctl why ID.\n";
    }
    if (graph_.requests_cut) {
      out_ += "Stopped after " + std::to_string(limits_.max_requests) +
              " requests to the server: the graph may lack locks.\n";
    } else if (missing_ && graph_.listing_cut) {
      out_ +=
          "Some listings were cut at their limit: a lock not listed "
          "may still be live.\n";
    }
  }

  const WhyGraph& graph_;
  const WhyLimits& limits_;
  std::string out_;
  std::set<std::uint64_t> expanded_;  // printed in full once, above
  std::set<std::uint64_t> roots_;
  std::size_t lines_ = 0;
  bool cut_ = false;
  bool missing_ = false;
};

}  // namespace

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char hex[12];
  for (std::size_t at = 0; at < text.size();) {
    char32_t c = 0;
    const std::size_t length = DecodeUtf8(text, at, &c);
    if (length == 0) {
      std::snprintf(hex, sizeof hex, "\\x%02x",
                    static_cast<unsigned char>(text[at]));
      out += hex;
      ++at;
      continue;
    }
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
      out += hex;
    } else if (Escaped(c)) {
      std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(c));
      out += hex;
    } else {
      out.append(text, at, length);
    }
    at += length;
  }
  return out;
}

std::size_t DisplayWidth(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t at = 0; at < text.size();) {
    char32_t c = 0;
    const std::size_t length = DecodeUtf8(text, at, &c);
    width += length == 0 ? 1 : Width(c);
    at += std::max<std::size_t>(length, 1);
  }
  return width;
}

std::string HumanDuration(std::uint64_t ms) {
  char text[32];
  const std::uint64_t s = ms / 1000;
  if (ms < 1000) {
    std::snprintf(text, sizeof text, "%llums",
                  static_cast<unsigned long long>(ms));
  } else if (s < 60) {
    std::snprintf(text, sizeof text, "%llus",
                  static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%llum%02llus",
                  static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(text, sizeof text, "%lluh%02llum",
                  static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  } else {
    std::snprintf(text, sizeof text, "%llud%02lluh",
                  static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  }
  return text;
}

std::string DescribeResource(const Resource& resource) {
  return std::string(resource.access == Access::kWrite ? "write " : "read ") +
         Printable(client::FormatPath(resource.path));
}

std::string RenderLockTable(const wire::LocksPage& listing,
                            const std::optional<std::string>& path) {
  const std::string on = path ? " overlapping " + Printable(*path) : "";
  const std::string in = "namespace " + Quoted(listing.ns);
  if (listing.locks.empty()) {
    return "No live locks" + on + " in " + in + " (" +
           std::to_string(listing.live) + " live in all).\n";
  }
  std::string out = Columns(TableRows(listing));
  out += "\n" + std::to_string(listing.locks.size()) + " listed" + on + ", " +
         std::to_string(listing.live) + " live in " + in + ".";
  if (listing.more) {
    out += " More match: raise --limit (up to 1000)" +
           std::string(path ? "" : " or name a PATH") + ".";
  }
  return out + "\n";
}

std::string RenderNamespaceTable(const wire::NamespacesPage& page,
                                 const std::string& filter) {
  const std::string containing =
      filter.empty() ? "" : " containing " + Quoted(filter);
  const std::string counts = std::to_string(page.open) + " open now, " +
                             std::to_string(page.opened) +
                             " opened since the start";
  if (page.namespaces.empty()) {
    return "No open namespace" + containing + " (" + counts + ").\n";
  }
  std::vector<std::array<std::string, 3>> rows = {
      {"ACQUIRED", "ENQUEUED", "NAMESPACE"}};
  for (const wire::ListedNamespace& ns : page.namespaces) {
    rows.push_back({std::to_string(ns.locks_acquired),
                    std::to_string(ns.locks_pending), Printable(ns.name)});
  }
  std::string out = Columns(rows);
  out += "\n" + std::to_string(page.namespaces.size()) + " listed" +
         containing + ", " + counts + ".";
  if (page.more) out += " More match: raise --limit (up to 1000).";
  return out + "\n";
}

WhyGraph CollectWhy(std::uint64_t id,
                    const std::optional<std::vector<std::string>>& path,
                    std::optional<std::string> path_text,
                    const FetchListing& fetch, const WhyLimits& limits) {
  WhyGraph graph;
  graph.id = id;
  graph.path_text = std::move(path_text);
  std::set<std::optional<std::vector<std::string>>> asked;
  const auto ask = [&](const std::optional<std::vector<std::string>>& where) {
    if (asked.count(where) > 0) return;
    if (asked.size() >= limits.max_requests) {
      graph.requests_cut = true;
      return;
    }
    const bool first = asked.empty();
    asked.insert(where);
    wire::LocksPage listing = fetch(where);
    if (first) {
      graph.ns = listing.ns;
      graph.live = listing.live;
      // Listings ascend by ID: one that reached past `id` would hold it.
      graph.complete_up_to_id =
          !listing.more ||
          (!listing.locks.empty() && listing.locks.back().id >= id);
    }
    graph.listing_cut = graph.listing_cut || listing.more;
    for (wire::ListedLock& lock : listing.locks) {
      const std::uint64_t lock_id = lock.id;
      graph.locks.try_emplace(lock_id, std::move(lock));
    }
  };

  ask(path);
  if (graph.locks.count(id) == 0) return graph;
  // Breadth first, so that a bound cuts the far end of the graph.
  std::deque<std::uint64_t> todo = {id};
  std::set<std::uint64_t> seen = {id};
  while (!todo.empty() && seen.size() < limits.max_locks) {
    const wire::ListedLock& lock = graph.locks.at(todo.front());
    todo.pop_front();
    for (const std::uint64_t blocker : lock.waits_for) {
      // A blocker conflicts with the lock, so it overlaps one of its
      // resources: it is in the listing of that resource's path.
      for (const Resource& resource : lock.resources) {
        if (graph.locks.count(blocker) > 0) break;
        ask(resource.path);
      }
      if (graph.locks.count(blocker) > 0 && seen.insert(blocker).second) {
        todo.push_back(blocker);
      }
    }
  }
  return graph;
}

std::string RenderWhy(const WhyGraph& graph, const WhyLimits& limits) {
  return WhyRenderer(graph, limits).Render();
}

}  // namespace locktopus::ctl
