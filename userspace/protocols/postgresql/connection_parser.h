#pragma once

// PostgreSQL protocol 3.0 for one TCP connection, seen from the client: frames both
// directions, keeps the statements and portals the extended protocol names, and pairs each
// request (a simple Query, the messages up to a Sync, or a FunctionCall) with the backend
// messages up to its ReadyForQuery. Row data, COPY data and passwords are skipped unread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/common/connection_types.h"

namespace ztrace::postgresql {

// A statement's text as it may be exported: sanitized once, when its Parse (or Query) is seen.
struct Statement {
  std::string text;        // sanitize_sql of the text
  std::string summary;     // summarize_sql of `text`
  bool truncated = false;  // the text was longer than kept, or cut by uncaptured bytes
};

struct Request {
  enum class Kind : uint8_t {
    kQuery,         // simple Query: one text, maybe several statements
    kExtended,      // Parse/Bind/Execute... up to a Sync: one or more Executes
    kFunctionCall,  // FunctionCall (by function oid: no text)
  };
  Kind kind = Kind::kQuery;
  // The statement of each Execute in order (of the Query for kQuery), at most
  // kMaxOperationsKept; nullptr where its Parse was never seen (prepared before the agent).
  std::vector<std::shared_ptr<const Statement>> statements;
  uint32_t executions = 0;  // Execute messages (kExtended): the batch size
  bool truncated = false;   // frontend bytes of this request were not captured
  uint64_t start_ns = 0;    // timestamp of the syscall holding its first message
  uint64_t end_ns = 0;      // of its last message (Sync, Query, FunctionCall)
};

struct Response {
  std::string sqlstate;  // of the first ErrorResponse; empty: none
  std::string command;   // of the first CommandComplete, without counts ("SELECT", "CREATE TABLE")
  bool same_command = true;  // every CommandComplete named `command`
  uint32_t commands = 0;     // CommandComplete messages
  uint64_t rows = 0;         // DataRow messages
  bool truncated = false;    // backend bytes were lost: status and rows may be missing
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;  // of the ReadyForQuery
};

struct Exchange {
  Request request;
  std::optional<Response> response;             // absent: the connection closed first
  std::shared_ptr<const std::string> database;  // from the StartupMessage; null: not seen
};

struct ParserStats {
  uint64_t orphan_responses = 0;     // a ReadyForQuery with no request (joined late)
  uint64_t lost_sync = 0;            // backend framing lost to uncaptured bytes, then found
  uint64_t statement_evictions = 0;  // statements dropped to keep the table bounded
  uint64_t portal_evictions = 0;
  uint64_t unknown_statements = 0;  // Executes of a statement whose Parse was not seen
  uint64_t describe_only = 0;       // Syncs with no Execute (prepare/describe): no span
  uint64_t tls = 0;                 // SSLRequest/GSSENCRequest accepted: encrypted
  uint64_t cancel_requests = 0;
  uint64_t server_side = 0;             // the traced process is the server: no client spans
  uint64_t statements_over_budget = 0;  // kept without text: the process-wide budget was full
};

// Not thread-safe; memory bounded: one kept message (<= 64 KiB of a query text), at most
// 256 statements holding 1 MiB and 64 named portals (evictions counted), 128 MiB of
// statements over all connections (past it a statement is kept without text, counted), 1024
// requests awaiting their ReadyForQuery (more fails the connection), 64 texts per batch.
//
// Uncaptured bytes inside a message are skipped exactly (its text is marked truncated).
// Backend bytes lost across message boundaries: framing resumes after the next
// ReadyForQuery found at the end of a read, and the requests sent before it complete as
// truncated. Frontend bytes lost that way fail the connection: a request lost would shift
// every later pairing.
class ConnectionParser {
 public:
  static constexpr size_t kMaxStatements = 256;
  static constexpr size_t kMaxPortals = 64;
  static constexpr size_t kMaxPendingRequests = 1024;
  static constexpr size_t kMaxOperationsKept = 64;
  static constexpr size_t kMaxTextBytes = 64 * 1024;
  // Statement texts held per connection, and by all connections of the process together.
  static constexpr size_t kMaxStatementBytes = 1024 * 1024;
  static constexpr size_t kMaxTotalStatementBytes = 128 * 1024 * 1024;

  // role: kClient: egress carries frontend messages; kServer: the traced process is the
  // server, nothing is parsed (counted). kUnknown with joined_midstream: the first data
  // (strictly plausible frontend messages) names the frontend's direction.
  ConnectionParser(Role role, bool joined_midstream);
  ~ConnectionParser();
  ConnectionParser(ConnectionParser&&) noexcept;
  ConnectionParser& operator=(ConnectionParser&&) noexcept;

  void on_data(Direction dir, std::string_view bytes, uint64_t gap_bytes_after,
               uint64_t timestamp_ns, bool syscall_start);
  void on_close(uint64_t timestamp_ns);

  std::vector<Exchange> take_exchanges();
  // PostgreSQL carries no trace context: never any.
  struct HeadContext {
    uint64_t start_ns = 0;
    std::string traceparent;
    std::string tracestate;
  };
  std::vector<HeadContext> take_request_head_contexts() { return {}; }

  bool failed() const;
  std::string_view failure_reason() const;  // static string
  Role role() const;
  const ParserStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ztrace::postgresql
