#include "tests/e2e/control_client.h"

#include <regex>

#include "tests/e2e/peers.h"

namespace ztrace::e2e {

std::string control_url(const std::string& log) {
  static const std::regex line(R"(control API on (http://127\.0\.0\.1:[0-9]+))");
  std::smatch match;
  return std::regex_search(log, match, line) ? match[1].str() : "";
}

std::string api_post(const fs::path& dir, const std::string& url, const std::string& body,
                     const std::string& token) {
  std::vector<std::string> argv = {
      "curl",   "-sS", "-X", "POST", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
      "--data", body};
  if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
  argv.push_back(url);
  return run_command(dir, argv).out;
}

void get_numbered(const fs::path& dir, int port, const std::string& prefix, int count) {
  std::vector<CurlRequest> batch;
  for (int i = 0; i < count; ++i) batch.push_back({url(port, prefix + std::to_string(i))});
  must_run(dir, curl_command(batch));
}

}  // namespace ztrace::e2e
