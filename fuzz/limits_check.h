// The check both limit harnesses make (request_parser, http_front_door): one
// input read twice, under the default limits and under tighter ones picked by
// a leading selector byte, and both answers held to docs/protocol.md's rules,
// each alone and the two against each other:
//   - an accepted answer the limits bear on is within the limits it was
//     read under;
//   - a refusal under the defaults is a refusal under the tighter limits;
//   - an answer the limits do not bear on is the same under both;
//   - an answer within the tighter limits is the same under both;
//   - an answer over a tighter limit is a refusal that names it
//     ("over max-...").
// What the input, the limits and the answers are, and the harness's own
// rules for one answer, come from a Traits type:
//
//   struct Traits {
//     using Limits = ...;  // default-constructed: the defaults
//     using Answer = ...;  // equality-comparable
//     static constexpr std::string_view kHarness = "request_parser";
//     static constexpr std::string_view kInput = "frame";      // in reports
//     static constexpr std::string_view kAnswer = "message";   // in reports
//     static Limits Tight(std::uint8_t selector);  // each at most the default
//     static Answer Read(std::string_view input, const Limits& limits);
//     static std::string Describe(const Limits& limits);
//     static std::string Describe(const Answer& answer);
//     // A refusal that tighter limits may give; its text.
//     static bool Refused(const Answer& answer);
//     static std::string_view RefusalText(const Answer& answer);
//     // Whether the limits bear on an answer that is not Refused.
//     static bool Limited(const Answer& answer);
//     static bool WithinLimits(const Answer& answer, std::string_view input,
//                              const Limits& limits);
//     // The harness's own rules for one answer.
//     static void CheckAlone(const LimitsCheck<Traits>& check,
//                            const Answer& answer, const Limits& limits);
//   };
//
// Thread safety: a plain value; Require aborts the process on a broken rule.

#ifndef LOCKTOPUS_FUZZ_LIMITS_CHECK_H_
#define LOCKTOPUS_FUZZ_LIMITS_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/byte_reader.h"
#include "fuzz/report.h"

namespace locktopus::fuzz {

template <typename Traits>
class LimitsCheck {
 public:
  using Limits = typename Traits::Limits;
  using Answer = typename Traits::Answer;

  // The whole check of one fuzzer input: the selector byte, then the input.
  static void Run(const std::uint8_t* data, std::size_t size) {
    ByteReader in(data, size);
    const Limits tight_limits = Traits::Tight(in.Byte());
    const std::string_view input = in.Rest();

    const Limits defaults;
    const Answer loose = Traits::Read(input, defaults);
    const Answer tight = Traits::Read(input, tight_limits);
    const LimitsCheck check(input);
    check.Alone(loose, defaults);
    check.Alone(tight, tight_limits);
    check.Agree(loose, tight, tight_limits);
  }

  explicit LimitsCheck(std::string_view input) : input_(input) {}

  std::string_view input() const { return input_; }

  // Reports `what` with the input, the limits and the answer, and aborts,
  // unless `ok`.
  void Require(bool ok, const std::string& what, const Answer& answer,
               const Limits& limits) const {
    if (ok) return;
    Fail(Traits::kHarness,
         what + "\n" + std::string(Traits::kInput) + ": " + Quoted(input_) +
             "\nlimits: " + Traits::Describe(limits) + "\n" +
             std::string(Traits::kAnswer) + ": " + Traits::Describe(answer));
  }

  // docs/protocol.md's rules for one answer, read under `limits`.
  void Alone(const Answer& answer, const Limits& limits) const {
    if (!Traits::Refused(answer) && Traits::Limited(answer)) {
      Require(Traits::WithinLimits(answer, input_, limits),
              "an accepted answer over a limit", answer, limits);
    }
    Traits::CheckAlone(*this, answer, limits);
  }

  // The default limits' answer against the tighter limits' answer.
  void Agree(const Answer& loose, const Answer& tight,
             const Limits& tight_limits) const {
    const std::string defaults =
        " (the defaults give " + Traits::Describe(loose) + ")";
    if (Traits::Refused(loose)) {
      Require(Traits::Refused(tight),
              "refused under the defaults, not under tighter limits" + defaults,
              tight, tight_limits);
    } else if (!Traits::Limited(loose)) {
      Require(tight == loose, "the answer depends on the limits" + defaults,
              tight, tight_limits);
    } else if (Traits::WithinLimits(loose, input_, tight_limits)) {
      Require(tight == loose,
              "within the tighter limits, but answered differently" + defaults,
              tight, tight_limits);
    } else {
      Require(Traits::Refused(tight) &&
                  Traits::RefusalText(tight).find("over max-") !=
                      std::string_view::npos,
              "over a tighter limit, but not refused naming it" + defaults,
              tight, tight_limits);
    }
  }

 private:
  std::string_view input_;
};

}  // namespace locktopus::fuzz

#endif  // LOCKTOPUS_FUZZ_LIMITS_CHECK_H_
