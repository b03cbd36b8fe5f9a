#include "server/core/ha/stream.h"

#include <boost/json.hpp>

#include "server/core/ha/change_codec.h"
#include "server/core/ha/json_number.h"

namespace locktopus::server::ha {
namespace json = boost::json;
namespace {

// Frames into messages of about kPartBytes, each under its header.
template <class Header>
std::vector<std::string> Parts(const std::vector<std::string>& frames,
                               const Header& header) {
  std::vector<std::string> messages;
  std::vector<std::string> parts(1);
  for (const std::string& frame : frames) {
    if (!parts.back().empty() &&
        parts.back().size() + frame.size() > kPartBytes) {
      parts.emplace_back();
    }
    parts.back() += '\n';
    parts.back() += frame;
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    messages.push_back(header(i + 1 == parts.size()) + parts[i]);
  }
  return messages;
}

std::optional<std::uint64_t> Unsigned(const json::object& o,
                                      std::string_view key) {
  return UnsignedOf(o.if_contains(key));
}

}  // namespace

std::vector<std::string> FormatSnapshot(std::int64_t epoch,
                                        const Snapshot& snapshot) {
  std::vector<std::string> frames;
  for (const Change& change : snapshot.changes) {
    frames.push_back(FormatChange({.change = change}));
  }
  return Parts(frames, [&](bool last) {
    return json::serialize(json::object{
        {"epoch", epoch}, {"snapshot", snapshot.position}, {"last", last}});
  });
}

std::vector<std::string> FormatChanges(std::int64_t epoch, Position from,
                                       std::span<const Change> changes) {
  std::vector<std::string> frames;
  Position position = from;
  for (const Change& change : changes) {
    frames.push_back(FormatChange({.position = position++, .change = change}));
  }
  return Parts(frames, [&](bool) {
    return json::serialize(json::object{{"epoch", epoch}});
  });
}

std::string FormatAck(Position position) {
  return json::serialize(json::object{{"ack", position}});
}

std::optional<Position> ParseAck(std::string_view text) {
  boost::system::error_code ec;
  const json::value value = json::parse(text, ec);
  const json::object* o = ec ? nullptr : value.if_object();
  if (o == nullptr || o->size() != 1) return std::nullopt;
  return Unsigned(*o, "ack");
}

// ---- Follower -------------------------------------------------------------

std::optional<Position> Follower::Begin(std::int64_t epoch) {
  MutexLock lock(mu_);
  if (frozen_) return std::nullopt;
  epoch_ = epoch;
  loading_.reset();
  if (whole_ == epoch) return replica_.Applied() + 1;
  whole_ = 0;
  return 0;
}

Follower::Answer Follower::OnMessage(std::string_view text) {
  MutexLock lock(mu_);
  if (frozen_) return {.error = "elected: replicating no more"};
  std::string error = Step(text);
  if (!error.empty()) return {.error = std::move(error)};
  if (loading_) return {};  // more parts to come
  return {.ack = replica_.Applied()};
}

std::string Follower::Step(std::string_view text) {
  const std::size_t eol = text.find('\n');
  boost::system::error_code ec;
  const json::value value = json::parse(text.substr(0, eol), ec);
  const json::object* header = ec ? nullptr : value.if_object();
  const json::value* epoch = header ? header->if_contains("epoch") : nullptr;
  if (epoch == nullptr || !epoch->is_int64()) {
    return "a message without a header";
  }
  if (epoch->get_int64() != epoch_) {
    return "a message of epoch " + std::to_string(epoch->get_int64()) +
           " on a stream of epoch " + std::to_string(epoch_);
  }
  std::vector<ChangeFrame> frames;
  std::string_view rest =
      eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    std::optional<ChangeFrame> frame = ParseChange(rest.substr(0, end));
    if (!frame) return "a change that does not parse";
    frames.push_back(std::move(*frame));
    rest = end == std::string_view::npos ? std::string_view()
                                         : rest.substr(end + 1);
  }
  if (header->contains("snapshot")) {
    const auto position = Unsigned(*header, "snapshot");
    const json::value* last = header->if_contains("last");
    if (!position || last == nullptr || !last->is_bool()) {
      return "a snapshot part without its position";
    }
    if (!loading_) loading_ = Snapshot{.position = *position};
    if (loading_->position != *position) {
      return "a snapshot part of another position";
    }
    for (ChangeFrame& frame : frames) {
      if (frame.position != 0) return "a snapshot's change with a position";
      loading_->changes.push_back(std::move(frame.change));
    }
    if (!last->get_bool()) return {};
    const Status loaded = replica_.Load(*loading_);
    loading_.reset();
    if (!loaded.ok())
      return "the snapshot does not load: " + loaded.error().message;
    whole_ = epoch_;
    return {};
  }
  if (loading_ || whole_ != epoch_) return "changes before the snapshot";
  for (const ChangeFrame& frame : frames) {
    if (frame.position == 0) return "a change without a position";
    switch (replica_.Apply(frame.position, frame.change)) {
      case Replica::Outcome::kApplied:
      case Replica::Outcome::kDuplicate:
        break;
      case Replica::Outcome::kGap:
        return "position " + std::to_string(frame.position) + " after " +
               std::to_string(replica_.Applied());
      case Replica::Outcome::kDiverged:
        whole_ = 0;
        return "diverged: " + replica_.divergence();
    }
  }
  return {};
}

void Follower::Freeze() {
  MutexLock lock(mu_);
  frozen_ = true;
}

bool Follower::Whole(std::int64_t epoch) const {
  MutexLock lock(mu_);
  return epoch != 0 && whole_ == epoch && !loading_;
}

Replica Follower::Take() {
  MutexLock lock(mu_);
  return std::move(replica_);
}

Position Follower::applied() const {
  MutexLock lock(mu_);
  return replica_.Applied();
}

}  // namespace locktopus::server::ha
