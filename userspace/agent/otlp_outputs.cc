#include "userspace/agent/otlp_outputs.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "userspace/export/otlp/otlp_exporter.h"
#include "userspace/export/tenancy.h"

namespace ztrace::agent {
namespace {

std::unique_ptr<otlp::OtlpExporter> make_exporter(const otlp::OtlpOptions& options,
                                                  const std::string& label, std::string* error) {
  auto exporter = otlp::OtlpExporter::create(options, error);
  if (exporter) spdlog::info("OTLP export{}: {}", label, exporter->describe());
  return exporter;
}

}  // namespace

std::optional<otlp::Headers> tenant_headers(const exporter::TenantConfig& tenant,
                                            std::string* error) {
  otlp::Headers headers(tenant.headers.begin(), tenant.headers.end());
  if (tenant.headers_file.empty()) return headers;
  std::ifstream file(tenant.headers_file);
  std::stringstream text;
  if (!file || !(text << file.rdbuf())) {
    *error = "tenant " + tenant.name + ": cannot read headers_file " + tenant.headers_file;
    return std::nullopt;
  }
  std::string content = text.str();
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
    content.pop_back();
  }
  auto parsed = otlp::parse_headers(content);
  if (!parsed) {
    *error = "tenant " + tenant.name + ": headers_file " + tenant.headers_file +
             " is not key=value,... (OTEL_EXPORTER_OTLP_HEADERS form)";
    return std::nullopt;
  }
  for (auto& [key, value] : *parsed) {
    std::erase_if(headers, [&](const auto& h) { return h.first == key; });
    headers.emplace_back(std::move(key), std::move(value));
  }
  return headers;
}

bool add_otlp_outputs(const otlp::OtlpOptions& options, const exporter::TenancyConfig& tenancy,
                      std::vector<std::unique_ptr<exporter::SpanProcessor>>& outputs,
                      std::vector<OtlpStatsOf>& stats, std::string* error) {
  if (!tenancy.enabled()) {
    if (!options.enabled) return true;
    auto exporter = make_exporter(options, "", error);
    if (!exporter) return false;
    stats.push_back({"", exporter->stats()});
    outputs.push_back(std::move(exporter));
    return true;
  }
  // Without an exporter of its own, what would go to it is dropped and counted.
  exporter::TenancyConfig routes = tenancy;
  if (!options.enabled) {
    routes.host_spans = routes.unmatched_namespaces = exporter::UnroutedPolicy::kDrop;
  }
  auto router = std::make_shared<exporter::TenantRouter>(std::move(routes));
  for (size_t i = 0; i < tenancy.tenants.size(); ++i) {
    const auto& tenant = tenancy.tenants[i];
    auto headers = tenant_headers(tenant, error);
    if (!headers) return false;
    otlp::OtlpOptions tenant_options;
    if (!otlp::tenant_options(options, tenant.endpoint, std::move(*headers), &tenant_options,
                              error)) {
      *error = "tenant " + tenant.name + ": " + *error;
      return false;
    }
    auto exporter = make_exporter(tenant_options, " of tenant " + tenant.name, error);
    if (!exporter) return false;
    stats.push_back({tenant.name, exporter->stats()});
    outputs.push_back(std::make_unique<exporter::RoutedProcessor>(
        "otlp/" + tenant.name, router, static_cast<int>(i), std::move(exporter)));
  }
  if (options.enabled) {
    auto exporter = make_exporter(options, " (spans of no tenant)", error);
    if (!exporter) return false;
    stats.push_back({"", exporter->stats()});
    outputs.push_back(std::make_unique<exporter::RoutedProcessor>(
        "otlp", router, exporter::Route::kDefault, std::move(exporter)));
  }
  outputs.push_back(std::make_unique<exporter::UnroutedCounter>(router));
  return true;
}

}  // namespace ztrace::agent
