// locktopusctl: take a Locktopus lock from the shell and run a command while
// holding it; read a server's status, namespaces and statistics; list its
// live locks and say what a waiting lock waits for; end another client's
// lock as an operator.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <variant>

#include "client/ctl/client_name.h"
#include "client/ctl/command_line.h"
#include "client/ctl/inspect.h"
#include "client/ctl/run_locked.h"
#include "client/ctl/status.h"
#include "locktopus/address.h"
#include "locktopus/client.h"
#include "util/cli_number.h"
#include "util/version.h"
#include "wire/pages.h"

namespace {
using namespace locktopus::client;
using namespace locktopus::ctl;
namespace wire = locktopus::wire;
using locktopus::NumberIn;

constexpr const char* kFooter =
    R"(Server address: --url ws://HOST:PORT/v1?namespace=NS (or LOCKTOPUS_URL),
then --host, --port and --namespace override its parts. Defaults:
127.0.0.1, 9009, namespace "default". Every subcommand works in that
namespace (`stats NAMESPACE` also names it, as it always has).

TLS: a wss:// (or https://) URL, or --tls. The server's certificate must
chain to the system's trust store or to --ca-file (LOCKTOPUS_CA_FILE), and
name the host. Token: --token (better LOCKTOPUS_TOKEN, which `ps` does not
show) or --token-file FILE (its first line that is neither blank nor a
#-comment), sent as "Authorization: Bearer"; it is never printed.

`lock` names its connection "HOST:PID COMMAND ARGS..." (cut to 128 bytes;
an argument holding the token, or following --token, written <token>) for
the server's logs and lock listings; --client-name NAME names it
otherwise.

Paths: segments separated by '/', "%2F" for a '/' and "%25" for a '%'
inside a segment; "/" alone is the whole namespace.

The command finds the lock's ID, its fencing token, in LOCKTOPUS_LOCK_ID.

The command runs in a process group of its own: the job is the command and
every process it starts (unless one leaves the group, as a daemon does).
The lock is released only once every process of the job has ended, so a
process left behind keeps it. At a terminal the job gets the foreground
while it runs, and the terminal's Ctrl-C reaches the whole job directly.

SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to locktopusctl are passed on to
the whole job while it runs, and ask it to stop: processes of the job that
still run --kill-grace after the first (default 5s) get SIGKILL. So does
--kill-on-loss's SIGTERM, which comes when the lock is lost; its SIGKILL
comes no later than the abandon timeout after the server was last heard
from. A signal that comes before the command starts
releases the lock (or cancels the request) at once; one that comes after
the command has ended is passed on to what is left of the job; either way
the exit code is then 128+N.

The lock is lost when the server has been silent for the abandon timeout
less max(1/5 of it, 200ms) (with neither --abandon-timeout nor a session: a
ping unanswered for 5s), or an operator releases it. `lock` holds it in a
resumable session (--no-session or LOCKTOPUS_SESSION=false: not; a server
without sessions needs that): when the connection drops, or is silent for
half that limit, it reconnects and resumes the session, the command running
on, and the lock is lost only if that fails before the same limit has
passed since the server was last heard from, or the server says the
session is gone. Without a session a drop loses the lock at once.

Exit codes of `lock`: the command's own code; 128+N if it was killed by
signal N, or signal N came when there was no command to pass it to; 2 bad
command line; 3 --timeout passed (the lock is cancelled); 4 cannot
connect, handshake refused, protocol error or connection lost before the
command started; 5 the lock was lost while the job ran (the connection
dropped), whether --kill-on-loss stopped the job or it ran to its end,
unless --lost-ok asks for the command's code; 126 command not executable;
127 command not found. `stats`, `status`, `namespaces`, `locks`, `why` and
`release`: 0 printed (an empty listing prints nothing on stdout and a line
saying so on stderr; `locks` of a namespace that is not open lists no
lock), 1 if the server answered an error (e.g. `stats` of a namespace that
is not open, `release` of a lock that is not live, or 401 for a missing
token), 4 if it cannot be reached (TLS refused included) or its answer
cannot be read.)";

// Locks per listing that `why` asks for: the most the server lists.
constexpr unsigned kWhyListingLimit = 1000;

struct AddressFlags {
  std::string url;
  std::string host;
  std::optional<std::uint16_t> port;
  std::string ns;
  bool tls = false;
  std::string ca_file;
  std::optional<std::string> token;
  std::string token_file;
};

// The token of a token file: its first line that is neither blank nor a
// #-comment, trimmed, as the server reads its --auth-token-file (so that
// one file can serve both). Throws std::invalid_argument, never naming
// what the file holds.
std::string ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read --token-file " + path);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t begin = line.find_first_not_of(" \t\r\f\v");
    if (begin == std::string::npos || line[begin] == '#') continue;
    const std::size_t end = line.find_last_not_of(" \t\r\f\v");
    return line.substr(begin, end - begin + 1);
  }
  throw std::invalid_argument("--token-file " + path + " holds no token");
}

