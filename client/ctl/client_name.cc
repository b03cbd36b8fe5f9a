#include "client/ctl/client_name.h"

#include "wire/utf8.h"

namespace locktopus::ctl {

using wire::DecodeUtf8;

std::string FitClientName(std::string_view text, std::size_t max_bytes) {
  std::string name;
  for (std::size_t at = 0; at < text.size();) {
    char32_t c = 0;
    const std::size_t length = DecodeUtf8(text, at, &c);
    std::string_view piece;
    if (length == 0) {
      piece = "?";
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F)) {
      piece = " ";
    } else {
      piece = text.substr(at, length);
    }
    if (name.size() + piece.size() > max_bytes) break;
    name += piece;
    at += length == 0 ? 1 : length;
  }
  return name;
}

std::string DefaultClientName(std::string_view host, long pid,
                              const std::vector<std::string>& command,
                              std::string_view token) {
  std::string name = std::string(host) + ":" + std::to_string(pid);
  bool after_token_flag = false;
  for (const std::string& arg : command) {
    if (arg.starts_with("--token=")) {
      name += " --token=<token>";
    } else if (after_token_flag ||
               (!token.empty() && arg.find(token) != std::string::npos)) {
      name += " <token>";
    } else {
      name += " " + arg;
    }
    after_token_flag = arg == "--token";
  }
  return FitClientName(name);
}

}  // namespace locktopus::ctl
