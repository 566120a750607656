#include "userspace/protocols/postgresql/sql.h"

#include <array>
#include <cctype>
#include <vector>

namespace ztrace::postgresql {
namespace {

bool is_ident_start(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool is_ident_char(unsigned char c) { return is_ident_start(c) || std::isdigit(c) || c == '$'; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// End of the quoted literal whose opening quote is at `open` (npos: unterminated). `quote`
// doubled stands for itself; `backslash`: E'' strings, where \x escapes the next byte.
size_t end_of_quoted(std::string_view text, size_t open, char quote, bool backslash) {
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (backslash && text[i] == '\\') {
      ++i;
    } else if (text[i] == quote) {
      if (i + 1 < text.size() && text[i + 1] == quote) {
        ++i;
      } else {
        return i;
      }
    }
  }
  return std::string_view::npos;
}

// A dollar-quote tag "$tag$" or "$$" at `pos`; its length, 0 when there is none.
size_t dollar_tag_length(std::string_view text, size_t pos) {
  size_t i = pos + 1;
  if (i < text.size() && text[i] == '$') return 2;
  if (i >= text.size() || !is_ident_start(static_cast<unsigned char>(text[i]))) return 0;
  while (i < text.size() && is_ident_char(static_cast<unsigned char>(text[i])) && text[i] != '$') {
    ++i;
  }
  return i < text.size() && text[i] == '$' ? i - pos + 1 : 0;
}

// Length of the numeric literal at `pos` (a digit, or '.' then a digit).
size_t number_length(std::string_view text, size_t pos) {
  size_t i = pos;
  const auto digits = [&] {
    while (i < text.size() &&
           (std::isxdigit(static_cast<unsigned char>(text[i])) || text[i] == '_' ||
            text[i] == 'x' || text[i] == 'X' || text[i] == 'o' || text[i] == 'O')) {
      // Hex digits include 'e': an exponent is taken with them, which is still a number.
      ++i;
    }
  };
  digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    digits();
  }
  if (i < text.size() && (text[i] == '+' || text[i] == '-') &&
      (text[i - 1] == 'e' || text[i - 1] == 'E')) {
    ++i;
    digits();
  }
  return i - pos;
}

}  // namespace

std::string sanitize_sql(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  const auto literal = [&](size_t end) {  // replaces text[i..end] (inclusive) by '?'
    out += '?';
    i = end == std::string_view::npos ? text.size() : end + 1;
  };
  while (i < text.size()) {
    const char c = text[i];
    const auto uc = static_cast<unsigned char>(c);
    if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
      const size_t eol = text.find('\n', i);
      i = eol == std::string_view::npos ? text.size() : eol;
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      int depth = 0;  // block comments nest in PostgreSQL
      size_t j = i;
      while (j + 1 < text.size()) {
        if (text[j] == '/' && text[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (text[j] == '*' && text[j + 1] == '/') {
          j += 2;
          if (--depth == 0) break;
        } else {
          ++j;
        }
      }
      i = depth == 0 ? j : text.size();
      if (!out.empty() && !std::isspace(static_cast<unsigned char>(out.back()))) out += ' ';
      continue;
    }
    if (c == '\'') {
      literal(end_of_quoted(text, i, '\'', false));
      continue;
    }
    if (c == '"') {
      const size_t end = end_of_quoted(text, i, '"', false);
      const size_t stop = end == std::string_view::npos ? text.size() : end + 1;
      out.append(text.substr(i, stop - i));
      i = stop;
      continue;
    }
    if (c == '$') {
      if (i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
        size_t j = i + 1;  // $n: a parameter placeholder, kept
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        out.append(text.substr(i, j - i));
        i = j;
        continue;
      }
      if (const size_t tag = dollar_tag_length(text, i)) {
        const size_t close = text.find(text.substr(i, tag), i + tag);
        literal(close == std::string_view::npos ? close : close + tag - 1);
        continue;
      }
      out += c;
      ++i;
      continue;
    }
    if (is_ident_start(uc)) {
      size_t j = i;
      while (j < text.size() && is_ident_char(static_cast<unsigned char>(text[j]))) ++j;
      const std::string_view word = text.substr(i, j - i);
      // E'..', B'..', X'..', N'..' and U&'..' are literals with a prefix.
      if (j < text.size() && text[j] == '\'' && word.size() == 1 &&
          std::string_view("EeBbXxNn").find(word[0]) != std::string_view::npos) {
        i = j;
        literal(end_of_quoted(text, j, '\'', word[0] == 'E' || word[0] == 'e'));
        continue;
      }
      if (word.size() == 1 && (word[0] == 'U' || word[0] == 'u') && j + 1 < text.size() &&
          text[j] == '&' && text[j + 1] == '\'') {
        i = j + 1;
        literal(end_of_quoted(text, j + 1, '\'', false));
        continue;
      }
      out.append(word);
      i = j;
      continue;
    }
    if (std::isdigit(uc) || (c == '.' && i + 1 < text.size() &&
                             std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      literal(i + number_length(text, i) - 1);
      continue;
    }
    out += c;
    ++i;
  }
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

namespace {

struct Token {
  std::string_view text;
  bool word = false;  // identifier, keyword or quoted identifier (with its dots)
};

std::vector<Token> tokenize(std::string_view sql) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < sql.size()) {
    const auto c = static_cast<unsigned char>(sql[i]);
    if (std::isspace(c)) {
      ++i;
      continue;
    }
    if (is_ident_start(c) || c == '"') {
      size_t j = i;
      while (j < sql.size()) {  // name, "name", schema.name
        if (sql[j] == '"') {
          const size_t end = end_of_quoted(sql, j, '"', false);
          j = end == std::string_view::npos ? sql.size() : end + 1;
        } else if (is_ident_start(static_cast<unsigned char>(sql[j]))) {
          while (j < sql.size() && is_ident_char(static_cast<unsigned char>(sql[j]))) ++j;
        } else {
          break;
        }
        if (j + 1 < sql.size() && sql[j] == '.' &&
            (sql[j + 1] == '"' || is_ident_start(static_cast<unsigned char>(sql[j + 1])))) {
          ++j;
          continue;
        }
        break;
      }
      tokens.push_back({sql.substr(i, j - i), true});
      i = j;
      continue;
    }
    tokens.push_back({sql.substr(i, 1), false});
    ++i;
  }
  return tokens;
}

bool is_one_of(std::string_view word, std::initializer_list<std::string_view> list) {
  for (std::string_view w : list) {
    if (iequals(word, w)) return true;
  }
  return false;
}

// Words that end a FROM list or cannot be a table name there.
bool is_clause_keyword(std::string_view word) {
  return is_one_of(word, {"WHERE",   "JOIN",    "INNER",     "LEFT",    "RIGHT",  "FULL",
                          "CROSS",   "NATURAL", "ON",        "USING",   "GROUP",  "ORDER",
                          "LIMIT",   "OFFSET",  "HAVING",    "WINDOW",  "UNION",  "INTERSECT",
                          "EXCEPT",  "FOR",     "RETURNING", "SET",     "VALUES", "SELECT",
                          "LATERAL", "ONLY",    "AS",        "DEFAULT", "FETCH",  "WITH"});
}

class Summary {
 public:
  void add(std::string_view word, bool upper) {
    if (full_) return;
    const size_t needed = (text_.empty() ? 0 : 1) + word.size();
    if (text_.size() + needed > 255) {
      full_ = true;
      return;
    }
    if (!text_.empty()) text_ += ' ';
    for (char c : word) {
      text_ += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    }
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
  bool full_ = false;
};

}  // namespace

std::string summarize_sql(std::string_view sanitized) {
  const std::vector<Token> tokens = tokenize(sanitized);
  Summary summary;
  bool statement_start = true;
  bool any_operation = false;
  bool in_copy = false;
  // Per open parenthesis: whether it is a function call's (FROM inside is not a table list).
  std::vector<bool> call_parens;
  const auto in_call = [&] { return !call_parens.empty() && call_parens.back(); };
  const auto word_at = [&](size_t k) -> std::string_view {
    return k < tokens.size() && tokens[k].word ? tokens[k].text : std::string_view();
  };
  for (size_t k = 0; k < tokens.size(); ++k) {
    const Token& t = tokens[k];
    if (!t.word) {
      if (t.text == ";") {
        statement_start = true;
        in_copy = false;
      } else if (t.text == "(") {
        call_parens.push_back(
            k > 0 && tokens[k - 1].word &&
            !is_one_of(tokens[k - 1].text, {"FROM", "JOIN", "IN", "AS", "EXISTS", "INTO", "VALUES",
                                            "ANY", "ALL", "LATERAL", "TABLE"}));
      } else if (t.text == ")") {
        if (!call_parens.empty()) call_parens.pop_back();
      }
      continue;
    }
    const std::string_view w = t.text;
    const std::string_view previous = k > 0 ? word_at(k - 1) : std::string_view();
    const bool was_start = statement_start;
    statement_start = false;
    if (is_one_of(w, {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"})) {
      // Not the row locks (FOR UPDATE), the referential actions (ON DELETE) or upserts'
      // DO UPDATE, which name no operation.
      if (is_one_of(previous, {"FOR", "ON", "DO", "THEN", "KEY", "NO"})) continue;
      summary.add(w, true);
      any_operation = true;
      if (iequals(w, "UPDATE")) {
        size_t n = k + 1;
        if (iequals(word_at(n), "ONLY")) ++n;
        if (!word_at(n).empty()) summary.add(word_at(n), false);
      }
      continue;
    }
    if (iequals(w, "FROM") || iequals(w, "JOIN") || iequals(w, "INTO")) {
      if (in_call() || in_copy) continue;
      size_t n = k + 1;
      if (iequals(word_at(n), "ONLY")) ++n;
      while (n < tokens.size() && tokens[n].word && !is_clause_keyword(tokens[n].text)) {
        summary.add(tokens[n].text, false);
        // table [AS] alias, next table
        ++n;
        if (iequals(word_at(n), "AS")) ++n;
        if (n < tokens.size() && tokens[n].word && !is_clause_keyword(tokens[n].text)) ++n;
        if (!iequals(w, "FROM") || n >= tokens.size() || tokens[n].text != ",") break;
        ++n;
      }
      continue;
    }
    if (!was_start) continue;
    if (is_one_of(w, {"CREATE", "ALTER", "DROP"})) {
      size_t n = k + 1;
      while (is_one_of(word_at(n), {"OR", "REPLACE", "TEMP", "TEMPORARY", "UNLOGGED", "UNIQUE",
                                    "GLOBAL", "LOCAL", "MATERIALIZED"})) {
        ++n;
      }
      summary.add(w, true);
      any_operation = true;
      if (word_at(n).empty()) continue;
      summary.add(word_at(n), true);  // the object type: TABLE, INDEX, VIEW, ...
      ++n;
      while (is_one_of(word_at(n), {"IF", "NOT", "EXISTS", "CONCURRENTLY"})) ++n;
      if (!word_at(n).empty() && !iequals(word_at(n), "ON")) summary.add(word_at(n), false);
      continue;
    }
    if (is_one_of(w, {"COPY", "TRUNCATE", "LOCK", "VACUUM", "ANALYZE", "CLUSTER", "REINDEX"})) {
      summary.add(w, true);
      any_operation = true;
      in_copy = iequals(w, "COPY");
      size_t n = k + 1;
      while (is_one_of(word_at(n),
                       {"TABLE", "ONLY", "FULL", "FREEZE", "VERBOSE", "ANALYZE", "INDEX"})) {
        ++n;
      }
      if (!word_at(n).empty()) summary.add(word_at(n), false);
      continue;
    }
    if (is_one_of(w, {"WITH", "EXPLAIN"})) {
      statement_start = iequals(w, "EXPLAIN");
      if (statement_start) {
        summary.add(w, true);
        any_operation = true;
      }
      continue;
    }
    // Statements with no table: their keyword alone.
    if (is_one_of(w, {"BEGIN",      "START",   "COMMIT",  "END",      "ROLLBACK",   "ABORT",
                      "SAVEPOINT",  "RELEASE", "SET",     "SHOW",     "RESET",      "CALL",
                      "DO",         "LISTEN",  "NOTIFY",  "UNLISTEN", "PREPARE",    "EXECUTE",
                      "DEALLOCATE", "DECLARE", "FETCH",   "MOVE",     "CLOSE",      "DISCARD",
                      "GRANT",      "REVOKE",  "REFRESH", "COMMENT",  "CHECKPOINT", "VALUES",
                      "TABLE"})) {
      summary.add(w, true);
      any_operation = true;
      if (iequals(w, "TABLE") && !word_at(k + 1).empty()) summary.add(word_at(k + 1), false);
    }
  }
  return any_operation ? summary.take() : std::string();
}

}  // namespace ztrace::postgresql