ServerAddress Resolve(const AddressFlags& flags) {
  ServerAddress address;
  address.ns = "default";
  if (!flags.url.empty()) {
    const ServerAddress parsed = ParseUrl(flags.url);
    address.host = parsed.host;
    address.port = parsed.port;
    if (!parsed.ns.empty()) address.ns = parsed.ns;
    address.abandon_timeout_ms = parsed.abandon_timeout_ms;
    address.tls = parsed.tls;
    address.client_name = parsed.client_name;
  }
  if (!flags.host.empty()) address.host = flags.host;
  if (flags.port) address.port = *flags.port;
  if (!flags.ns.empty()) address.ns = flags.ns;
  if (flags.tls) address.tls = true;
  address.ca_file = flags.ca_file;
  if (!flags.token_file.empty()) {
    address.token = ReadTokenFile(flags.token_file);
  } else if (flags.token) {
    address.token = *flags.token;
  } else if (const char* token = std::getenv("LOCKTOPUS_TOKEN")) {
    address.token = token;
  }
  return address;
}

// The name `lock` gives its connection: --client-name, else the URL's
// client=, else "HOST:PID COMMAND..." (without `token`).
std::string ClientName(const std::optional<std::string>& flag,
                       const std::string& from_url,
                       const std::vector<std::string>& command,
                       const std::string& token) {
  if (flag) {
    if (flag->empty() || FitClientName(*flag) != *flag) {
      throw std::invalid_argument(
          "--client-name must be 1 to 128 bytes of UTF-8 without control "
          "characters");
    }
    return *flag;
  }
  if (!from_url.empty()) return from_url;
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return DefaultClientName(host, static_cast<long>(getpid()), command, token);
}

