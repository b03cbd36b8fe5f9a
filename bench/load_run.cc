#include "bench/load_run.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/url/parse.hpp>
#include <functional>
#include <iostream>
#include <latch>
#include <thread>

#include "bench/client.h"
#include "bench/ping.h"
#include "bench/proc_stats.h"
#include "bench/redis_client.h"
#include "bench/syscall_count.h"

namespace locktopus::bench {
namespace {

// Handshakes in flight while opening connections: enough to open 10,000
// quickly, few enough not to overflow the server's accept backlog.
constexpr int kParallelConnects = 256;
// At the end, load clients finish their last cycle. Behind a long queue that
// takes a while; a client is stuck when nobody finished for this long.
constexpr auto kDrainPatience = std::chrono::seconds(10);
constexpr auto kClosePatience = std::chrono::seconds(5);
// Lets the server finish allocating for new connections before its RSS is read.
constexpr auto kSettle = std::chrono::milliseconds(500);
// How many stuck clients are named on stderr.
constexpr int kStuckNamed = 10;

using ClientList = std::vector<std::shared_ptr<LoadClient>>;

std::shared_ptr<LoadClient> MakeClient(net::io_context& ioc, Shared& shared,
                                       int number, LoadClient::Role role) {
  if (shared.target.protocol == Target::Protocol::kRedis) {
    return std::make_shared<RedisClient>(ioc, shared, number, role);
  }
  return std::make_shared<Client>(ioc, shared, number, role);
}

// Runs the io_context on `count` threads until Stop.
class IoThreads {
 public:
  IoThreads(net::io_context& ioc, int count)
      : ioc_(ioc), guard_(net::make_work_guard(ioc)) {
    for (int i = 0; i < count; ++i)
      threads_.emplace_back([&ioc] { ioc.run(); });
  }
  ~IoThreads() { Stop(); }
  void Stop() {
    guard_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  net::io_context& ioc_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

// Opens `count` clients numbered from `first`, at most kParallelConnects
// handshakes at a time; returns once each has connected or failed, with the
// number that connected in `open`.
ClientList Open(net::io_context& ioc, Shared& shared, int first, int count,
                LoadClient::Role role, int& open) {
  ClientList clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(MakeClient(ioc, shared, first + i, role));
  }
  std::latch done(count);
  std::atomic<int> next{0};
  std::atomic<int> connected{0};
  std::function<void()> launch = [&] {
    const int i = next.fetch_add(1);
    if (i >= count) return;
    clients[i]->Connect([&](bool ok) {
      if (ok) connected.fetch_add(1);
      launch();
      done.count_down();  // the last thing that touches this frame
    });
  };
  for (int i = 0; i < std::min(count, kParallelConnects); ++i) launch();
  done.wait();
  open = connected.load();
  return clients;
}

// Waits until `count` reaches `target`, giving up once it has not moved for
// `patience`.
void WaitForProgress(const std::atomic<int>& count, int target,
                     Clock::duration patience) {
  int last = count.load();
  auto deadline = Clock::now() + patience;
  while (last < target && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (const int now = count.load(); now != last) {
      last = now;
      deadline = Clock::now() + patience;
    }
  }
}

std::optional<ProcSample> Read(const std::optional<int>& pid) {
  if (!pid) return std::nullopt;
  auto sample = ReadProc(*pid);
  if (!sample) {
    std::cerr << "locktopus-bench: cannot read /proc/" << *pid << "\n";
  }
  return sample;
}

std::optional<ProcSample> ReadServer(const LoadOptions& o) {
  return Read(o.server_pid);
}

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(s));
}

// Opens the idle connections and records the server's RSS around them.
ClientList OpenIdle(net::io_context& ioc, Shared& shared, const LoadOptions& o,
                    Results& r) {
  r.idle_requested = o.idle;
  const auto before = ReadServer(o);
  ClientList idle = Open(ioc, shared, o.clients, o.idle,
                         LoadClient::Role::kIdle, r.idle_open);
  std::this_thread::sleep_for(kSettle);
  const auto after = ReadServer(o);
  if (before && after) {
    r.idle_rss_before_kb = before->rss_kb;
    r.idle_rss_after_kb = after->rss_kb;
  }
  return idle;
}

struct Window {
  std::optional<ProcSample> start;  // the server at the window's edges
  std::optional<ProcSample> end;
  std::optional<ProcSample> standby_start;  // and the standby, if any
  std::optional<ProcSample> standby_end;
};

// What a process did between two samples, per cycle.
ProcessCost Cost(const std::optional<ProcSample>& start,
                 const std::optional<ProcSample>& end, std::uint64_t cycles) {
  if (!start || !end || cycles == 0) return {};
  const auto per_cycle = [cycles](double from, double to) {
    return (to - std::min(from, to)) / static_cast<double>(cycles);
  };
  return {
      .cpu_us = per_cycle(start->cpu_us, end->cpu_us),
      .system_us = per_cycle(start->system_us, end->system_us),
      .voluntary_switches =
          per_cycle(static_cast<double>(start->voluntary_switches),
                    static_cast<double>(end->voluntary_switches)),
      .involuntary_switches =
          per_cycle(static_cast<double>(start->involuntary_switches),
                    static_cast<double>(end->involuntary_switches)),
  };
}

// Counts the server's system calls for `seconds` while the clients go on
// cycling, with the cycles completed meanwhile. Failures leave the count
// out and say why on stderr.
void CountSyscalls(int pid, double seconds, Shared& shared, Results& r) {
  std::string why;
  auto count = SyscallCount::Attach(pid, why);
  if (count && count->Enable(why)) {
    shared.counting.store(true);
    std::this_thread::sleep_for(Seconds(seconds));
    shared.counting.store(false);
    if (count->Disable(why)) {
      const auto calls = count->Finish(why);
      const std::uint64_t cycles = shared.counted_cycles.load();
      if (calls && cycles > 0) {
        r.syscall_cycles = cycles;
        r.server_syscalls_per_cycle = static_cast<double>(*calls) / cycles;
        return;
      }
      if (calls) why = "no cycle completed while counting";
    }
  }
  std::cerr << "locktopus-bench: server system calls not counted: " << why
            << "\n";
}

// Lets the load clients cycle through the warm-up and the window (and the
// window for system calls), then waits for them to finish their last
// cycle; counts those that do not.
Window Measure(const ClientList& load, int open, Shared& shared,
               const LoadOptions& o, Results& r) {
  shared.window_start = Clock::now() + Seconds(o.warmup_s);
  shared.window_end = shared.window_start + Seconds(o.duration_s);
  for (const auto& c : load) c->Start();

  Window window;
  std::this_thread::sleep_until(shared.window_start);
  window.start = ReadServer(o);
  window.standby_start = Read(o.standby_pid);
  std::this_thread::sleep_until(shared.window_end);
  window.end = ReadServer(o);
  window.standby_end = Read(o.standby_pid);
  r.window_s = o.duration_s;
  if (o.server_pid && o.syscall_window_s > 0) {
    CountSyscalls(*o.server_pid, o.syscall_window_s, shared, r);
  }
  shared.stopping.store(true);

  WaitForProgress(shared.finished_load, open, kDrainPatience);
  r.stuck = static_cast<std::uint64_t>(open - shared.finished_load.load());
  int named = 0;
  for (const auto& c : load) {
    const LoadClient::State s = c->state();
    if (s == LoadClient::State::kEnded || named == kStuckNamed) continue;
    std::cerr << "locktopus-bench: client " << c->number()
              << " never finished its last cycle: still " << Name(s) << "\n";
    ++named;
  }
  return window;
}

// Before the load, on a connection of its own (bench/ping.h); a ping that
// does not come back is a protocol error.
void MeasurePings(const LoadOptions& o, const Target& target, Results& r) {
  if (target.protocol != Target::Protocol::kWebSocket) return;
  std::string error;
  std::vector<std::int64_t> ns = PingRoundTrips(target, o.pings, error);
  r.ping = Summarize(ns);
  if (!error.empty()) {
    ++r.protocol_errors;
    r.first_error = error;
  }
}

}  // namespace

