#include "text_diff.hpp"

#include <algorithm>
#include <vector>

namespace circolo::cli {

namespace {

// Lines with their '\n' (the last one may have none), so that a missing final newline differs.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const auto end = text.find('\n', begin);
    if (end == std::string::npos) {
      out.push_back(text.substr(begin));
      break;
    }
    out.push_back(text.substr(begin, end + 1 - begin));
    begin = end + 1;
  }
  return out;
}

enum class Op { keep, remove, add };
struct Edit {
  Op op;
  std::size_t a, b;  // line indexes in before (keep, remove) and after (keep, add)
};

// A shortest edit script (Myers 1986), keeping the furthest x of every diagonal per step. Beyond
// kMaxSteps edits (texts with almost nothing in common) it replaces the middle wholesale.
std::vector<Edit> edit_script(const std::vector<std::string>& a,
                              const std::vector<std::string>& b) {
  constexpr long kMaxSteps = 2000;
  const long n = static_cast<long>(a.size()), m = static_cast<long>(b.size());
  long prefix = 0;
  while (prefix < n && prefix < m && a[prefix] == b[prefix]) ++prefix;
  long suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix && a[n - 1 - suffix] == b[m - 1 - suffix])
    ++suffix;
  const long an = n - prefix - suffix, bm = m - prefix - suffix;
  auto same = [&](long x, long y) { return a[prefix + x] == b[prefix + y]; };

  std::vector<Edit> middle;  // in reverse order while backtracking
  const long max = an + bm;
  std::vector<std::vector<long>> trace;  // v of each step d, indexed k + d
  std::vector<long> v(2 * static_cast<std::size_t>(max) + 3, 0);
  const long offset = max + 1;
  long found = -1;
  for (long d = 0; d <= max && d <= kMaxSteps && found < 0; ++d) {
    for (long k = -d; k <= d; k += 2) {
      long x = (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]))
                   ? v[offset + k + 1]
                   : v[offset + k - 1] + 1;
      long y = x - k;
      while (x < an && y < bm && same(x, y)) ++x, ++y;
      v[offset + k] = x;
      if (x >= an && y >= bm) found = d;
    }
    trace.emplace_back(v.begin() + (offset - d), v.begin() + (offset + d + 1));
  }
  if (found < 0) {
    for (long y = bm - 1; y >= 0; --y) middle.push_back({Op::add, 0, std::size_t(prefix + y)});
    for (long x = an - 1; x >= 0; --x) middle.push_back({Op::remove, std::size_t(prefix + x), 0});
  } else {
    long x = an, y = bm;
    for (long d = found; d >= 0; --d) {
      const auto& vd = d > 0 ? trace[static_cast<std::size_t>(d - 1)] : trace[0];
      auto at = [&](long k) { return vd[static_cast<std::size_t>(k + d - 1)]; };
      const long k = x - y;
      long prev_x = 0, prev_y = 0;
      if (d > 0) {
        const long prev_k = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
        prev_x = at(prev_k);
        prev_y = prev_x - prev_k;
      }
      while (x > prev_x && y > prev_y) {
        --x, --y;
        middle.push_back({Op::keep, std::size_t(prefix + x), std::size_t(prefix + y)});
      }
      if (d == 0) break;
      if (x == prev_x)
        middle.push_back({Op::add, std::size_t(prefix + x), std::size_t(prefix + prev_y)});
      else
        middle.push_back({Op::remove, std::size_t(prefix + prev_x), std::size_t(prefix + y)});
      x = prev_x;
      y = prev_y;
    }
  }
  std::vector<Edit> out;
  for (long i = 0; i < prefix; ++i) out.push_back({Op::keep, std::size_t(i), std::size_t(i)});
  out.insert(out.end(), middle.rbegin(), middle.rend());
  for (long i = 0; i < suffix; ++i)
    out.push_back({Op::keep, std::size_t(n - suffix + i), std::size_t(m - suffix + i)});
  return out;
}

std::string range(std::size_t first, std::size_t count) {
  // diff -u: "l" for one line, "l,n" otherwise; an empty range names the line before it.
  if (count == 1) return std::to_string(first + 1);
  return std::to_string(count == 0 ? first : first + 1) + "," + std::to_string(count);
}

void put_line(std::string& out, char mark, const std::string& line) {
  out += mark;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::string unified_diff(const std::string& before, const std::string& after,
                         const std::string& old_name, const std::string& new_name, int context) {
  if (before == after) return "";
  const auto a = lines_of(before), b = lines_of(after);
  const auto edits = edit_script(a, b);
  const std::size_t c = static_cast<std::size_t>(std::max(context, 0));
  std::string out = "--- " + old_name + "\n+++ " + new_name + "\n";
  std::size_t i = 0;
  while (i < edits.size()) {
    while (i < edits.size() && edits[i].op == Op::keep) ++i;
    if (i == edits.size()) break;
    // A hunk: from `context` lines before this change to `context` after the last change that
    // is no more than 2 * context unchanged lines from the one before it.
    const std::size_t begin = i >= c ? i - c : 0;
    std::size_t end = i;
    while (true) {
      while (end < edits.size() && edits[end].op != Op::keep) ++end;
      std::size_t next = end;
      while (next < edits.size() && edits[next].op == Op::keep) ++next;
      if (next < edits.size() && next - end <= 2 * c) {
        end = next;
        continue;
      }
      end = std::min(edits.size(), end + c);
      break;
    }
    std::size_t a_count = 0, b_count = 0;
    std::size_t a_first = a.size(), b_first = b.size();
    // Where the hunk starts in each file, also when it has no line of that file.
    for (std::size_t j = begin; j < edits.size(); ++j) {
      if (edits[j].op != Op::add && a_first == a.size()) a_first = edits[j].a;
      if (edits[j].op != Op::remove && b_first == b.size()) b_first = edits[j].b;
      if (a_first != a.size() && b_first != b.size()) break;
    }
    std::string body;
    for (std::size_t j = begin; j < end; ++j) {
      const auto& e = edits[j];
      if (e.op == Op::keep) {
        put_line(body, ' ', a[e.a]);
        ++a_count, ++b_count;
      } else if (e.op == Op::remove) {
        put_line(body, '-', a[e.a]);
        ++a_count;
      } else {
        put_line(body, '+', b[e.b]);
        ++b_count;
      }
    }
    out += "@@ -" + range(a_first, a_count) + " +" + range(b_first, b_count) + " @@\n" + body;
    i = end;
  }
  return out;
}

}  // namespace circolo::cli
