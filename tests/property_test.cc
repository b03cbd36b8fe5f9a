// Stateful property test: random request/release histories run against the
// engine and the reference model, compared after every step: each step's
// number and answer, the locks it acquired each with the waiter its request
// named, every lock's state, the statistics, and the answer to a random
// Inspect query. A failure prints the shrunk history.
//
// 10,000 histories by default; RC_PARAMS overrides it for long runs, e.g.
//   RC_PARAMS="max_success=1000000" build/release/bin/property_test
//   RC_PARAMS="reproduce=..." to replay a failure RapidCheck printed.

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/engine.h"
#include "model/model_space.h"
#include "server/core/connection.h"
#include "server/core/force_release.h"
#include "server/core/lock_service.h"
#include "server/core/session.h"
#include "tests/fake_io.h"
#include "wire/codec.h"

namespace locktopus {
namespace {

using Model = model::ModelSpace;
using Command = rc::state::Command<Model, LockSpace>;

// Segments from an alphabet of three, depth 0 to 3, so that paths collide.
rc::Gen<Path> GenPath() {
  return rc::gen::mapcat(rc::gen::inRange(0, 4), [](int depth) {
    return rc::gen::container<Path>(
        depth, rc::gen::element<std::string>("a", "b", "c"));
  });
}

rc::Gen<Resource> GenResource() {
  return rc::gen::build<Resource>(
      rc::gen::set(&Resource::access,
                   rc::gen::element(Access::kRead, Access::kWrite)),
      rc::gen::set(&Resource::path, GenPath()));
}

// Paths as the resources', small limits so that they cut.
rc::Gen<InspectQuery> GenQuery() {
  return rc::gen::build<InspectQuery>(
      rc::gen::set(&InspectQuery::path, GenPath()),
      rc::gen::set(&InspectQuery::limit, rc::gen::inRange<std::size_t>(0, 7)),
      rc::gen::set(&InspectQuery::max_blockers,
                   rc::gen::inRange<std::size_t>(0, 5)));
}

rc::Gen<std::vector<Resource>> GenResources() {
  return rc::gen::mapcat(rc::gen::inRange(1, 5), [](int n) {
    return rc::gen::container<std::vector<Resource>>(n, GenResource());
  });
}

// After every step: the engine agrees with the model on every lock's state,
// on the statistics and on `query`'s answer, and the model's own invariants
// hold for the engine's states.
void CheckAgreement(const Model& model, const LockSpace& engine,
                    const InspectQuery& query) {
  const Stats stats = engine.GetStats();
  RC_ASSERT(stats == model.GetStats());
  RC_ASSERT(engine.Inspect(query) == model.Inspect(query));
  RC_ASSERT(engine.Oldest() == model.Oldest());
  for (LockId id = 1; id <= stats.last_id + 1; ++id) {
    RC_ASSERT(engine.State(id) == model.State(id));
  }
  const auto& live = model.Live();
  for (std::size_t i = 0; i < live.size(); ++i) {
    const LockState state = engine.State(live[i].id);
    bool blocked = false;
    for (std::size_t j = 0; j < live.size(); ++j) {
      if (j == i) continue;
      const bool conflict =
          model::Conflicts(live[i].resources, live[j].resources);
      if (j < i && conflict) blocked = true;
      if (conflict && state == LockState::kAcquired) {
        // No two conflicting locks are ever acquired together.
        RC_ASSERT(engine.State(live[j].id) != LockState::kAcquired);
      }
    }
    // An enqueued lock waits for an earlier live conflicting lock.
    RC_ASSERT(state == (blocked ? LockState::kEnqueued : LockState::kAcquired));
  }
}

// The waiter of one request. Only compared: the engine must hand it back
// with the lock's acquisition (the model says when), and never call it.
class Waiter final : public locktopus::Waiter {
 public:
  void Notify(LockId) override {
    std::fprintf(stderr, "the engine called a waiter\n");
    std::abort();
  }
};

struct RequestCommand : Command {
  std::vector<Resource> resources = *GenResources();
  std::shared_ptr<Waiter> waiter = std::make_shared<Waiter>();
  InspectQuery query = *GenQuery();  // asked after the step

  void apply(Model& model) const override { model.Request(resources, waiter); }

  void run(const Model& before, LockSpace& engine) const override {
    Model model = before;
    const RequestResult want = model.Request(resources, waiter);
    RC_ASSERT(engine.Request(resources, waiter) == want);
    CheckAgreement(model, engine, query);
  }