Result<Target> ResolveTarget(std::string_view url) {
  auto bad = [](std::string message) {
    return Error{Error::Code::kInvalidArgument, std::move(message)};
  };
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return bad("bad URL [" + std::string(url) +
               "]: " + parsed.error().message());
  }
  const boost::urls::url_view& u = *parsed;
  Target::Protocol protocol;
  std::string default_port;
  if (u.scheme() == "ws") {
    protocol = Target::Protocol::kWebSocket;
    default_port = "80";
  } else if (u.scheme() == "redis") {
    protocol = Target::Protocol::kRedis;
    default_port = "6379";
  } else {
    return bad("only ws:// and redis:// URLs are supported: " +
               std::string(url));
  }
  const std::string host = u.host();
  const std::string port =
      u.port().empty() ? default_port : std::string(u.port());
  std::string target(u.encoded_target());
  if (target.empty()) target = "/";
  const auto session = u.params().find("session");
  const bool new_session = session != u.params().end() &&
                           (*session).has_value && (*session).value == "new";

  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec || endpoints.empty()) {
    return Error{Error::Code::kUnavailable,
                 "cannot resolve " + host + ":" + port + ": " + ec.message()};
  }
  return Target{protocol, *endpoints.begin(), host + ":" + port, target,
                new_session};
}

