#include "server/core/auth.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace locktopus::server {
namespace {

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

// Equal in time that depends on the token's length only (which the server
// knows), never on where the candidate first differs.
bool EqualConstantTime(std::string_view candidate, std::string_view token) {
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const unsigned char c =
        i < candidate.size() ? static_cast<unsigned char>(candidate[i]) : 0;
    diff = diff | (c ^ static_cast<unsigned char>(token[i]));
  }
  const unsigned same_size = candidate.size() == token.size();
  return (static_cast<unsigned>(diff == 0) & same_size) != 0;
}

Tokens ParseTokens(std::string_view text) {
  Tokens tokens;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view()
                                         : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    tokens.emplace_back(line);
  }
  return tokens;
}

Result<Tokens> ReadTokenFile(const std::string& path) {
  const Error unreadable{Error::Code::kIo,
                         "cannot read token file [" + path + "]"};
  std::ifstream file(path, std::ios::binary);
  if (!file) return unreadable;
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return unreadable;
  Tokens tokens = ParseTokens(text.str());
  if (tokens.empty()) {
    return Error{Error::Code::kInvalidArgument,
                 "token file [" + path + "] lists no token"};
  }
  return tokens;
}

bool MatchesAnyToken(std::string_view candidate, const Tokens& tokens) {
  unsigned any = 0;
  for (const std::string& token : tokens) {
    any |= static_cast<unsigned>(EqualConstantTime(candidate, token));
  }
  return any != 0;
}

std::optional<std::string> RequestToken(
    std::string_view authorization,
    const std::optional<std::string>& query_token) {
  constexpr std::string_view kScheme = "bearer";
  const std::string_view header = Trim(authorization);
  if (header.size() > kScheme.size() &&
      EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme) &&
      IsBlank(header[kScheme.size()])) {
    const std::string_view token = Trim(header.substr(kScheme.size()));
    if (!token.empty()) return std::string(token);
  }
  return query_token;
}

Authenticator::Authenticator(std::string path, Tokens tokens)
    : path_(std::move(path)),
      tokens_(std::make_shared<const Tokens>(std::move(tokens))) {}

Result<std::unique_ptr<Authenticator>> Authenticator::Load(std::string path) {
  Result<Tokens> read = ReadTokenFile(path);
  if (!read.ok()) return read.error();
  return std::unique_ptr<Authenticator>(
      new Authenticator(std::move(path), std::move(read).value()));
}

Result<std::size_t> Authenticator::Reload() {
  Result<Tokens> read = ReadTokenFile(path_);
  if (!read.ok()) return read.error();
  auto tokens = std::make_shared<const Tokens>(std::move(read).value());
  const std::size_t n = tokens->size();
  std::lock_guard lock(mu_);
  tokens_ = std::move(tokens);
  return n;
}

bool Authenticator::Allows(
    std::string_view authorization,
    const std::optional<std::string>& query_token) const {
  const std::optional<std::string> token =
      RequestToken(authorization, query_token);
  if (!token) return false;
  std::shared_ptr<const Tokens> tokens;
  {
    std::lock_guard lock(mu_);
    tokens = tokens_;
  }
  return MatchesAnyToken(*token, *tokens);
}

std::size_t Authenticator::size() const {
  std::lock_guard lock(mu_);
  return tokens_->size();
}

}  // namespace locktopus::server