  void show(std::ostream& os) const override {
    os << "Request " << ToString(resources) << "; Inspect " << query;
  }
};

struct ReleaseCommand : Command {
  LockId id;
  InspectQuery query = *GenQuery();  // asked after the step

  // Mostly a live lock, enqueued or acquired; sometimes any ID at all.
  explicit ReleaseCommand(const Model& model) {
    std::vector<LockId> live;
    for (const auto& lock : model.Live()) live.push_back(lock.id);
    const LockId last = model.GetStats().last_id;
    id = live.empty() || *rc::gen::inRange(0, 10) == 0
             ? *rc::gen::inRange<LockId>(0, last + 2)
             : *rc::gen::elementOf(live);
  }

  void apply(Model& model) const override { model.Release(id); }

  void run(const Model& before, LockSpace& engine) const override {
    Model model = before;
    const ReleaseResult want = model.Release(id);
    RC_ASSERT(engine.Release(id) == want);
    CheckAgreement(model, engine, query);
  }

  void show(std::ostream& os) const override {
    os << "Release " << id << "; Inspect " << query;
  }
};

// The last ID raised (SkipTo), by -1 to 3 from where it is: lowering and
// equal change nothing.
struct SkipCommand : Command {
  int by = *rc::gen::inRange(-1, 4);
  InspectQuery query = *GenQuery();  // asked after the call

  LockId Target(const Model& model) const {
    const LockId last = model.GetStats().last_id;
    if (by < 0) return last == 0 ? 0 : last - 1;
    return last + static_cast<LockId>(by);
  }
  void apply(Model& model) const override { model.SkipTo(Target(model)); }

  void run(const Model& before, LockSpace& engine) const override {
    Model model = before;
    apply(model);
    engine.SkipTo(Target(before));
    CheckAgreement(model, engine, query);
  }

  void show(std::ostream& os) const override {
    os << "SkipTo last + " << by << "; Inspect " << query;
  }
};

RC_GTEST_PROP(EngineMatchesModel, RandomHistories, ()) {
  Model model;
  LockSpace engine;
  rc::state::check(
      model, engine,
      rc::state::gen::execOneOfWithArgs<RequestCommand, RequestCommand,
                                        RequestCommand, ReleaseCommand,
                                        ReleaseCommand, SkipCommand>());
}

// ---- Sessions: the server's connections against the reference model -----
//
// A few clients, the first ones with resumable sessions (server/core/
// session.h), the others plain connections, speak to one namespace through
// fake transports; commands lock, release, detach, resume, let a session's
// window pass and force-release. The reference model is driven as
// docs/semantics.md "Sessions" says: a detachment changes nothing; an
// expiry is the lock's release; a force release is its release too; a
// resume reports the model's state of the lock, an enqueued lock the model
// has acquired meanwhile being reported acquired. After every command, and
// after every notice has been delivered, the engine's live locks are the
// model's and every attached client believes (from the frames it got) what
// the model says of its lock.

constexpr std::size_t kClients = 4;
constexpr std::size_t kSessionClients = 2;  // clients 0 and 1
constexpr std::string_view kNs = "p";

// What a client should believe of its lock.
struct ClientModel {
  bool session = false;
  bool attached = true;  // a transport speaks for it (a plain one: open)
  bool closed = false;   // its transport was closed with 4000
  bool expired = false;  // a session's window passed
  wire::ConnState state = wire::ConnState::kReady;
  LockId lock = 0;
  // Whether it may send frames now.
  bool Speaks() const { return attached && !closed && !expired; }
};

struct SessionsModel {
  Model space;
  std::array<ClientModel, kClients> clients;

  SessionsModel() {
    for (std::size_t c = 0; c < kSessionClients; ++c) {
      clients[c].session = true;
    }
  }

  // Every attached client whose enqueued lock the model has acquired is
  // told so (a detached session hears of it when it resumes).
  void Tell() {
    for (ClientModel& client : clients) {
      if (client.attached && !client.expired &&
          client.state == wire::ConnState::kEnqueued &&
          space.State(client.lock) == LockState::kAcquired) {
        client.state = wire::ConnState::kAcquired;
      }
    }
  }
  // The client's lock ends, as its release would end it.
  void End(ClientModel& client) {
    if (client.state != wire::ConnState::kReady) space.Release(client.lock);
    client.state = wire::ConnState::kReady;
    Tell();
  }
};

// One client of the server: its current transport, its Connection (plain)
// or session, and what it believes from the frames it got.
struct ClientSut {
  std::shared_ptr<testing::FakeIo> io = std::make_shared<testing::FakeIo>();
  std::vector<std::shared_ptr<testing::FakeIo>> left;  // transports left
  std::unique_ptr<server::Connection> conn;            // plain
  std::shared_ptr<server::ClientSession> session;
  std::string token;
  std::size_t read = 0;  // frames of io read
  wire::ConnState state = wire::ConnState::kReady;
  LockId lock = 0;
};

struct SessionsSut {
  std::shared_ptr<server::LockService> service =
      std::make_shared<server::LockService>();
  server::NamespaceHold ns = service->Open(kNs);
  server::ConnectionConfig config;
  std::shared_ptr<server::SessionTable> table =
      std::make_shared<server::SessionTable>(kClients, nullptr);
  std::array<ClientSut, kClients> clients;