Results RunLoad(const LoadOptions& o, const Target& target) {
  Results r;
  r.url = o.url;
  r.redis = target.protocol == Target::Protocol::kRedis;
  r.clients = o.clients;
  r.threads = o.threads;
  r.workload = o.workload;

  Shared shared(target, o.workload);
  net::io_context ioc;  // after `shared`, which every client refers to
  ClientList idle;      // after `ioc`: sockets close before it ends
  ClientList load;
  Window window;
  {
    if (o.pings > 0) MeasurePings(o, shared.target, r);
    IoThreads threads(ioc, o.threads);
    if (o.idle > 0) idle = OpenIdle(ioc, shared, o, r);
    if (o.clients > 0) {
      int open = 0;
      load = Open(ioc, shared, 0, o.clients, LoadClient::Role::kLoad, open);
      if (open > 0) window = Measure(load, open, shared, o, r);
    }
    for (const auto& c : idle) c->Close();
    WaitForProgress(shared.finished_idle, r.idle_open, kClosePatience);
    for (const auto& c : load) c->Abort();
    for (const auto& c : idle) c->Abort();
  }  // the threads have stopped: the clients' samples may be read

  std::vector<std::int64_t> acquire;
  std::vector<std::int64_t> cycle;
  for (const auto& c : load) {
    const Samples& s = c->samples();
    acquire.insert(acquire.end(), s.acquire_ns.begin(), s.acquire_ns.end());
    cycle.insert(cycle.end(), s.cycle_ns.begin(), s.cycle_ns.end());
    r.enqueued += s.enqueued;
  }
  r.cycles = cycle.size();
  r.acquire = Summarize(acquire);
  r.cycle = Summarize(cycle);
  if (window.start && window.end) r.server_rss_kb = window.end->rss_kb;
  r.server = Cost(window.start, window.end, r.cycles);
  r.standby = Cost(window.standby_start, window.standby_end, r.cycles);
  r.connect_failures = shared.connect_failures.load();
  r.protocol_errors += shared.protocol_errors.load();
  r.unexpected_closes = shared.unexpected_closes.load();
  if (r.first_error.empty()) r.first_error = shared.first_error();
  r.violations = shared.held.violations();
  r.first_violation = shared.held.first_violation();
  return r;
}

}  // namespace locktopus::bench
