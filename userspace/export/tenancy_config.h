#pragma once

// Multi-tenancy of OTLP export (config `export.otlp`): spans routed to one exporter per tenant
// by their resource's Kubernetes namespace. Plain data, read from the config file.

#include <map>
#include <string>
#include <vector>

namespace ztrace::exporter {

// Where spans go that no tenant claims.
enum class UnroutedPolicy { kDefault, kDrop };  // the agent's own OTLP exporter, or nowhere

struct TenantConfig {
  std::string name;                            // names its output (`otlp/NAME`) and counters
  std::vector<std::string> namespaces;         // fnmatch(3) globs of k8s.namespace.name
  std::string endpoint;                        // empty: the agent's OTLP endpoint
  std::map<std::string, std::string> headers;  // e.g. X-Scope-OrgID (never the agent's own)
  // A file in OTEL_EXPORTER_OTLP_HEADERS form ("key=value,..."), e.g. from a Secret: its
  // headers are added to `headers`. Read at start.
  std::string headers_file;

  bool operator==(const TenantConfig&) const = default;
};

struct TenancyConfig {
  std::vector<TenantConfig> tenants;  // the first whose globs match a namespace takes it
  UnroutedPolicy unmatched_namespaces = UnroutedPolicy::kDefault;  // a namespace no tenant lists
  UnroutedPolicy host_spans = UnroutedPolicy::kDefault;            // no pod (host processes)

  bool enabled() const { return !tenants.empty(); }
  bool operator==(const TenancyConfig&) const = default;
};

}  // namespace ztrace::exporter
