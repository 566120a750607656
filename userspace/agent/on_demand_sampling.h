#pragma once

// On-demand sampling rules in the agent: per-process sampling over this agent's probes, and
// the bodies of the control API's rule endpoints.

#include <memory>
#include <string>

#include "userspace/process/process_table.h"
#include "userspace/sampling/process_sampling.h"

namespace ztrace::probes::go {
class GoTracer;
}

namespace ztrace::agent {

class SocketTracer;

// Thresholds go to the socket tracer's map (shared with the Go probes) and both objects'
// flags. The tracers must outlive the result.
std::unique_ptr<sampling::ProcessSampling> make_process_sampling(SocketTracer& tracer,
                                                                 probes::go::GoTracer* go_tracer,
                                                                 process::ProcessTable& processes);

// POST /api/tracing/enable: 200 with {"id":..,"expires_in_s":..,...}, or 400/409 with the error.
int enable_rule(sampling::ProcessSampling& sampling, const std::string& body, std::string* answer);
// POST /api/tracing/disable: 200 with the rules removed, or 400/404.
int disable_rule(sampling::ProcessSampling& sampling, const std::string& body, std::string* answer);

// The "rules" member of the tracing status: [{"id":..,"selector":..,"expires_in_s":..}, ...].
std::string rules_json(const sampling::ProcessSampling& sampling);

}  // namespace ztrace::agent
