#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace circolo::rules {

struct Position {
  std::uint32_t offset = 0;
  std::uint32_t line = 1;    // 1-based
  std::uint32_t column = 1;  // 1-based, in bytes
};

struct Range {
  Position begin, end;
};

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  Range range;
  std::string message;     // what is wrong, and what was expected
  std::string suggestion;  // "did you mean ...?" text, may be empty
};

struct Source {
  std::string name;  // file name as shown in messages
  std::string text;
};

// "file:line:column: error: message", the source line, a caret under the range, and the
// suggestion. `color` adds ANSI colours for terminals.
std::string render(const Source& source, const Diagnostic& d, bool color = false);
std::string render_all(const Source& source, const std::vector<Diagnostic>& ds, bool color = false);

// Limits that keep the front end bounded on any input (fuzzed or hostile).
struct Limits {
  std::size_t max_source_bytes = 1 << 20;
  std::size_t max_depth = 64;          // nesting of expressions and blocks
  std::size_t max_nodes = 200'000;     // AST nodes in one file
  std::size_t max_list_length = 1000;  // elements of a list literal
  std::size_t max_errors = 50;         // reported per file
};

// Levenshtein distance for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate nearest to `name` if it is close enough to be a likely typo, else "".
std::string nearest(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace circolo::rules
