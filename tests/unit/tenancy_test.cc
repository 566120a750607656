// Multi-tenancy of OTLP export: the config keys (export.otlp), the routing of spans by their
// namespace, and a tenant's exporter options (never the agent's own credentials).

#include "userspace/export/tenancy.h"

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>

#include "userspace/agent/otlp_outputs.h"
#include "userspace/export/otlp/otlp_config.h"
#include "userspace/sampling/settings_sources.h"

using namespace ztrace;
using exporter::Route;
using exporter::UnroutedPolicy;
using exporter::UnroutedReason;
namespace fs = std::filesystem;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const fs::path path = fs::temp_directory_path() / name;
  std::ofstream(path, std::ios::trunc) << text;
  return path.string();
}

std::string fails(const std::string& yaml) {
  std::string error;
  const bool read =
      sampling::read_config_file(write_file("ztrace-tenancy-test.yaml", yaml), &error).has_value();
  return read ? std::string("(accepted)") : error.substr(error.find(".yaml:") + 6);
}

spans::Span span_of(spans::Attributes resource) {
  spans::Span span;
  span.resource = std::make_shared<spans::Resource>(spans::Resource{std::move(resource)});
  return span;
}

spans::Span pod_span(const std::string& ns) {
  return span_of({{"k8s.pod.uid", std::string("uid-1")}, {"k8s.namespace.name", ns}});
}

// Takes every span it is handed: what a tenant's exporter would queue.
class Collect final : public exporter::SpanProcessor {
 public:
  explicit Collect(std::vector<std::string>* names) : names_(names) {}
  std::string_view name() const noexcept override { return "collect"; }
  exporter::ExportOutcome on_span(const spans::Span& span) noexcept override {
    names_->push_back(span.name);
    return exporter::ExportOutcome::kSuccess;
  }
  bool shutdown(std::chrono::steady_clock::time_point) noexcept override { return true; }

 private:
  std::vector<std::string>* names_;
};

}  // namespace

TEST_CASE("config: export.otlp tenants and the policies for spans of no tenant", "[tenancy]") {
  std::string error;
  const auto config = sampling::read_config_file(write_file("ztrace-tenancy-test.yaml", R"(
export:
  otlp:
    tenants:
      - name: team-a
        namespaces: ["team-a-*", shared]
        headers: {X-Scope-OrgID: team-a}
      - name: team-b
        namespaces: team-b
        endpoint: http://tempo-b:4318
        headers_file: /etc/ztrace-tenants/team-b/headers
    unmatched_namespaces: drop
    host_spans: default
)"),
                                                 &error);
  INFO(error);
  REQUIRE(config);
  const auto& tenancy = config->tenancy;
  REQUIRE(tenancy.tenants.size() == 2);
  CHECK(tenancy.tenants[0].name == "team-a");
  CHECK(tenancy.tenants[0].namespaces == std::vector<std::string>{"team-a-*", "shared"});
  CHECK(tenancy.tenants[0].headers.at("X-Scope-OrgID") == "team-a");
  CHECK(tenancy.tenants[0].endpoint.empty());
  CHECK(tenancy.tenants[1].namespaces == std::vector<std::string>{"team-b"});
  CHECK(tenancy.tenants[1].endpoint == "http://tempo-b:4318");
  CHECK(tenancy.tenants[1].headers_file == "/etc/ztrace-tenants/team-b/headers");
  CHECK(tenancy.unmatched_namespaces == UnroutedPolicy::kDrop);
  CHECK(tenancy.host_spans == UnroutedPolicy::kDefault);

  CHECK(fails("export: {otlp: {tenants: [{namespaces: [a]}]}}") ==
        "1: export.otlp.tenants[0].name: must be a name without spaces, '/' or '='");
  CHECK(fails("export: {otlp: {tenants: [{name: a}]}}") ==
        "1: export.otlp.tenants[0].namespaces: must list at least one namespace glob");
  CHECK(fails("export: {otlp: {tenants: [{name: a, namespaces: [x]}, {name: a, namespaces: "
              "[y]}]}}") == "1: export.otlp.tenants[1].name: 'a' is taken");
  CHECK(fails("export: {otlp: {host_spans: elsewhere}}") ==
        "1: export.otlp.host_spans: must be one of default, drop");
  CHECK(fails("export: {otlp: {tenants: [{name: a, namespaces: [x], header: {}}]}}") ==
        "1: export.otlp.tenants[0].header: unknown key");
  CHECK(fails("export: {otlp: {tenants: [{name: a, namespaces: [x], headers: {k: [1]}}]}}") ==
        "1: export.otlp.tenants[0].headers.k: must be a string (quote \"true\")");
}

TEST_CASE("tenancy: each namespace goes to its tenant; pods not yet known go nowhere",
          "[tenancy]") {
  exporter::TenancyConfig config;
  config.tenants = {{.name = "a", .namespaces = {"team-a-*"}},
                    {.name = "b", .namespaces = {"team-b", "team-a-shared"}}};
  config.unmatched_namespaces = UnroutedPolicy::kDrop;
  exporter::TenantRouter router(config);

  CHECK(router.route(pod_span("team-a-web")) == Route{0});
  CHECK(router.route(pod_span("team-a-shared")) == Route{0});  // the first tenant that matches
  CHECK(router.route(pod_span("team-b")) == Route{1});
  CHECK(router.route(pod_span("team-bb")) ==
        Route{Route::kNone, UnroutedReason::kUnmatchedNamespace});
  CHECK(router.route(span_of({{"process.pid", int64_t{1}}})) == Route{Route::kDefault});
  CHECK(router.route(spans::Span{}) == Route{Route::kDefault});  // no resource: the host's
  // A pod known from its cgroup before its metadata: its tenant is unknown.
  CHECK(router.route(span_of({{"k8s.pod.uid", std::string("u")}})) ==
        Route{Route::kNone, UnroutedReason::kPodWithoutNamespace});

  config.unmatched_namespaces = UnroutedPolicy::kDefault;
  config.host_spans = UnroutedPolicy::kDrop;
  exporter::TenantRouter other(config);
  CHECK(other.route(pod_span("team-c")) == Route{Route::kDefault});
  CHECK(other.route(span_of({})) == Route{Route::kNone, UnroutedReason::kHost});
}