  SessionsSut() {
    config.abandon_timeout = std::chrono::milliseconds(1000);
    for (std::size_t c = 0; c < kClients; ++c) {
      ClientSut& client = clients[c];
      if (c >= kSessionClients) {
        client.conn = std::make_unique<server::Connection>(
            ns, config, *client.io, client.io);
        continue;
      }
      client.session = table->Create(ns, config);
      client.token = client.session->token().Text();
      RC_ASSERT(client.session->Attach(client.io, nullptr));
      ++client.read;  // the `new` frame
    }
  }
  ~SessionsSut() {
    // Ends every session's Connection while its namespace lives.
    for (ClientSut& client : clients) {
      if (client.session != nullptr) client.session->OnClosed(client.io.get());
    }
  }

  // Delivers what every transport was told, as the network shell does on
  // its strand, until nothing is left (a session passes on what reaches a
  // transport it has left).
  void Settle() {
    for (bool again = true; again;) {
      again = false;
      for (ClientSut& client : clients) {
        std::vector<std::shared_ptr<testing::FakeIo>> all = client.left;
        all.push_back(client.io);
        for (const auto& t : all) {
          again = again || !t->notices.empty() || !t->force_released.empty();
          if (client.session == nullptr) {
            testing::Deliver(*t, *client.conn);
            continue;
          }
          for (LockId id : std::exchange(t->notices, {})) {
            client.session->OnAcquired(t.get(), id);
          }
          for (LockId id : std::exchange(t->force_released, {})) {
            client.session->OnForceReleased(t.get(), id);
          }
        }
      }
    }
  }

  // Reads the frames the client got since the last read: answers, a
  // session's frame, the force release's error frame.
  void Read(ClientSut& client) {
    for (; client.read < client.io->sent.size(); ++client.read) {
      const std::string& frame = client.io->sent[client.read];
      if (const auto session = wire::ParseSessionFrame(frame)) {
        RC_ASSERT(session->state == wire::SessionFrame::kResumed);
        RC_ASSERT(session->token == client.token);
        client.state = session->lock;
        client.lock = session->id;
        continue;
      }
      const auto message = wire::ParseServerMessage(frame);
      RC_ASSERT(message.has_value());
      if (std::holds_alternative<wire::ErrorFrame>(*message)) {
        RC_ASSERT(frame == wire::FormatError(server::kForceReleasedReason));
        RC_ASSERT(client.io->closed_with == server::kForceReleasedCloseCode);
        client.state = wire::ConnState::kReady;
        continue;
      }
      const auto& answer = std::get<wire::Answer>(*message);
      if (answer.action == wire::Action::kRelease) {
        RC_ASSERT(answer.id == client.lock &&
                  client.state != wire::ConnState::kReady);
      } else if (client.state == wire::ConnState::kEnqueued) {
        // The later notice: once, for the lock it waits for.
        RC_ASSERT(answer.id == client.lock &&
                  answer.state == wire::ConnState::kAcquired);
      } else {
        RC_ASSERT(client.state == wire::ConnState::kReady);
      }
      client.state = answer.state;
      client.lock = answer.id;
    }
  }

