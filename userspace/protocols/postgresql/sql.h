#pragma once

// SQL text made safe to export, and its low-cardinality summary (OpenTelemetry database
// conventions: db.query.text, db.query.summary). A lexer, not a parser: it knows PostgreSQL's
// literal syntax (SQL Syntax §4.1) well enough to never let a literal through.

#include <string>
#include <string_view>

namespace ztrace::postgresql {

// Every literal (strings, E'', B'', X'', U&'', dollar-quoted, numbers) becomes `?`, comments
// are dropped; identifiers, keywords, operators and $n placeholders are kept as written.
// A string whose end is missing (a cut text) ends in `?`, never in its bytes.
std::string sanitize_sql(std::string_view text);

// "OPERATION target..." in text order, e.g. "SELECT users", "INSERT orders SELECT carts";
// at most 255 bytes. Empty when no operation keyword is found.
std::string summarize_sql(std::string_view sanitized);

}  // namespace ztrace::postgresql
