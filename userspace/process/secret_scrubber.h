#pragma once

// Removes secrets from command lines before they become the process.command_line resource
// attribute: spans leave the host, passwords in argv must not.

#include <span>
#include <string>
#include <string_view>

namespace ztrace::process {

inline constexpr std::string_view kRedacted = "REDACTED";

// True when a key (flag name, property, environment variable) names a secret: it contains
// password, passwd, pwd, secret, token, apikey, api-key, api_key, credential, auth or
// private-key (case-insensitive; '-', '_' and '.' are ignored when matching).
bool is_secret_key(std::string_view key);

// Scrubs one argument: `key=value` / `key:value` with a secret key → `key=REDACTED`, and URL
// userinfo `scheme://user:pass@host` → `scheme://user:REDACTED@host`.
std::string scrub_arg(std::string_view arg);

// Scrubs every argument, also redacting the value following a secret flag given as a separate
// argument (`--password hunter2`), and joins them with single spaces.
std::string scrub_command_line(std::span<const std::string> args);

}  // namespace ztrace::process