TEST_CASE("tenancy: a routed output sees its tenant's spans only, the rest is counted",
          "[tenancy]") {
  exporter::TenancyConfig config;
  config.tenants = {{.name = "a", .namespaces = {"a"}}, {.name = "b", .namespaces = {"b"}}};
  config.host_spans = UnroutedPolicy::kDrop;
  auto router = std::make_shared<exporter::TenantRouter>(config);
  std::vector<std::string> to_a, to_b, to_default;
  exporter::RoutedProcessor a("otlp/a", router, 0, std::make_unique<Collect>(&to_a));
  exporter::RoutedProcessor b("otlp/b", router, 1, std::make_unique<Collect>(&to_b));
  exporter::RoutedProcessor fallback("otlp", router, Route::kDefault,
                                     std::make_unique<Collect>(&to_default));
  exporter::UnroutedCounter unrouted(router);

  // Spans of one resource in a row (the router's cache), then alternating.
  spans::Span a1 = pod_span("a"), b1 = pod_span("b"), c1 = pod_span("c"), host = span_of({});
  a1.name = "a1", b1.name = "b1", c1.name = "c1", host.name = "host";
  spans::Span a2 = a1;
  a2.name = "a2";
  for (const spans::Span* span : {&a1, &a2, &b1, &a1, &c1, &host, &b1}) {
    for (exporter::SpanProcessor* p :
         std::initializer_list<exporter::SpanProcessor*>{&a, &b, &fallback, &unrouted}) {
      p->on_span(*span);
    }
  }
  CHECK(to_a == std::vector<std::string>{"a1", "a2", "a1"});
  CHECK(to_b == std::vector<std::string>{"b1", "b1"});
  CHECK(to_default == std::vector<std::string>{"c1"});
  std::map<std::string, uint64_t> counts;
  unrouted.for_each_counter([&](std::string_view k, uint64_t v) { counts[std::string(k)] = v; });
  CHECK(counts["dropped_host"] == 1);
  CHECK(counts["dropped_unmatched_namespace"] == 0);
  CHECK(counts["dropped_pod_without_namespace"] == 0);
}

TEST_CASE("tenancy: a tenant's exporter keeps none of the agent's credentials", "[tenancy]") {
  otlp::OtlpOptions base;
  base.enabled = true;
  base.endpoint = "https://collector:4318/v1/traces";
  base.use_tls = true;
  base.headers = {{"Authorization", "Bearer agent-secret"}};
  base.tls.ca_file = "/ca.pem";
  base.tls.client_cert_file = "/agent.pem";
  base.tls.client_key_file = "/agent.key";
  base.timeout = std::chrono::milliseconds(1234);

  otlp::OtlpOptions out;
  std::string error;
  REQUIRE(otlp::tenant_options(base, "", {{"X-Scope-OrgID", "a"}}, &out, &error));
  CHECK(out.endpoint == base.endpoint);
  CHECK(out.headers == otlp::Headers{{"X-Scope-OrgID", "a"}});
  CHECK(out.tls.client_cert_file.empty());
  CHECK(out.tls.client_key_file.empty());
  CHECK(out.tls.ca_file == "/ca.pem");
  CHECK(out.timeout == std::chrono::milliseconds(1234));

  REQUIRE(otlp::tenant_options(base, "http://tempo-b:4318", {}, &out, &error));
  CHECK(out.endpoint == "http://tempo-b:4318/v1/traces");
  CHECK_FALSE(out.use_tls);
  CHECK(out.headers.empty());

  CHECK_FALSE(otlp::tenant_options(base, "tempo-b:4318", {}, &out, &error));
  CHECK(error == "endpoint tempo-b:4318: not an http:// or https:// URL");
  CHECK_FALSE(otlp::tenant_options(otlp::OtlpOptions{}, "", {}, &out, &error));
  CHECK(error == "no endpoint, and the agent has no OTLP endpoint");
}

TEST_CASE("tenancy: headers from a headers_file (a Secret's key) join the inline ones",
          "[tenancy]") {
  exporter::TenantConfig tenant{.name = "a", .namespaces = {"a"}};
  tenant.headers = {{"X-Scope-OrgID", "inline"}, {"X-Other", "1"}};
  tenant.headers_file =
      write_file("ztrace-tenant-headers", "X-Scope-OrgID=from-secret,Authorization=Basic%20eHk=\n");
  std::string error;
  auto headers = agent::tenant_headers(tenant, &error);
  REQUIRE(headers);
  std::map<std::string, std::string> by_name(headers->begin(), headers->end());
  CHECK(headers->size() == 3);
  CHECK(by_name["X-Scope-OrgID"] == "from-secret");
  CHECK(by_name["Authorization"] == "Basic eHk=");
  CHECK(by_name["X-Other"] == "1");

  tenant.headers_file = write_file("ztrace-tenant-headers", "no equals sign");
  CHECK_FALSE(agent::tenant_headers(tenant, &error));
  CHECK(error.find("is not key=value") != std::string::npos);
  tenant.headers_file = "/nonexistent/headers";
  CHECK_FALSE(agent::tenant_headers(tenant, &error));
  CHECK(error == "tenant a: cannot read headers_file /nonexistent/headers");
}
