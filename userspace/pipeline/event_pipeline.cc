#include "userspace/pipeline/event_pipeline.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "bpf/rdkafka_probes.h"
#include "userspace/protocols/kafka/span_builder.h"
#include "userspace/protocols/span_conventions.h"
#include "userspace/sampling/tracing_settings.h"
#include "userspace/spans/semconv.h"
#include "userspace/spans/trace_context.h"

namespace ztrace::pipeline {
namespace {

// Copies an event out of the ring buffer bytes; false when it is too short for its type.
// Data events are variable-size: only the captured prefix of data[] is present.
template <typename Event>
bool copy_event(std::span<const uint8_t> bytes, size_t min_size, Event* out) {
  if (bytes.size() < min_size || bytes.size() > sizeof(Event)) return false;
  std::memcpy(out, bytes.data(), bytes.size());
  return true;
}

// What the service graph pairs by: the span's ids (as the wire carried them) and the
// connection's two ends.
void record_ids_and_endpoints(metrics::SpanRecord& record, const spans::Span& ids,
                              const protocols::ConnectionView& view) {
  record.trace_id = ids.trace_id;
  record.span_id = ids.span_id;
  record.parent_span_id = ids.parent_span_id;
  record.local_address = view.local.address;
  record.local_port = view.local.port;
  record.peer_address = view.remote.address;
  record.peer_port = view.remote.port;
}

}  // namespace

EventPipeline::EventPipeline(EventPipelineOptions options, const spans::KernelClock& clock,
                             process::ProcessTable& processes, exporter::ExportPipeline& exporter,
                             ProcessHooks hooks)
    : span_builders_(conntrack::Protocols::make_span_builders(options.spans, clock)),
      processes_(processes),
      exporter_(exporter),
      hooks_(std::move(hooks)),
      connections_(
          options.connections,
          [this](const protocols::ConnectionView& view, conntrack::Protocols::ExchangeRef exchange,
                 const zt_trace_context* context) {
            return std::visit(
                [&]<typename Exchange>(Exchange* one) {
                  using Protocol = conntrack::Protocols::ProtocolOfExchange<Exchange>;
                  return on_exchange<Protocol>(view, *one, context);
                },
                exchange);
          },
          [this](uint32_t pid) {
            auto resource = processes_.get(pid);
            if (hooks_.on_resource) hooks_.on_resource(pid, *resource);
            return resource;
          },
          [this](uint32_t pid, const zt_trace_context* kernel_context,
                 const std::string& traceparent, const std::string& tracestate) {
            on_server_head(pid, kernel_context, traceparent, tracestate);
          }),
      request_metrics_(options.request_metrics),
      now_ns_(spans::KernelClock::monotonic_now_ns()) {}

void EventPipeline::on_server_head(uint32_t pid, const zt_trace_context* kernel_context,
                                   const std::string& traceparent, const std::string& tracestate) {
  auto header = spans::parse_traceparent(traceparent);
  if (!header) return;
  if (spans::keepable_tracestate(tracestate)) {
    incoming_trace_states_.remember(header->trace_id, tracestate);
  }
  // A client request of this process carrying the same parent forwards it.
  auto& received = received_parents_[pid];
  uint64_t parent;
  std::memcpy(&parent, header->parent_span_id.data(), sizeof(parent));
  if (received.size() >= kReceivedParentsPerProcess) received.pop_front();
  received.push_back(parent);
  // The kernel could not see the header: its trace, and the children made under it, belong to
  // the header's trace.
  if (kernel_context && kernel_context->origin == ZT_CTX_SERVER_NEW) {
    correct_trace(kernel_context->trace_id, *header);
  }
}

void EventPipeline::correct_trace(const uint8_t (&kernel_trace_id)[16],
                                  const spans::TraceParent& header) {
  spans::TraceId key;
  std::memcpy(key.data(), kernel_trace_id, key.size());
  if (trace_corrections_.remember(key, header.trace_id)) ++stats_.spans.trace_corrections;
}

// A sampled trace the kernel started here (a request without a parent) is remembered with the
// threshold it was sampled at, before any of its spans is built.
void EventPipeline::note_trace_start(uint32_t pid, const zt_trace_context& context) {
  if (context.origin == ZT_CTX_NONE || !(context.trace_flags & ZT_TRACE_FLAG_SAMPLED)) return;
  static constexpr uint8_t kNoParent[sizeof(context.parent_span_id)] = {};
  if (std::memcmp(context.parent_span_id, kNoParent, sizeof(kNoParent)) != 0) return;
  spans::TraceId id;
  std::memcpy(id.data(), context.trace_id, id.size());
  mark_started_trace(pid, id);
}

// With tail sampling the decision is not a threshold, so nothing is written.
void EventPipeline::mark_started_trace(uint32_t pid, const spans::TraceId& id) {
  if (tail_active_ || !export_traces_.load(std::memory_order_relaxed)) return;
  const auto own = process_sampling_ ? process_sampling_->threshold_for(pid) : std::nullopt;
  started_traces_.mark(id, own.value_or(new_trace_threshold_.load(std::memory_order_relaxed)));
}

template <typename Protocol>
bool EventPipeline::on_exchange(const protocols::ConnectionView& view,
                                const typename Protocol::Exchange& exchange,
                                const zt_trace_context* context) {
  std::optional<spans::TraceParent> header;
  if (const std::string_view traceparent = Protocol::traceparent(exchange); !traceparent.empty()) {
    header = spans::parse_traceparent(traceparent);
  }
  const bool forwarded =
      header && view.role != Role::kServer && was_received_by(view.pid, header->parent_span_id);
  const protocols::ExchangeContext exchange_context{view, context, header ? &*header : nullptr,
                                                    forwarded};
  // Not sampled where its ids were made, or not exported in this mode: it feeds the metrics
  // and nothing else. (In hybrid mode a trace without ids yet, neither from the kernel nor
  // from a header, is started below and sampled by its new id once its span is built.)
  const bool exporting = export_traces_.load(std::memory_order_relaxed);
  if constexpr (protocols::SummarizesExchanges<Protocol>) {
    if (context || header || !exporting) {
      protocols::assign_span_ids(exchange_context, span_ids_);
      const bool sampled = span_ids_.trace_flags & ZT_TRACE_FLAG_SAMPLED;
      if (!sampled || !exporting)
        return record_summary<Protocol>(exchange_context, exchange, sampled);
    }
  }
  auto& builder = std::get<typename Protocol::SpanBuilder>(span_builders_);
  auto built = builder.build(exchange_context, exchange);
  const uint8_t origin = context ? context->origin : uint8_t{ZT_CTX_NONE};
  const auto emit = [&](spans::Span& span) {
    record_span(span, view);  // before any sampling
    ++stats_.link_outcomes[origin];
    // Sampled as the trace its builder put it in was, where that trace's ids were made: the
    // kernel's context, a header's flags, or the producing request's (a librdkafka send the
    // Kafka builder moves into that request's trace). Without a kernel context, a trace
    // started here is sampled below.
    if (context && !(span.trace_flags & ZT_TRACE_FLAG_SAMPLED)) {
      ++stats_.spans.unsampled;
      return;
    }
    // A trace the pipeline starts (no ids from the kernel nor a header) is sampled here by its
    // id, as the kernel samples the ones it starts, and its root records the threshold
    // (consistent probability sampling; none with tail sampling). The traces the kernel started
    // were marked when their first request arrived: submit() writes theirs on every span.
    if (!context && !header) {
      const auto own =
          process_sampling_ ? process_sampling_->threshold_for(view.pid) : std::nullopt;
      const uint64_t threshold = own.value_or(new_trace_threshold_.load(std::memory_order_relaxed));
      span.trace_flags = sampling::sampled(span.trace_id, threshold) ? ZT_TRACE_FLAG_SAMPLED : 0;
      if (spans::is_zero(span.parent_span_id) && !tail_active_) {
        span.trace_state = tracestate_for(threshold);
      }
    }
    if (span.kind == spans::SpanKind::kClient) count_client_link(view, origin);
    submit(std::move(span));
  };
  if constexpr (std::is_same_v<decltype(built), std::optional<spans::Span>>) {
    if (!built) return false;
    emit(*built);
  } else {  // protocols whose exchange gives several spans (a Kafka produce: one per topic)
    if (built.empty()) return false;
    for (spans::Span& span : built) emit(span);
  }
  return true;
}

void EventPipeline::on_message_polled(const zt_kafka_message_event& event) {
  auto span = std::get<kafka::SpanBuilder>(span_builders_).on_message_polled(event);
  if (!span) {
    ++stats_.events.malformed;
    return;
  }
  // A trace the kernel started and sampled as any new trace: it and the calls made while the
  // message is processed record its threshold.
  if (span->trace_flags & ZT_TRACE_FLAG_SAMPLED) mark_started_trace(event.pid, span->trace_id);
  span->resource = processes_.get(event.pid);
  submit(std::move(*span));
}

const std::string& EventPipeline::tracestate_for(uint64_t threshold) {
  if (tracestate_threshold_ != threshold) {
    tracestate_ = sampling::th_tracestate(threshold);
    tracestate_threshold_ = threshold;
  }
  return tracestate_;
}

template <typename Protocol>
bool EventPipeline::record_summary(const protocols::ExchangeContext& context,
                                   const typename Protocol::Exchange& exchange, bool sampled) {
  const std::optional<protocols::ExchangeSummary> summary =
      Protocol::summarize(exchange, context.connection.role);
  if (!summary) return false;
  const protocols::ConnectionView& view = context.connection;
  const bool server = view.role == Role::kServer;
  metrics::SpanRecord record;
  record.service = metrics::service_name(view.resource.get());
  record.name = summary->name;
  record.kind = server ? spans::SpanKind::kServer : spans::SpanKind::kClient;
  record.status = summary->status;
  record.duration_ns = summary->end_ns - summary->start_ns;
  record.path = summary->path;
  record_ids_and_endpoints(record, span_ids_, view);
  record_metrics(record);
  ++stats_.link_outcomes[context.kernel_context ? context.kernel_context->origin
                                                : uint8_t{ZT_CTX_NONE}];
  ++(sampled ? stats_.spans.withheld : stats_.spans.unsampled);
  return true;
}

// Every request, exported or not: the span metrics, the service graph and adaptive sampling's
// windows must be exact.
void EventPipeline::record_metrics(const metrics::SpanRecord& record) {
  request_metrics_.record(record, now_ns_);
  if (adaptive_.watching()) {
    adaptive_.observe(record.service, record.kind, record.duration_ns,
                      record.status == spans::StatusCode::kError, now_ns_);
  }
}

void EventPipeline::record_span(const spans::Span& span, const protocols::ConnectionView& view) {
  metrics::SpanRecord record;
  record.service = metrics::service_name(span.resource.get());
  record.name = span.name;
  record.kind = span.kind;
  record.status = span.status_code;
  record.duration_ns = spans::duration_ns(span);
  // One pass over the attributes for the four the metrics read (the first of each counts).
  const spans::AttributeValue* route = nullptr;
  const spans::AttributeValue* path = nullptr;
  bool database = false, messaging = false;
  for (const spans::Attribute& attribute : span.attributes) {
    const std::string_view key = attribute.key;
    if (!route && key == semconv::http::kHttpRoute.view()) {
      route = &attribute.value;
    } else if (!path && key == semconv::url::kUrlPath.view()) {
      path = &attribute.value;
    } else if (key == semconv::db::kDbSystemName.view()) {
      database = true;
    } else if (key == semconv::messaging::kMessagingSystem.view()) {
      messaging = true;
    }
  }
  const auto text = [](const spans::AttributeValue* value) -> std::string_view {
    const std::string* s = value ? std::get_if<std::string>(value) : nullptr;
    return s ? std::string_view(*s) : std::string_view();
  };
  record.route = text(route);
  if (record.route.empty()) record.path = text(path);
  if (database) {
    record.peer_kind = metrics::PeerKind::kDatabase;
  } else if (messaging) {
    record.peer_kind = metrics::PeerKind::kMessaging;
  }
  record_ids_and_endpoints(record, span, view);
  record_metrics(record);
}

void EventPipeline::set_tracing(uint64_t new_trace_threshold, bool export_traces) {
  new_trace_threshold_.store(new_trace_threshold, std::memory_order_relaxed);
  export_traces_.store(export_traces, std::memory_order_relaxed);
}

void EventPipeline::count_client_link(const protocols::ConnectionView& view, uint8_t origin) {
  std::string_view runtime;
  if (view.resource) {
    for (const auto& attribute : view.resource->attributes) {
      if (attribute.key == semconv::process::kProcessRuntimeName) {
        if (const auto* name = std::get_if<std::string>(&attribute.value)) runtime = *name;
        break;
      }
    }
  }
  auto& by_runtime = stats_.client_links_by_runtime;
  auto it = std::find_if(by_runtime.begin(), by_runtime.end(),
                         [&](const RuntimeLinkOutcomes& r) { return r.runtime == runtime; });
  if (it == by_runtime.end()) {
    if (by_runtime.size() >= EventPipelineStats::kMaxRuntimes) runtime = "other";
    it = std::find_if(by_runtime.begin(), by_runtime.end(),
                      [&](const RuntimeLinkOutcomes& r) { return r.runtime == runtime; });
    if (it == by_runtime.end()) {
      it = by_runtime.insert(by_runtime.end(), RuntimeLinkOutcomes{std::string(runtime), {}});
    }
  }
  ++it->outcomes[origin];
}

void EventPipeline::submit(spans::Span&& span) {
  if (!trace_corrections_.empty()) {
    if (const spans::TraceId* corrected = trace_corrections_.find(span.trace_id)) {
      span.trace_id = *corrected;
    }
  }
  if (!(span.trace_flags & ZT_TRACE_FLAG_SAMPLED)) {
    ++stats_.spans.unsampled;
    return;
  }
  if (!export_traces_.load(std::memory_order_relaxed)) {
    ++stats_.spans.withheld;
    return;
  }
  if (!adaptive_.admit(span)) {
    ++stats_.spans.over_budget;
    return;
  }
  // Only a span that goes out copies its trace's incoming tracestate.
  if (!incoming_trace_states_.empty() && span.trace_state.empty()) {
    if (const std::string* state = incoming_trace_states_.find(span.trace_id)) {
      span.trace_state = *state;
    }
  }
  if (span.trace_state.empty() && !tail_active_) {
    if (const uint64_t* threshold = started_traces_.find(span.trace_id)) {
      span.trace_state = tracestate_for(*threshold);
    }
  }
  ++stats_.spans.built;
  if (tail_handover_pending_.load(std::memory_order_relaxed)) take_tail_settings();
  if (!tail_active_) {
    exporter_.submit(std::move(span));
    return;
  }
  tail_->add(std::move(span), spans::KernelClock::monotonic_now_ns(), &tail_kept_);
  export_kept();
}

void EventPipeline::export_kept() {
  for (spans::Span& span : tail_kept_) exporter_.submit(std::move(span));
  tail_kept_.clear();
}

void EventPipeline::set_tail_sampling(std::optional<sampling::TailSettings> settings,
                                      uint64_t ratio_threshold) {
  std::lock_guard lock(tail_handover_mutex_);
  tail_handover_ = TailHandover{settings, ratio_threshold};
  tail_handover_pending_.store(true, std::memory_order_release);
}

void EventPipeline::take_tail_settings() {
  if (!tail_handover_pending_.exchange(false, std::memory_order_acquire)) return;
  std::optional<TailHandover> handover;
  {
    std::lock_guard lock(tail_handover_mutex_);
    handover.swap(tail_handover_);
  }
  if (!handover) return;
  if (!handover->settings) {  // off: what is held is decided, the counters stay readable
    if (tail_active_) tail_->decide_all(&tail_kept_);
    tail_active_ = false;
  } else if (!tail_) {
    tail_ = std::make_unique<sampling::TailSampler>(*handover->settings, handover->ratio_threshold);
    tail_active_ = true;
  } else {
    tail_->reconfigure(*handover->settings, handover->ratio_threshold, &tail_kept_);
    tail_active_ = true;
  }
  export_kept();
}

void EventPipeline::finish() {
  take_tail_settings();
  if (!tail_active_) return;
  tail_->decide_all(&tail_kept_);
  export_kept();
}

void EventPipeline::handle(std::span<const uint8_t> bytes) {
  if (bytes.empty()) {
    ++stats_.events.malformed;
    return;
  }
  switch (bytes[0]) {
    case ZT_EVENT_DATA: {
      // Read in place: callers hand over 8-byte aligned copies of the ring's bytes, and
      // data events are large. Only the captured prefix of data[] is present.
      constexpr size_t kHeaderBytes = offsetof(zt_data_event, data);
      const auto* event = reinterpret_cast<const zt_data_event*>(bytes.data());
      if (bytes.size() < kHeaderBytes || bytes.size() > sizeof(zt_data_event) ||
          reinterpret_cast<uintptr_t>(bytes.data()) % alignof(zt_data_event) != 0 ||
          event->captured_bytes > bytes.size() - kHeaderBytes) {
        ++stats_.events.malformed;
        return;
      }
      ++stats_.events.data;
      note_trace_start(event->pid, event->trace);
      connections_.on_data(*event);
      return;
    }
    case ZT_EVENT_CONN_OPEN:
    case ZT_EVENT_CONN_CLOSE: {
      zt_conn_event event;
      if (!copy_event(bytes, sizeof(event), &event)) {
        ++stats_.events.malformed;
        return;
      }
      ++stats_.events.connection;
      if (bytes[0] == ZT_EVENT_CONN_OPEN) {
        connections_.on_open(event);
      } else {
        connections_.on_close(event);
      }
      return;
    }
    case ZT_EVENT_FDS_CLOSED: {
      zt_fds_closed_event event;
      if (!copy_event(bytes, sizeof(event), &event)) {
        ++stats_.events.malformed;
        return;
      }
      ++stats_.events.connection;
      connections_.on_fds_closed(event);
      return;
    }
    case ZT_EVENT_H2_STREAM_CONTEXT: {
      zt_h2_stream_event event;
      if (!copy_event(bytes, sizeof(event), &event)) {
        ++stats_.events.malformed;
        return;
      }
      note_trace_start(event.pid, event.trace);
      connections_.on_stream_context(event);
      return;
    }
    case ZT_EVENT_KAFKA_PRODUCE_CALL: {
      zt_kafka_produce_event event;
      if (!copy_event(bytes, sizeof(event), &event)) {
        ++stats_.events.malformed;
        return;
      }
      std::get<kafka::SpanBuilder>(span_builders_).on_produce_call(event);
      return;
    }
    case ZT_EVENT_KAFKA_MESSAGE_POLLED: {
      zt_kafka_message_event event;
      if (!copy_event(bytes, sizeof(event), &event)) {
        ++stats_.events.malformed;
        return;
      }
      on_message_polled(event);
      return;
    }
    case ZT_EVENT_PROC_EXEC:
    case ZT_EVENT_PROC_EXIT: {
      zt_proc_event event{};
      if (!copy_event(bytes, offsetof(zt_proc_event, filename), &event)) {
        ++stats_.events.malformed;
        return;
      }
      ++stats_.events.process;
      // The old image's connections end with it (CLOEXEC) or at exit.
      const std::vector<int32_t> socket_fds =
          connections_.on_process_exit(event.pid, event.timestamp_ns);
      received_parents_.erase(event.pid);
      // On exec the intake thread already replaced the resource with the new image's.
      if (bytes[0] == ZT_EVENT_PROC_EXIT) processes_.forget(event.pid);
      const auto& hook = bytes[0] == ZT_EVENT_PROC_EXEC ? hooks_.on_exec : hooks_.on_exit;
      if (hook) hook(event.pid, socket_fds);
      return;
    }
    default:
      ++stats_.events.malformed;
  }
}

bool EventPipeline::was_received_by(uint32_t pid, const spans::SpanId& parent_span_id) const {
  auto it = received_parents_.find(pid);
  if (it == received_parents_.end()) return false;
  uint64_t parent;
  std::memcpy(&parent, parent_span_id.data(), sizeof(parent));
  for (uint64_t received : it->second) {
    if (received == parent) return true;
  }
  return false;
}

void EventPipeline::tick(uint64_t now_monotonic_ns) {
  connections_.expire_idle(now_monotonic_ns);
  now_ns_ = now_monotonic_ns;
  request_metrics_.expire(now_monotonic_ns);
  adaptive_.tick(now_monotonic_ns);
  take_tail_settings();
  if (tail_active_) {
    tail_->decide_due(now_monotonic_ns, &tail_kept_);
    export_kept();
  }
}

EventPipelineStats EventPipeline::stats() const {
  EventPipelineStats s = stats_;
  s.connections = connections_.stats();
  if (tail_) s.tail = tail_->stats();
  s.adaptive = adaptive_.snapshot(now_ns_);
  return s;
}

}  // namespace ztrace::pipeline
