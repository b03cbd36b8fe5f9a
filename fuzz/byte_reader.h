// Turns a fuzzer's input bytes into decisions, for the harnesses that decode
// a scripted history (engine_vs_model, session) or take a leading selector
// byte (request_parser, http_front_door).
//
// Every read succeeds: once the input is used up, reads return 0 and empty
// strings, so a decoder never needs to check for the end except to stop its
// main loop (empty()). Mutating one byte changes one decision, which keeps
// the inputs easy for libFuzzer to shrink and for a person to write by hand.
//
// Thread safety: a plain value over bytes it does not own.

#ifndef LOCKTOPUS_FUZZ_BYTE_READER_H_
#define LOCKTOPUS_FUZZ_BYTE_READER_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <vector>

#include "engine/types.h"

namespace locktopus::fuzz {

class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size)
      : data_(data), size_(size) {}

  bool empty() const { return pos_ == size_; }

  // The next byte, or 0 when none is left.
  std::uint8_t Byte() { return empty() ? 0 : data_[pos_++]; }

  // The next byte reduced to [0, n); n must be > 0.
  std::size_t Below(std::size_t n) { return Byte() % n; }

  // Up to `n` next bytes as text (fewer if the input ends).
  std::string_view Text(std::size_t n) {
    const std::size_t take = n < size_ - pos_ ? n : size_ - pos_;
    std::string_view text(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return text;
  }

  // Every byte left, as text.
  std::string_view Rest() { return Text(size_ - pos_); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// A path of `depth` segments over "a", "b", "c": one byte per segment
// (mod 3).
inline Path ReadPath(ByteReader& in, int depth) {
  static constexpr std::string_view kSegments[] = {"a", "b", "c"};
  Path path;
  for (int i = 0; i < depth; ++i) {
    path.emplace_back(kSegments[in.Below(std::size(kSegments))]);
  }
  return path;
}

// A lock's resources in the shape the property test uses, so that paths
// collide often: 1 to 4 resources, each read or write, with a path of depth
// 0 to 3 over the segments "a", "b", "c".
//
// Encoding: one byte for the count (low 2 bits + 1); per resource one byte
// (bit 0: write; bits 1-2: depth) and then its path (ReadPath).
inline std::vector<Resource> ReadResources(ByteReader& in) {
  std::vector<Resource> resources(1 + in.Byte() % 4);
  for (Resource& r : resources) {
    const std::uint8_t head = in.Byte();
    r.access = (head & 1) != 0 ? Access::kWrite : Access::kRead;
    r.path = ReadPath(in, (head >> 1) & 3);
  }
  return resources;
}

}  // namespace locktopus::fuzz

#endif  // LOCKTOPUS_FUZZ_BYTE_READER_H_
