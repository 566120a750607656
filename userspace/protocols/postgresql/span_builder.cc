#include "userspace/protocols/postgresql/span_builder.h"

#include <algorithm>
#include <string>

#include "userspace/protocols/span_conventions.h"
#include "userspace/spans/semconv.h"

namespace ztrace::postgresql {
namespace {

using spans::StatusCode;

// What the request's statements say: text and summary, as the conventions define them for a
// single operation and for a batch.
struct QueryAttributes {
  std::string text;
  std::string summary;
  bool truncated = false;
};

QueryAttributes query_attributes(const Request& request) {
  QueryAttributes out;
  const auto& statements = request.statements;
  if (statements.empty()) return out;
  const bool all_known =
      std::all_of(statements.begin(), statements.end(), [](const auto& s) { return s != nullptr; });
  const bool batch = request.executions > 1;
  if (!all_known) {
    // Never a wrong text: a batch with a statement prepared before the agent has none.
    if (!batch && statements[0]) out.summary = statements[0]->summary;
    return out;
  }
  const bool same = std::all_of(statements.begin(), statements.end(), [&](const auto& s) {
    return s == statements[0] || s->text == statements[0]->text;
  });
  for (const auto& s : statements) out.truncated |= s->truncated;
  if (!batch) {
    out.text = statements[0]->text;
    out.summary = statements[0]->summary;
    return out;
  }
  if (same) {
    out.text = statements[0]->text;
    out.summary = statements[0]->summary.empty() ? "BATCH" : "BATCH " + statements[0]->summary;
    return out;
  }
  for (const auto& s : statements) {
    if (!out.text.empty()) out.text += "; ";
    out.text += s->text;
  }
  if (statements.size() < request.executions) out.truncated = true;  // more than were kept
  out.summary = "BATCH";
  return out;
}

// db.operation.name from the server's command tags (never parsed out of a text that may hold
// several statements): one command, or a batch of them.
std::string operation_name(const Request& request, const Response& response) {
  if (response.commands == 0 || response.command.empty()) return {};
  if (request.executions > 1) {
    return response.same_command ? "BATCH " + response.command : std::string("BATCH");
  }
  return response.commands == 1 ? response.command : std::string();
}

}  // namespace

std::optional<spans::Span> SpanBuilder::build(const protocols::ExchangeContext& context,
                                              const Exchange& exchange) const {
  std::optional<spans::Span> result;
  const protocols::ConnectionView& connection = context.connection;
  if (connection.role == Role::kServer) return result;
  const Request& request = exchange.request;
  spans::Span& span = result.emplace();
  protocols::start_span(context, span);
  span.kind = spans::SpanKind::kClient;

  span.set(semconv::db::kDbSystemName, std::string(semconv::db::kDbSystemPostgresql));
  if (exchange.database && !exchange.database->empty()) {
    span.set(semconv::db::kDbNamespace, *exchange.database);
  }
  QueryAttributes query = query_attributes(request);
  if (!query.text.empty()) span.set(semconv::db::kDbQueryText, std::move(query.text));
  if (!query.summary.empty()) span.set(semconv::db::kDbQuerySummary, query.summary);
  if (request.executions > 1) {
    span.set(semconv::db::kDbOperationBatchSize, int64_t{request.executions});
  }
  std::string operation;
  uint64_t end_ns = request.end_ns;
  bool truncated = request.truncated || query.truncated;
  if (const auto& response = exchange.response) {
    operation = operation_name(request, *response);
    if (!operation.empty()) span.set(semconv::db::kDbOperationName, operation);
    if (!response->sqlstate.empty()) {
      span.set(semconv::db::kDbResponseStatusCode, response->sqlstate);
      span.set(semconv::error::kErrorType, response->sqlstate);
      span.status_code = StatusCode::kError;
    } else if (!response->truncated) {
      span.set(semconv::db::kDbResponseReturnedRows, static_cast<int64_t>(response->rows));
    }
    truncated |= response->truncated;
    end_ns = response->end_ns;
  } else {
    span.status_code = StatusCode::kError;
    span.status_message = "connection closed before a response";
    span.set(semconv::error::kErrorType, std::string(semconv::error::kZtraceNoResponse));
  }
  protocols::set_endpoint_attributes(span, connection, {});
  if (truncated) span.set(semconv::extension::kZtraceCaptureTruncated, true);

  // Span name (database conventions): {db.query.summary}, else {db.operation.name}, else
  // {db.system.name}.
  if (!query.summary.empty()) {
    span.name = std::move(query.summary);
  } else if (!operation.empty()) {
    span.name = operation;
  } else {
    span.name = std::string(semconv::db::kDbSystemPostgresql);
  }
  span.start_time_unix_nano = clock_.to_unix_ns(request.start_ns);
  span.end_time_unix_nano = clock_.to_unix_ns(std::max(end_ns, request.start_ns));
  return result;
}

}  // namespace ztrace::postgresql
