#include "userspace/bpf_support/load_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string_view>
#include <vector>

namespace ztrace::bpf_support {
namespace {

// The verifier's last lines say why (the failing instruction, the limit hit, the totals).
constexpr size_t kVerifierLinesKept = 4;
constexpr std::string_view kLogBegin = "': -- BEGIN PROG LOAD LOG --\n";
constexpr std::string_view kLogEnd = "-- END PROG LOAD LOG --";

std::mutex rejection_mutex;
std::string last_rejection;

std::string format(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int size = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string text(size > 0 ? size : 0, '\0');
  if (size > 0) std::vsnprintf(text.data(), text.size() + 1, fmt, args);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace

// libbpf prints a failed load as "prog 'NAME': -- BEGIN PROG LOAD LOG --\n...-- END ...".
std::string summarize_verifier_log(std::string_view text) {
  size_t begin = text.find(kLogBegin);
  if (begin == std::string_view::npos) return "";
  size_t name_start = text.rfind("prog '", begin);
  if (name_start == std::string_view::npos) return "";
  std::string_view name = text.substr(name_start + 6, begin - name_start - 6);
  std::string_view log = text.substr(begin + kLogBegin.size());
  if (size_t end = log.find(kLogEnd); end != std::string_view::npos) log = log.substr(0, end);
  std::vector<std::string_view> lines;
  while (!log.empty()) {
    size_t eol = log.find('\n');
    std::string_view line = log.substr(0, eol);
    if (!line.empty()) lines.push_back(line);
    log = eol == std::string_view::npos ? std::string_view() : log.substr(eol + 1);
  }
  std::string summary = "program '" + std::string(name) + "' rejected by the verifier:";
  size_t first = lines.size() > kVerifierLinesKept ? lines.size() - kVerifierLinesKept : 0;
  for (size_t i = first; i < lines.size(); ++i) {
    summary += (i == first ? " " : " / ");
    summary += lines[i];
  }
  return summary;
}

namespace {

int print_libbpf(libbpf_print_level level, const char* fmt, va_list args) {
  std::string text = format(fmt, args);
  if (std::string summary = summarize_verifier_log(text); !summary.empty()) {
    std::lock_guard lock(rejection_mutex);
    last_rejection = std::move(summary);
    spdlog::debug("libbpf: {}", text);  // the whole log, for --log-level debug
    return 0;
  }
  if (level == LIBBPF_WARN) {
    spdlog::warn("libbpf: {}", text);
  } else {
    spdlog::debug("libbpf: {}", text);
  }
  return 0;
}

}  // namespace

void install_libbpf_logging() { libbpf_set_print(print_libbpf); }

std::string take_verifier_rejection() {
  std::lock_guard lock(rejection_mutex);
  return std::exchange(last_rejection, {});
}

std::string with_verifier_rejection(std::string error) {
  std::string rejection = take_verifier_rejection();
  return rejection.empty() ? error : error + ": " + rejection;
}

}  // namespace ztrace::bpf_support