// `seconds` (as the duration flags give them) in milliseconds.
std::chrono::milliseconds Milliseconds(double seconds) {
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

// Says on stderr that the server holds every acquisition for the grace
// after a takeover (docs/ha.md), when its /readyz says it is in one: a lock
// enqueued then may wait for the grace, not for another holder. Asked only
// of a lock that was enqueued, within a few seconds; a server that cannot
// say is left alone.
void SayIfInGrace(ServerAddress address) {
  constexpr std::string_view kGrace = "grace: ";
  address.connect_timeout =
      std::min(address.connect_timeout, std::chrono::milliseconds(2000));
  std::string readiness;
  try {
    readiness = FetchReadiness(address);
  } catch (const Error&) {
    return;
  }
  if (!readiness.starts_with(kGrace)) return;
  std::cerr << "locktopusctl: waiting: the server is in its grace after a "
               "failover or restart, "
            << Printable(readiness.substr(kGrace.size())) << "\n";
}

// Says on stderr what became of the session (one write per line: the
// Client's background thread may call this).
void SaySessionEvent(SessionEvent event, const std::string& detail) {
  std::string line = "locktopusctl: ";
  switch (event) {
    case SessionEvent::kResuming:
      line += "connection to the server dropped (" + detail +
              "); resuming the session, which keeps the lock meanwhile\n";
      break;
    case SessionEvent::kResumed:
      line += "session resumed: " + detail + "\n";
      break;
    case SessionEvent::kLost:
      line += "session lost: " + detail + "\n";
      break;
  }
  std::cerr << line << std::flush;
}

int LockAndRun(const ServerAddress& address,
               const std::vector<Resource>& resources,
               std::optional<double> timeout_s,
               const std::vector<std::string>& command,
               const JobOptions& options) {
  // Before the Client starts its threads, which inherit the mask.
  BlockSignals();
  std::optional<std::chrono::milliseconds> timeout;
  if (timeout_s) timeout = Milliseconds(*timeout_s);
  try {
    Client client(address);
    client.on_session_event(SaySessionEvent);
    // No lock yet: closing the connection leaves nothing behind.
    if (const int signal = TakeSignal()) return ExitOnSignal(signal);
    JobOptions job = options;
    // The session's window, which the server sent, when no flag said it.
    if (!job.abandon_timeout) job.abandon_timeout = client.abandon_timeout();
    Lock lock = client.lock(resources);
    return RunLocked(client, lock, timeout, command, job);
  } catch (const Error& e) {
    std::cerr << "locktopusctl: " << e.what() << "\n";
    // A signal that came meanwhile is not lost either.
    if (const int signal = TakeSignal()) return ExitOnSignal(signal);
    return kExitServer;
  }
}

// Runs `print`, which asks the server and prints what it answered: exit 0,
// 1 if the server said no, 4 if it cannot be reached or its answer cannot
// be read.
int Fetch(const std::function<void()>& print) {
  try {
    print();
    return 0;
  } catch (const HttpError& e) {
    std::cerr << "locktopusctl: " << e.what() << "\n";
    return kExitHttpError;
  } catch (const Error& e) {
    std::cerr << "locktopusctl: " << e.what() << "\n";
    return kExitServer;
  }
}

// A listing's text: on stdout; or, when nothing is listed, nothing there
// and the sentence saying so on stderr, so that a script reading stdout
// sees no line.
void PrintListing(const std::string& text, bool empty) {
  (empty ? std::cerr : std::cout) << text;
}

// Whether `e` is the server's answer for a namespace that is not open:
// nobody holds a lock in it (or ever did), so it has no live lock. A
// server without the inspector answers 404 "Not found" instead.
bool NamespaceNotOpen(const HttpError& e) {
  return e.status() == 404 && e.body() == "Namespace not found";
}

// One /locks_v1 listing, read; that of a namespace that is not open is
// empty. ProtocolError if it cannot be read.
wire::LocksPage GetListing(const ServerAddress& address,
                           const LocksQuery& query) {
  std::string text;
  try {
    text = FetchLocks(address, address.ns, query);
  } catch (const HttpError& e) {
    if (!NamespaceNotOpen(e)) throw;
    return wire::LocksPage{.ns = address.ns};
  }
  auto parsed = wire::ParseLocksPage(text);
  if (!parsed.ok()) {
    throw ProtocolError("cannot read the answer of /locks_v1: " +
                        parsed.error().message);
  }
  return std::move(parsed).value();
}

int ListLocks(const ServerAddress& address,
              const std::optional<std::string>& path_text,
              std::optional<unsigned> limit) {
  return Fetch([&] {
    LocksQuery query;
    if (path_text) query.path = ParsePath(*path_text);
    query.limit = limit;
    const wire::LocksPage listing = GetListing(address, query);
    PrintListing(RenderLockTable(listing, path_text), listing.locks.empty());
  });
}

int ListNamespaces(const ServerAddress& address, const std::string& filter,
                   std::optional<unsigned> limit, bool json) {
  return Fetch([&] {
    const std::string text = FetchNamespaces(address, filter, limit);
    auto parsed = wire::ParseNamespacesPage(text);
    if (!parsed.ok()) {
      throw ProtocolError("cannot read the answer of /namespaces_v1: " +
                          parsed.error().message);
    }
    if (json) {
      std::cout << text << "\n";
      return;
    }
    PrintListing(RenderNamespaceTable(parsed.value(), filter),
                 parsed.value().namespaces.empty());
  });
}

int PrintStatus(const ServerAddress& address, bool json) {
  return Fetch([&] {
    ServerStatus status;
    status.server = address.host + ":" + std::to_string(address.port);
    status.tls = address.tls;
    try {
      status.state = FetchReadiness(address);
      status.ready = true;
    } catch (const HttpError& e) {
      if (e.status() != 503) throw;
      status.state = e.body();
    }
    if (locktopus::Status read = ReadMetrics(FetchMetrics(address), &status);
        !read.ok()) {
      throw ProtocolError("cannot read the answer of /metrics: " +
                          read.error().message);
    }
    std::cout << (json ? StatusJson(status) : RenderStatus(status));
  });
}

int Why(const ServerAddress& address, std::uint64_t id,
        const std::optional<std::string>& path_text) {
  return Fetch([&] {
    std::optional<std::vector<std::string>> path;
    if (path_text) path = ParsePath(*path_text);
    const WhyGraph graph =
        CollectWhy(id, path, path_text,
                   [&](const std::optional<std::vector<std::string>>& where) {
                     return GetListing(address, {.path = where,
                                                 .limit = kWhyListingLimit,
                                                 .blockers = std::nullopt});
                   });
    std::cout << RenderWhy(graph);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "locktopusctl: run commands under Locktopus locks, read a "
      "server's status, namespaces and statistics, inspect its live locks, "
      "end one as an operator",
      "locktopusctl"};
  app.get_formatter()->column_width(30);
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version",
                       "locktopusctl " + std::string(locktopus::kVersion),
                       "Print the version and exit");

  AddressFlags flags;
  app.add_option("--url", flags.url,
                 "Server URL, ws://HOST:PORT/v1?namespace=NS (wss:// for "
                 "TLS)")
      ->envname("LOCKTOPUS_URL");
  app.add_option("--host", flags.host, "Server host (overrides the URL's)");
  app.add_option("--port", flags.port, "Server port (overrides the URL's)")
      ->check(NumberIn<std::uint16_t>());
  app.add_option("--namespace", flags.ns, "Namespace (overrides the URL's)");
  app.add_flag("--tls", flags.tls,
               "Speak TLS (wss://, https://), as a wss:// URL does");
  app.add_option("--ca-file", flags.ca_file,
                 "PEM file of the CA(s) to trust for TLS instead of the "
                 "system's store")
      ->envname("LOCKTOPUS_CA_FILE")
      ->check(CLI::ExistingFile);
  CLI::Option* token_flag = app.add_option(
      "--token", flags.token,
      "Bearer token for a server with --auth-token-file (or LOCKTOPUS_TOKEN)");
  app.add_option("--token-file", flags.token_file,
                 "Read the token from FILE (its first line that is neither "
                 "blank nor a #-comment)")
      ->excludes(token_flag);

  CLI::App* lock = app.add_subcommand(
      "lock",
      "Take a lock, run COMMAND while holding it, release it, and exit "
      "with COMMAND's code");
  std::vector<std::string> writes, reads, command;
  std::optional<double> timeout_s;
  std::optional<std::uint64_t> abandon_ms;
  bool kill_on_loss = false, lost_ok = false, session = true;
  double kill_grace_s = 5;
  lock->add_option("-w,--write", writes,
                   "PATH to lock for writing (repeatable)")
      ->allow_extra_args(false);
  lock->add_option("-r,--read", reads, "PATH to lock for reading (repeatable)")
      ->allow_extra_args(false);
  AddDurationOption(*lock, "--timeout", timeout_s,
                    "Give up waiting for the lock after DUR (500ms, 10s, 2m, "
                    "1h; a plain number is seconds): cancel it and exit 3");
  lock->add_option("--abandon-timeout", abandon_ms,
                   "Milliseconds the server keeps the lock if this connection "
                   "drops (default: the server's)")
      ->check(NumberIn<std::uint64_t>());
  lock->add_flag("--kill-on-loss", kill_on_loss,
                 "Stop the job (SIGTERM to its process group, SIGKILL after "
                 "--kill-grace) if the connection to the server is lost while "
                 "it runs");
  AddDurationOption(*lock, "--kill-grace", kill_grace_s,
                    "Time the job has to end once asked to stop (a signal, "
                    "--kill-on-loss) before SIGKILL (DUR as for --timeout; "
                    "default 5s)");
  lock->add_flag("--lost-ok", lost_ok,
                 "Exit with COMMAND's code even if the lock was lost while "
                 "the job ran (else 5)");
  lock->add_flag("--session,!--no-session", session,
                 "Hold the lock in a resumable session (the default): if the "
                 "connection drops, reconnect and resume it within its "
                 "window, the command running on; --no-session: a drop "
                 "loses the lock (for a server without sessions)")
      ->envname("LOCKTOPUS_SESSION");
  std::optional<std::string> client_name;
  lock->add_option("--client-name", client_name,
                   "Name of this connection in the server's logs and lock "
                   "listings (default: HOST:PID COMMAND ARGS...)");
  lock->add_option("command", command, "-- COMMAND [ARGS...]")->required();

  CLI::App* stats = app.add_subcommand(
      "stats", "Print the namespace's statistics (JSON of /stats_v1)");
  std::optional<std::string> stats_ns;
  stats->add_option("NAMESPACE", stats_ns,
                    "The namespace, as --namespace names it (kept for "
                    "compatibility; overrides --namespace)");

  CLI::App* status = app.add_subcommand(
      "status",
      "Print whether the server takes clients, and its connections, "
      "namespaces, locks and lock memory (/readyz, /metrics)");
  bool status_json = false;
  status->add_flag("--json", status_json, "Print one JSON object instead");

  CLI::App* namespaces = app.add_subcommand(
      "namespaces",
      "List the busiest open namespaces, with their acquired and enqueued "
      "locks (/namespaces_v1)");
  std::string namespaces_filter;
  std::optional<unsigned> namespaces_limit;
  bool namespaces_json = false;
  namespaces->add_option("--filter", namespaces_filter,
                         "Only namespaces whose name contains TEXT");
  // The --limit of a listing: 1..1000, as the server takes it.
  const auto add_limit = [](CLI::App* listing, std::optional<unsigned>& limit,
                            const std::string& what, unsigned fallback) {
    listing
        ->add_option("--limit", limit,
                     "List at most N " + what + " (default: the server's, " +
                         std::to_string(fallback) + ")")
        ->check(NumberIn(1u, 1000u));
  };
  add_limit(namespaces, namespaces_limit, "namespaces", 20);
  namespaces->add_flag("--json", namespaces_json,
                       "Print the server's JSON instead");

  CLI::App* locks = app.add_subcommand(
      "locks",
      "List the namespace's live locks: state, resources, client, how long "
      "held or waiting, what each waits for (/locks_v1)");
  std::optional<std::string> locks_path;
  std::optional<unsigned> locks_limit;
  locks->add_option("PATH", locks_path,
                    "Only locks with a resource overlapping PATH");
  add_limit(locks, locks_limit, "locks", 100);

  CLI::App* why = app.add_subcommand(
      "why", "Show what lock ID waits for, down to the holders at the root");
  std::uint64_t why_id = 0;
  std::optional<std::string> why_path;
  why->add_option("ID", why_id, "Lock ID")->required();
  why->add_option("PATH", why_path,
                  "A path the lock holds or waits on, to find it among more "
                  "than 1000 live locks");

  CLI::App* release = app.add_subcommand(
      "release",
      "End the live lock ID of another client, as an operator: it is "
      "released (cancelled if enqueued), its waiters move on, and its "
      "holder's connection is closed with code 4000 (DELETE /locks_v1)");
  bool release_force = false;
  std::uint64_t release_id = 0;
  release->add_flag("--force", release_force,
                    "Required: say that you mean to end a lock this command "
                    "does not hold");
  release->add_option("ID", release_id, "Lock ID")
      ->required()
      ->check(NumberIn<std::uint64_t>(1));

  // CLI11 never sees the token, and so never quotes it.
  const HiddenTokens hidden = HideTokens(argc, argv);
  std::vector<std::string> secrets = hidden.tokens;
  if (const char* token = std::getenv("LOCKTOPUS_TOKEN")) {
    secrets.emplace_back(token);
  }
  std::vector<const char*> args;
  for (const std::string& arg : hidden.args) args.push_back(arg.c_str());

  ServerAddress address;
  std::vector<Resource> resources;
  try {
    app.parse(static_cast<int>(args.size()), args.data());
    // CLI11 took one --token at most, and had kHiddenToken for it.
    if (flags.token && !hidden.tokens.empty()) {
      flags.token = hidden.tokens.front();
    }
    if (stats_ns) flags.ns = *stats_ns;
    try {
      address = Resolve(flags);
      if (abandon_ms) address.abandon_timeout_ms = abandon_ms;
      for (const auto& p : writes) resources.push_back(Write(ParsePath(p)));
      for (const auto& p : reads) resources.push_back(Read(ParsePath(p)));
      if (lock->parsed()) {
        address.session = session;
        address.client_name = ClientName(client_name, address.client_name,
                                         command, address.token);
      }
      // Parsed here too, so that a bad PATH is a usage error (exit 2).
      if (locks->parsed() && locks_path) ParsePath(*locks_path);
      if (why->parsed() && why_path) ParsePath(*why_path);
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError(e.what());
    }
    if (lock->parsed() && resources.empty()) {
      throw CLI::ValidationError("lock needs at least one -w or -r PATH");
    }
    if (release->parsed() && !release_force) {
      throw CLI::ValidationError(
          "release ends a lock another client holds or waits for: ask for it "
          "with --force");
    }
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "locktopusctl: " << UsageMessage(e, app, secrets) << "\n"
              << "Run with --help for the options.\n";
    return kExitUsage;
  }

  if (lock->parsed()) {
    std::optional<std::chrono::milliseconds> abandon;
    if (address.abandon_timeout_ms) {
      // Capped where no server's limit reaches, so that time adds up.
      abandon = std::chrono::milliseconds(static_cast<std::int64_t>(
          std::min<std::uint64_t>(*address.abandon_timeout_ms, 1ULL << 53)));
    }
    return LockAndRun(address, resources, timeout_s, command,
                      {.kill_on_loss = kill_on_loss,
                       .kill_grace = Milliseconds(kill_grace_s),
                       .abandon_timeout = abandon,
                       .lost_ok = lost_ok,
                       .on_enqueued = [&address] { SayIfInGrace(address); }});
  }
  if (stats->parsed()) {
    return Fetch([&] { std::cout << FetchStats(address, address.ns) << "\n"; });
  }
  if (status->parsed()) return PrintStatus(address, status_json);
  if (namespaces->parsed()) {
    return ListNamespaces(address, namespaces_filter, namespaces_limit,
                          namespaces_json);
  }
  if (locks->parsed()) return ListLocks(address, locks_path, locks_limit);
  if (why->parsed()) return Why(address, why_id, why_path);
  if (release->parsed()) {
    return Fetch([&] {
      std::cout << ForceRelease(address, address.ns, release_id) << "\n";
    });
  }
  return kExitUsage;
}
