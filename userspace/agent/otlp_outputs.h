#pragma once

// The OTLP outputs of the agent: its own exporter alone, or, with tenants configured
// (export.otlp.tenants), one exporter per tenant behind a TenantRouter, the agent's own for the
// spans the tenancy policy sends to the default, and a counter of the spans none takes.

#include <memory>
#include <string>
#include <vector>

#include "userspace/export/exporter.h"
#include "userspace/export/otlp/otlp_config.h"
#include "userspace/export/otlp/otlp_stats.h"
#include "userspace/export/tenancy_config.h"

namespace ztrace::agent {

// One exporter's counters: `tenant` empty for the agent's own exporter.
struct OtlpStatsOf {
  std::string tenant;
  std::shared_ptr<const otlp::OtlpStats> stats;
};

// Appends the outputs to `outputs` and their counters to `stats`. False with `*error` when a
// tenant cannot be set up (no endpoint, an unreadable headers file): the agent refuses to
// start rather than send a tenant's spans anywhere else.
bool add_otlp_outputs(const otlp::OtlpOptions& options, const exporter::TenancyConfig& tenancy,
                      std::vector<std::unique_ptr<exporter::SpanProcessor>>& outputs,
                      std::vector<OtlpStatsOf>& stats, std::string* error);

// A tenant's headers: its `headers`, then those of its headers_file. nullopt with `*error`.
std::optional<otlp::Headers> tenant_headers(const exporter::TenantConfig& tenant,
                                            std::string* error);

}  // namespace ztrace::agent
