#include "circolo/rules/source.hpp"

#include <algorithm>

namespace circolo::rules {

std::string render(const Source& source, const Diagnostic& d, bool color) {
  const char* bold = color ? "\x1b[1m" : "";
  const char* red = color ? "\x1b[1;31m" : "";
  const char* yellow = color ? "\x1b[1;33m" : "";
  const char* green = color ? "\x1b[1;32m" : "";
  const char* reset = color ? "\x1b[0m" : "";
  std::string out = std::string(bold) + source.name + ":" + std::to_string(d.range.begin.line) +
                    ":" + std::to_string(d.range.begin.column) + ":" + reset + " " +
                    (d.severity == Severity::error ? std::string(red) + "error"
                                                   : std::string(yellow) + "warning") +
                    reset + ": " + d.message + "\n";
  // The line of the range's start, with a caret run under the range (to the end of that line).
  const auto& text = source.text;
  std::size_t start = std::min<std::size_t>(d.range.begin.offset, text.size());
  while (start > 0 && text[start - 1] != '\n') --start;
  std::size_t stop = start;
  while (stop < text.size() && text[stop] != '\n') ++stop;
  std::string line = text.substr(start, stop - start);
  for (auto& c : line) {
    if (c == '\t') c = ' ';
  }
  const std::string gutter = std::to_string(d.range.begin.line);
  out += " " + gutter + " | " + line + "\n";
  out += " " + std::string(gutter.size(), ' ') + " | ";
  const std::size_t col = d.range.begin.column > 0 ? d.range.begin.column - 1 : 0;
  std::size_t width = 1;
  if (d.range.end.line == d.range.begin.line && d.range.end.column > d.range.begin.column) {
    width = d.range.end.column - d.range.begin.column;
  }
  width = std::max<std::size_t>(1, std::min(width, line.size() > col ? line.size() - col : 1));
  out += std::string(std::min(col, line.size()), ' ') + green + "^" + std::string(width - 1, '~') +
         reset + "\n";
  if (!d.suggestion.empty())
    out += " " + std::string(gutter.size(), ' ') + " = " + d.suggestion + "\n";
  return out;
}

std::string render_all(const Source& source, const std::vector<Diagnostic>& ds, bool color) {
  std::string out;
  for (const auto& d : ds) out += render(source, d, color);
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string nearest(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    const auto d = edit_distance(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // A typo: at most a third of the name wrong, and at most 3 edits.
  const std::size_t allowed = std::min<std::size_t>(3, std::max<std::size_t>(1, name.size() / 3));
  return best_distance <= allowed ? best : std::string();
}

}  // namespace circolo::rules
