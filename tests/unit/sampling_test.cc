#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "userspace/sampling/settings_sources.h"
#include "userspace/sampling/tracing_settings.h"

using namespace ztrace::sampling;
namespace fs = std::filesystem;

namespace {

std::string write_config(const std::string& name, const std::string& yaml) {
  const fs::path path = fs::temp_directory_path() / ("ztrace-sampling-test-" + name + ".yaml");
  std::ofstream(path, std::ios::trunc) << yaml;
  return path.string();
}

}  // namespace

TEST_CASE("sampling: a ratio's threshold over the trace id's 56 random bits") {
  CHECK(threshold_for_ratio(1.0) == 0);
  CHECK(threshold_for_ratio(0.0) == kMaxThreshold);
  CHECK(threshold_for_ratio(0.5) == kMaxThreshold / 2);
  CHECK(threshold_for_ratio(0.1) == 0xe6666666666666ULL);  // (1 - 0.1) * 2^56, rounded
  CHECK(threshold_for_ratio(-1) == kMaxThreshold);
  CHECK(threshold_for_ratio(2) == 0);
  ztrace::spans::TraceId id{};
  id[9] = 0xff;  // the randomness is bytes 9..15
  CHECK(randomness_of(id) == 0xff000000000000ULL);
  id[8] = 0xff;  // not part of it
  CHECK(randomness_of(id) == 0xff000000000000ULL);
  CHECK(sampled(id, threshold_for_ratio(0.5)));
  CHECK_FALSE(sampled(id, threshold_for_ratio(0.0)));
  CHECK(threshold_of({TracingMode::kFullE2e, 0.1}) == 0);
  CHECK(threshold_of({TracingMode::kHybrid, 0.1}) == threshold_for_ratio(0.1));
}

TEST_CASE("sampling: random ids are kept at the ratio") {
  std::mt19937_64 random(42);
  const uint64_t threshold = threshold_for_ratio(0.25);
  int kept = 0;
  constexpr int kIds = 100000;
  for (int i = 0; i < kIds; ++i) {
    ztrace::spans::TraceId id;
    for (auto& byte : id) byte = static_cast<uint8_t>(random());
    kept += sampled(id, threshold);
  }
  CHECK(kept > 24'400);  // 25,000 +- 4.4 sd
  CHECK(kept < 25'600);
}

TEST_CASE("sampling: the config file's tracing section; errors name the line and the key") {
  std::string error;
  auto layer = read_config_file(
      write_config("good", "# comment\ntracing:\n  mode: full-e2e\n  sampling:\n    ratio: 0.25\n"),
      &error);
  REQUIRE(layer);
  CHECK(layer->tracing.mode == TracingMode::kFullE2e);
  CHECK(layer->tracing.ratio == 0.25);
  CHECK(read_config_file(write_config("empty", ""), &error));
  // The shipped example is a valid file.
  const auto example = read_config_file(
      (fs::path(ZTRACE_TESTDATA_DIR) / "../../config/ztrace.example.yaml").string(), &error);
  INFO(error);
  CHECK((example && example->tracing.mode == TracingMode::kHybrid &&
         example->tracing.ratio == 0.1 && example->api_listen == "127.0.0.1:8401"));

  const auto fails = [&](const std::string& yaml) {
    error.clear();
    const bool read = read_config_file(write_config("bad", yaml), &error).has_value();
    return read ? std::string("(accepted)") : error.substr(error.find(".yaml:") + 6);
  };
  CHECK(fails("tracing:\n  mode: fast\n") ==
        "2: tracing.mode: must be one of off, system-only, hybrid, full-e2e");
  CHECK(fails("tracing:\n  sampling:\n    ratio: 1.5\n") ==
        "3: tracing.sampling.ratio: must be a number from 0 to 1");
  CHECK(fails("tracing:\n  sampling:\n    ratio: lots\n") ==
        "3: tracing.sampling.ratio: must be a number from 0 to 1");
  CHECK(fails("tracing:\n  mood: hybrid\n") == "2: tracing.mood: unknown key");
  CHECK(fails("tracing:\n  sampling:\n    tail: {keep_errors: true}\n") ==
        "3: tracing.sampling.tail: not supported by this version yet");
  CHECK(fails("tracing: [1, 2]\n") == "1: tracing: must be a mapping");
  CHECK(fails("tracing:\n  mode: [off\n").starts_with("3: not YAML: "));
  CHECK(read_config_file("/nonexistent/ztrace.yaml", &error) == std::nullopt);
  CHECK(error == "/nonexistent/ztrace.yaml: cannot read the file");
}

TEST_CASE("sampling: OTEL_TRACES_SAMPLER, and the flags over the environment over the file") {
  std::string error;
  auto env = read_sampler_env(
      {{"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "0.2"}},
      &error);
  REQUIRE(env);
  CHECK(env->mode == TracingMode::kHybrid);
  CHECK(env->ratio == 0.2);
  CHECK(read_sampler_env({{"OTEL_TRACES_SAMPLER", "always_on"}}, &error)->mode ==
        TracingMode::kFullE2e);
  CHECK(read_sampler_env({{"OTEL_TRACES_SAMPLER", "always_off"}}, &error)->ratio == 0.0);
  CHECK_FALSE(read_sampler_env({{"OTEL_TRACES_SAMPLER", "jaeger_remote"}}, &error));
  CHECK_FALSE(read_sampler_env(
      {{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "half"}}, &error));
  CHECK(error == "OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, not 'half'");

  const SettingsLayer file{TracingMode::kOff, 0.5};
  const SettingsLayer from_env{std::nullopt, 0.2};
  const SettingsLayer flags{TracingMode::kHybrid, std::nullopt};
  CHECK(merge(file, from_env, flags) == TracingSettings{TracingMode::kHybrid, 0.2});
  CHECK(merge({}, {}, {}) == TracingSettings{TracingMode::kHybrid, 1.0});
}
