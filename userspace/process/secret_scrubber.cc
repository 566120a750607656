#include "userspace/process/secret_scrubber.h"

#include <array>
#include <cctype>

namespace ztrace::process {

namespace {

// Normalised (lowercase, without '-', '_', '.') so that api-key, api_key, apiKey and
// private-key, private_key all match one entry.
// "cookie": `curl -H "Cookie: session=..."` or `--cookie`, whose values are credentials.
constexpr std::array<std::string_view, 10> kSecretWords = {
    "password", "passwd",     "pwd",  "secret",     "token",
    "apikey",   "credential", "auth", "privatekey", "cookie",
};

std::string normalise_key(std::string_view key) {
  std::string normalised;
  normalised.reserve(key.size());
  for (char c : key) {
    if (c == '-' || c == '_' || c == '.') continue;
    normalised.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return normalised;
}

// `scheme://user:pass@host` → `scheme://user:REDACTED@host`, for every URL inside `arg`.
std::string scrub_url_userinfo(std::string_view arg) {
  std::string out;
  size_t copied = 0;
  size_t search_from = 0;
  while (true) {
    const size_t scheme_end = arg.find("://", search_from);
    if (scheme_end == std::string_view::npos) break;
    const size_t authority_begin = scheme_end + 3;
    size_t authority_end = arg.find_first_of("/?# ", authority_begin);
    if (authority_end == std::string_view::npos) authority_end = arg.size();
    const std::string_view authority = arg.substr(authority_begin, authority_end - authority_begin);
    // The last '@' ends the userinfo (RFC 3986 §3.2.1); a password may contain unescaped '@'.
    const size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      const size_t colon = authority.substr(0, at).find(':');
      if (colon != std::string_view::npos) {
        const size_t password_begin = authority_begin + colon + 1;
        out.append(arg.substr(copied, password_begin - copied));
        out.append(kRedacted);
        copied = authority_begin + at;
      }
    }
    search_from = authority_end;
  }
  if (copied == 0) return std::string(arg);
  out.append(arg.substr(copied));
  return out;
}

// A flag that takes its value as the next argument: `--password`, `-token`.
bool is_secret_flag(std::string_view arg) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  if (arg.find('=') != std::string_view::npos) return false;
  return is_secret_key(arg);
}

}  // namespace

bool is_secret_key(std::string_view key) {
  const std::string normalised = normalise_key(key);
  for (std::string_view word : kSecretWords) {
    if (normalised.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string scrub_arg(std::string_view arg) {
  std::string scrubbed = scrub_url_userinfo(arg);
  // `key=value` first; `key:value` only without '=' so `--url=http://x` splits at '='.
  size_t separator = scrubbed.find('=');
  if (separator == std::string::npos) {
    separator = scrubbed.find(':');
    // `scheme://...` is a URL, not `key:value`.
    if (separator != std::string::npos && scrubbed.compare(separator, 3, "://") == 0) {
      return scrubbed;
    }
  }
  if (separator == std::string::npos || separator == 0) return scrubbed;
  const std::string_view key = std::string_view(scrubbed).substr(0, separator);
  if (is_secret_key(key)) {
    scrubbed.resize(separator + 1);
    scrubbed.append(kRedacted);
    return scrubbed;
  }
  // The value may itself be `key=value` (`-Dx=secret.key=v`, `--header=Authorization: x`).
  const std::string value = scrub_arg(std::string_view(scrubbed).substr(separator + 1));
  scrubbed.resize(separator + 1);
  scrubbed.append(value);
  return scrubbed;
}

std::string scrub_command_line(std::span<const std::string> args) {
  std::string line;
  bool redact_next = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (i > 0) line.push_back(' ');
    // A following flag is not the secret's value: `--no-auth --port 80` keeps `--port`.
    if (redact_next && !arg.starts_with('-')) {
      line.append(kRedacted);
      redact_next = false;
      continue;
    }
    line.append(scrub_arg(arg));
    redact_next = is_secret_flag(arg);
  }
  return line;
}

}  // namespace ztrace::process
