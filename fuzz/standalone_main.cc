// A plain main for the harnesses when libFuzzer is not linked (every preset
// but `fuzz`): runs LLVMFuzzerTestOneInput once on each file named on the
// command line, and on each regular file directly inside each directory
// named, in name order. So the harnesses build and run everywhere, and CTest
// replays the seed corpora under the release and sanitizer presets.
//
//   release/bin/session_fuzzer fuzz/corpus/session crash-1234
//
// Arguments starting with '-' (libFuzzer's flags) are ignored. Exits 1 if a
// path cannot be read or no input was found; a failing check aborts.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

namespace {

namespace fs = std::filesystem;

bool RunFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)),
                                std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                         bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("-")) continue;
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      inputs.emplace_back(arg);
      continue;
    }
    fs::directory_iterator directory(arg, ec);
    if (ec) {
      std::fprintf(stderr, "cannot read %s\n", arg.c_str());
      return 1;
    }
    std::vector<fs::path> files;
    for (const auto& entry : directory) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    inputs.insert(inputs.end(), files.begin(), files.end());
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...: no input found\n",
                 argv[0]);
    return 1;
  }
  for (const fs::path& input : inputs) {
    if (!RunFile(input)) return 1;
  }
  std::fprintf(stderr, "%s: ran %zu inputs\n", argv[0], inputs.size());
  return 0;
}
