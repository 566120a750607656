#include "userspace/agent/counter_log.h"

#include <spdlog/spdlog.h>

#include "probes/go/go_tracer.h"
#include "probes/kafka/rdkafka_tracer.h"
#include "probes/openssl/openssl_tracer.h"
#include "userspace/common/counters.h"
#include "userspace/conntrack/protocols.h"

namespace ztrace::agent {
namespace {

// The client spans' outcomes per runtime, those that happened: in-process linking is a
// property of the runtime.
struct NonZeroClientOutcomes {
  const pipeline::RuntimeLinkOutcomes& runtime;
  template <typename Visit>
  void for_each(Visit&& visit) const {
    static constexpr std::pair<uint8_t, std::string_view> kOrigins[] = {
        {ZT_CTX_CLIENT_THREAD, "by_thread"},
        {ZT_CTX_CLIENT_GOROUTINE, "by_goroutine"},
        {ZT_CTX_CLIENT_MESSAGE, "by_message"},
        {ZT_CTX_CLIENT_LINE_MATCH, "by_forwarded_line"},
        {ZT_CTX_CLIENT_ROOT, "root"},
        {ZT_CTX_CLIENT_AMBIGUOUS, "ambiguous_event_loop"},
        {ZT_CTX_CLIENT_UNTRUSTED, "unlinkable_runtime"},
        {ZT_CTX_CLIENT_STALE, "stale"},
        {ZT_CTX_NONE, "no_context"}};
    for (const auto& [origin, name] : kOrigins) {
      if (runtime.outcomes[origin]) visit(name, runtime.outcomes[origin]);
    }
  }
};

void log_link_outcomes(const pipeline::EventPipelineStats& p) {
  const auto& o = p.link_outcomes;
  CounterLine line("links:");
  line.add("server spans", {{"new_trace", o[ZT_CTX_SERVER_NEW]},
                            {"from_header", o[ZT_CTX_SERVER_HEADER]},
                            {"bad_header", o[ZT_CTX_SERVER_BAD_HEADER]}})
      .add("client spans", {{"by_thread", o[ZT_CTX_CLIENT_THREAD]},
                            {"by_goroutine", o[ZT_CTX_CLIENT_GOROUTINE]},
                            {"by_message", o[ZT_CTX_CLIENT_MESSAGE]},
                            {"by_forwarded_line", o[ZT_CTX_CLIENT_LINE_MATCH]},
                            {"root", o[ZT_CTX_CLIENT_ROOT]},
                            {"ambiguous_event_loop", o[ZT_CTX_CLIENT_AMBIGUOUS]},
                            {"unlinkable_runtime", o[ZT_CTX_CLIENT_UNTRUSTED]},
                            {"stale", o[ZT_CTX_CLIENT_STALE]}})
      .add("message receives", {{"new_trace", o[ZT_CTX_MESSAGE_RECEIVE]}})
      .add("", {{"no_context", o[ZT_CTX_NONE]}, {"unsampled", p.spans.unsampled}});
  spdlog::info("{}", line.text());

  if (p.client_links_by_runtime.empty()) return;
  CounterLine by_runtime("client links by runtime:");
  for (const auto& runtime : p.client_links_by_runtime) {
    by_runtime.add(runtime.runtime.empty() ? "unknown" : runtime.runtime,
                   NonZeroClientOutcomes{runtime});
  }
  spdlog::info("{}", by_runtime.text());
}

// Per output, what became of the spans built: a failing output does not hide what the others
// wrote. OTLP's `accepted` are queued; its own line says what the backend acknowledged.
void log_output_counters(const exporter::ExportStats& e) {
  CounterLine line("outputs:");
  line.add("", {{"handed", e.spans_handed}});
  for (const auto& processor : e.processors) line.add(processor.name, processor);
  spdlog::info("{}", line.text());
}

}  // namespace

void log_counters(const pipeline::EventPipelineStats& p, const exporter::ExportStats& e,
                  const DropCounts& kernel_drops, uint64_t intake_queue_drops) {
  CounterLine line("counters:");
  line.add("events", p.events)
      .add("kernel drops", kernel_drops)
      .add("intake queue", {{"drops", intake_queue_drops}})
      .add("connections", p.connections)
      .add("spans", p.spans)
      .add("tail sampling", p.tail);
  conntrack::Protocols::for_each(
      [&]<typename Protocol>() { line.add(Protocol::kName, p.connections.of<Protocol>()); });
  spdlog::info("{}", line.text());
  log_link_outcomes(p);
  log_output_counters(e);
}

void log_otlp_counters(const std::vector<OtlpStatsOf>& exporters) {
  for (const auto& exporter : exporters) {
    const otlp::OtlpStats* s = exporter.stats.get();
    const auto& latency = s->export_latency;
    spdlog::info(
        "{}: spans queued={} exported={} rejected={} dropped queue_full={} queue_bytes={} "
        "retries_exhausted={} export_error={} shutdown={}; requests sent={} failed={} retries={}; "
        "bytes sent={} uncompressed={}; latency avg_us={} max_us={}; queue spans={} bytes={}",
        exporter.tenant.empty() ? "otlp" : "otlp/" + exporter.tenant, s->spans_queued.load(),
        s->spans_exported.load(), s->spans_rejected.load(), s->spans_dropped_queue_full.load(),
        s->spans_dropped_queue_bytes.load(), s->spans_dropped_retries_exhausted.load(),
        s->spans_dropped_export_error.load(), s->spans_dropped_shutdown.load(),
        s->requests_sent.load(), s->requests_failed.load(), s->retries.load(), s->bytes_sent.load(),
        s->bytes_uncompressed.load(), latency.count() == 0 ? 0 : latency.sum_us() / latency.count(),
        latency.max_us(), s->queue_spans.load(), s->queue_bytes.load());
  }
}

void log_injection_counters(const InjectOutcomeCounts& outcomes) {
  spdlog::info("{}", CounterLine("injection:").add("", outcomes).text());
}

void log_go_probe_counters(const probes::go::GoTracer& go_tracer) {
  CounterLine line("go probes:");
  line.add("",
           {{"processes", go_tracer.probed_processes()}, {"uprobes", go_tracer.attached_uprobes()}})
      .add("kernel", go_tracer.counters());
  spdlog::info("{}", line.text());
}

void log_openssl_probe_counters(const probes::openssl::OpenSslTracer& tracer) {
  CounterLine line("openssl probes:");
  line.add("", {{"images", tracer.probed_images()}, {"uprobes", tracer.attached_uprobes()}})
      .add("kernel", tracer.counters());
  spdlog::info("{}", line.text());
}

void log_rdkafka_probe_counters(const probes::kafka::RdKafkaTracer& tracer) {
  CounterLine line("librdkafka probes:");
  line.add("", {{"images", tracer.probed_images()}, {"uprobes", tracer.attached_uprobes()}})
      .add("kernel", tracer.counters());
  spdlog::info("{}", line.text());
}

}  // namespace ztrace::agent
