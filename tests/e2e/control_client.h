#pragma once

// The agent's control API as the e2e tests use it: its address from the agent's log, and
// requests through curl.

#include <string>

#include "tests/e2e/harness.h"

namespace ztrace::e2e {

// "http://127.0.0.1:PORT" from the agent's log line, or "" before it is there.
std::string control_url(const std::string& log);

// A POST of a JSON body (with the bearer token, when given): "BODY\nSTATUS".
std::string api_post(const fs::path& dir, const std::string& url, const std::string& body,
                     const std::string& token = "");

// `count` GETs of PREFIX0, PREFIX1, ... on one keep-alive connection (curl).
void get_numbered(const fs::path& dir, int port, const std::string& prefix, int count);

}  // namespace ztrace::e2e