  // The engine has the model's live locks, and every client that a
  // transport speaks for believes what the model says; transports left
  // hear nothing.
  void Check(const SessionsModel& model) {
    Settle();
    const Stats stats = ns->GetStats();
    const Stats want = model.space.GetStats();
    RC_ASSERT(stats.last_id == want.last_id);
    RC_ASSERT(stats.locks_acquired == want.locks_acquired);
    RC_ASSERT(stats.locks_pending == want.locks_pending);
    for (LockId id = 1; id <= stats.last_id + 1; ++id) {
      RC_ASSERT(ns->State(id) == model.space.State(id));
    }
    for (std::size_t c = 0; c < kClients; ++c) {
      ClientSut& client = clients[c];
      const ClientModel& m = model.clients[c];
      Read(client);
      if (m.session && (!m.attached || m.expired)) continue;
      RC_ASSERT(client.state == m.state);
      if (m.state != wire::ConnState::kReady) RC_ASSERT(client.lock == m.lock);
      if (client.conn != nullptr) {
        RC_ASSERT(client.conn->state() == m.state);
        RC_ASSERT(client.conn->lock_id() ==
                  (m.state == wire::ConnState::kReady ? 0 : m.lock));
      }
      for (const auto& t : client.left) RC_ASSERT(t->sent.empty());
    }
  }
};

using SessionCommand = rc::state::Command<SessionsModel, SessionsSut>;

// A client for which `eligible` holds, or the command is discarded.
template <typename Pred>
std::size_t PickClient(const SessionsModel& model, Pred eligible) {
  std::vector<std::size_t> ok;
  for (std::size_t c = 0; c < kClients; ++c) {
    if (eligible(model.clients[c])) ok.push_back(c);
  }
  RC_PRE(!ok.empty());
  return *rc::gen::elementOf(ok);
}

// A client's command: `Eligible` says when it may run, `Apply` what it does
// to the model, `Run` what it does to the server.
template <typename Derived>
struct ClientCommand : SessionCommand {
  std::size_t c;
  explicit ClientCommand(const SessionsModel& model)
      : c(PickClient(model, Derived::Eligible)) {}
  void checkPreconditions(const SessionsModel& model) const override {
    RC_PRE(Derived::Eligible(model.clients[c]));
  }
  void apply(SessionsModel& model) const override {
    static_cast<const Derived*>(this)->Apply(model, model.clients[c]);
  }
  void run(const SessionsModel& before, SessionsSut& sut) const override {
    SessionsModel after = before;
    apply(after);
    static_cast<const Derived*>(this)->Run(before, after, sut, sut.clients[c]);
    sut.Check(after);
  }
  void show(std::ostream& os) const override {
    os << Derived::kName << " client " << c;
  }
};

struct SessionLock : ClientCommand<SessionLock> {
  static constexpr const char* kName = "Lock";
  std::vector<Resource> resources = *GenResources();
  using ClientCommand::ClientCommand;
  static bool Eligible(const ClientModel& m) {
    return m.Speaks() && m.state == wire::ConnState::kReady;
  }
  void Apply(SessionsModel& model, ClientModel& m) const {
    const RequestResult result = model.space.Request(resources);
    m.lock = result.id;
    m.state = result.acquired ? wire::ConnState::kAcquired
                              : wire::ConnState::kEnqueued;
    model.Tell();
  }
  void Run(const SessionsModel&, const SessionsModel&, SessionsSut&,
           ClientSut& client) const {
    const std::string frame = wire::FormatLock(resources);
    if (client.session != nullptr) {
      client.session->OnFrame(client.io.get(), frame);
    } else {
      client.conn->OnFrame(frame);
    }
  }
  void show(std::ostream& os) const override {
    os << "Lock client " << c << " " << ToString(resources);
  }
};

struct SessionRelease : ClientCommand<SessionRelease> {
  static constexpr const char* kName = "Release";
  using ClientCommand::ClientCommand;
  static bool Eligible(const ClientModel& m) {
    return m.Speaks() && m.state != wire::ConnState::kReady;
  }
  void Apply(SessionsModel& model, ClientModel& m) const { model.End(m); }
  void Run(const SessionsModel&, const SessionsModel&, SessionsSut&,
           ClientSut& client) const {
    if (client.session != nullptr) {
      client.session->OnFrame(client.io.get(), testing::kRelease);
    } else {
      client.conn->OnFrame(testing::kRelease);
    }
  }
};

// The session's transport ends: nothing changes but that.
struct SessionDetach : ClientCommand<SessionDetach> {
  static constexpr const char* kName = "Detach";
  using ClientCommand::ClientCommand;
  static bool Eligible(const ClientModel& m) {
    return m.session && m.attached && !m.expired;
  }
  void Apply(SessionsModel&, ClientModel& m) const {
    m.attached = false;
    m.closed = false;
  }
  void Run(const SessionsModel&, const SessionsModel&, SessionsSut& sut,
           ClientSut& client) const {
    const std::size_t sent = client.io->sent.size();
    client.session->OnClosed(client.io.get());
    RC_ASSERT(client.io->sent.size() == sent);
    // One timer, of the window (the abandon timeout).
    RC_ASSERT(client.io->timers.size() == 1);
    RC_ASSERT(client.io->timers.back().first == sut.config.abandon_timeout);
  }
};

// A new transport presents the token and takes the session over; one still
// attached is closed with 4409. The `resumed` frame tells the model's state
// of the lock.
struct SessionResume : ClientCommand<SessionResume> {
  static constexpr const char* kName = "Resume";
  using ClientCommand::ClientCommand;
  static bool Eligible(const ClientModel& m) { return m.session; }
  void Apply(SessionsModel& model, ClientModel& m) const {
    if (m.expired) return;
    m.attached = true;
    m.closed = false;
    model.Tell();
  }
  void Run(const SessionsModel& before, const SessionsModel& after,
           SessionsSut& sut, ClientSut& client) const {
    const ClientModel& was = before.clients[c];
    const ClientModel& m = after.clients[c];
    const auto found = sut.table->Find(client.token, kNs, "192.0.2.1");
    if (was.expired) {
      RC_ASSERT(found == nullptr);
      return;
    }
    RC_ASSERT(found == client.session);
    std::shared_ptr<testing::FakeIo> old = client.io;
    client.left.push_back(old);
    client.io = std::make_shared<testing::FakeIo>();
    client.read = 0;
    const std::size_t old_sent = old->sent.size();
    RC_ASSERT(client.session->Attach(client.io, nullptr));
    RC_ASSERT(old->moved_with ==
              (was.attached ? server::kSessionMovedCloseCode : 0));
    RC_ASSERT(old->sent.size() == old_sent);
    old->sent.clear();  // what it heard before it was left
    RC_ASSERT(client.io->sent.size() == 1);
    const auto frame = wire::ParseSessionFrame(client.io->sent[0]);
    RC_ASSERT(frame.has_value());
    RC_ASSERT(frame->lock == m.state);
    RC_ASSERT(frame->id == (m.state == wire::ConnState::kReady ? 0 : m.lock));
    // An acquired lock's `resumed` frame goes through SendGrant.
    RC_ASSERT(client.io->grants.size() ==
              (m.state == wire::ConnState::kAcquired ? 1u : 0u));
  }
};

// The window of the session's latest detachment passes: its lock ends.
struct SessionExpire : ClientCommand<SessionExpire> {
  static constexpr const char* kName = "Expire";
  using ClientCommand::ClientCommand;
  static bool Eligible(const ClientModel& m) {
    return m.session && !m.attached && !m.expired;
  }
  void Apply(SessionsModel& model, ClientModel& m) const {
    model.End(m);
    m.expired = true;
  }
  void Run(const SessionsModel&, const SessionsModel&, SessionsSut& sut,
           ClientSut& client) const {
    RC_ASSERT(!client.io->timers.empty());
    auto fire = std::move(client.io->timers.back().second);
    client.io->timers.pop_back();
    fire();
    RC_ASSERT(sut.table->Find(client.token, kNs, "192.0.2.1") == nullptr);
    RC_ASSERT(
        !client.session->Attach(std::make_shared<testing::FakeIo>(), nullptr));
  }
};

// An operator ends the client's lock: the engine's release; the attached
// transport gets close 4000, a detached session's resume finds `none`.
struct SessionForceRelease : ClientCommand<SessionForceRelease> {
  static constexpr const char* kName = "ForceRelease";
  using ClientCommand::ClientCommand;
  static bool Eligible(const ClientModel& m) {
    return !m.expired && m.state != wire::ConnState::kReady;
  }
  void Apply(SessionsModel& model, ClientModel& m) const {
    model.End(m);
    if (m.attached) m.closed = true;
  }
  void Run(const SessionsModel& before, const SessionsModel&, SessionsSut& sut,
           ClientSut&) const {
    const auto forced =
        server::ForceRelease(*sut.service, kNs, before.clients[c].lock);
    RC_ASSERT(forced.has_value());
    RC_ASSERT(forced->detached == !before.clients[c].attached);
  }
};

RC_GTEST_PROP(SessionsMatchModel, RandomHistories, ()) {
  SessionsModel model;
  SessionsSut sut;
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<
                       SessionLock, SessionLock, SessionRelease, SessionDetach,
                       SessionResume, SessionExpire, SessionForceRelease>());
}

}  // namespace
}  // namespace locktopus

int main(int argc, char** argv) {
  // RapidCheck reads RC_PARAMS on first use; give it our default unless the
  // caller chose their own.
  setenv("RC_PARAMS", "max_success=10000", /*overwrite=*/0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
