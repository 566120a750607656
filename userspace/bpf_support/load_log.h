#pragma once

// libbpf's messages through the agent's log, and the verifier's verdict on a program that
// failed to load, so a load error names the program and says why in a few lines.

#include <string>
#include <string_view>

namespace ztrace::bpf_support {

// Routes libbpf's messages to spdlog (its warnings as warnings, the rest at debug) and keeps
// the last lines of each verifier log it prints. Idempotent.
void install_libbpf_logging();

// The last program the verifier rejected since the previous call, as
// "program 'NAME' rejected by the verifier: LINE / LINE / LINE", or "" when none; clears it.
std::string take_verifier_rejection();

// "program 'NAME' rejected by the verifier: ..." from one libbpf message that carries a
// program's load log, or "" when the message carries none.
std::string summarize_verifier_log(std::string_view libbpf_message);

// Appends the verifier's reason to a load error, when there is one.
std::string with_verifier_rejection(std::string error);

}  // namespace ztrace::bpf_support
