#include "html_page.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace circolo::cli::html {

namespace {

// The drawing area of every chart, in SVG units (the SVG scales to the page's width).
constexpr double kWidth = 760, kTop = 40, kBottom = 44, kLeft = 64;

std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

// Tick labels: 950, 15k, 1.5M.
std::string compact(double v) {
  char buffer[32];
  if (v >= 1e6)
    std::snprintf(buffer, sizeof buffer, "%gM", std::round(v / 1e5) / 10);
  else if (v >= 1e4)
    std::snprintf(buffer, sizeof buffer, "%gk", std::round(v / 1e2) / 10);
  else
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(std::llround(v)));
  return buffer;
}

// A bar's value at its end: whole numbers as they are, small fractions to three digits (0.665
// purchases per member), larger ones rounded.
std::string bar_value(double v) {
  char buffer[32];
  if (v == std::round(v) || std::fabs(v) >= 100)
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(std::llround(v)));
  else
    std::snprintf(buffer, sizeof buffer, "%.3g", v);
  return buffer;
}

// A scale from 0 in whole steps of 1, 2 or 5 times a power of ten: about five of them.
struct Scale {
  double step = 1, top = 1;
};
Scale scale_for(double max) {
  if (!(max > 0)) max = 1;
  const double raw = max / 5, magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude * 10;
  for (const double m : {1.0, 2.0, 5.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  step = std::max(step, 1.0);
  return {step, std::ceil(max / step) * step};
}

std::optional<std::chrono::sys_days> parse_day(const std::string& text) {
  int y = 0;
  unsigned m = 0, d = 0;
  char tail = 0;
  if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3)
    return std::nullopt;
  const std::chrono::year_month_day day{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  if (!day.ok()) return std::nullopt;
  return std::chrono::sys_days{day};
}

std::string format_day(std::chrono::sys_days day) {
  const std::chrono::year_month_day ymd{day};
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buffer;
}

void open_svg(std::ostringstream& out, const std::string& title, double height) {
  out << "<svg class=\"chart\" viewBox=\"0 0 " << num(kWidth) << ' ' << num(height)
      << "\" role=\"img\" aria-label=\"" << escape(title) << "\"><title>" << escape(title)
      << "</title>\n";
}

void text(std::ostringstream& out, double x, double y, const std::string& anchor,
          const std::string& content, const std::string& css = "") {
  out << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" text-anchor=\"" << anchor << '"'
      << (css.empty() ? "" : " class=\"" + css + "\"") << '>' << escape(content) << "</text>";
}

void line(std::ostringstream& out, double x1, double y1, double x2, double y2,
          const std::string& css) {
  out << "<line class=\"" << css << "\" x1=\"" << num(x1) << "\" y1=\"" << num(y1) << "\" x2=\""
      << num(x2) << "\" y2=\"" << num(y2) << "\"/>";
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<std::string> days_from_to(const std::string& first, const std::string& last) {
  const auto from = parse_day(first), to = parse_day(last);
  std::vector<std::string> out;
  if (!from || !to) return out;
  for (auto day = *from; day <= *to; day += std::chrono::days{1}) out.push_back(format_day(day));
  return out;
}

std::string line_chart(const LineChart& c) {
  const bool two_scales =
      std::any_of(c.series.begin(), c.series.end(), [](const Series& s) { return s.right_axis; });
  double left_max = c.budget.value_or(0), right_max = 0;
  for (const auto& s : c.series) {
    double& max = s.right_axis ? right_max : left_max;
    for (const auto& p : s.points) max = std::max(max, p.y);
  }
  const Scale left = scale_for(left_max), right = scale_for(right_max);
  const double height = 280, x0 = kLeft, x1 = kWidth - (two_scales ? 64 : 24), y0 = kTop,
               y1 = height - kBottom;
  const auto n = static_cast<int>(c.days.size());
  const auto X = [&](double i) { return n <= 1 ? (x0 + x1) / 2 : x0 + (x1 - x0) * i / (n - 1); };
  const auto Y = [&](double v, const Scale& s) { return y1 - (y1 - y0) * v / s.top; };

  std::ostringstream out;
  open_svg(out, c.title, height);
  for (double v = 0; v <= left.top + left.step / 2; v += left.step) {
    line(out, x0, Y(v, left), x1, Y(v, left), "grid");
    text(out, x0 - 6, Y(v, left) + 4, "end", compact(v));
  }
  if (two_scales) {
    for (double v = 0; v <= right.top + right.step / 2; v += right.step)
      text(out, x1 + 6, Y(v, right) + 4, "start", compact(v));
    text(out, kWidth - 4, y0 - 10, "end", c.right_unit);
  }
  text(out, 4, y0 - 10, "start", c.left_unit);
  line(out, x0, y1, x1, y1, "axis");
  line(out, x0, y0, x0, y1, "axis");
  const int every = std::max(1, (n + 6) / 7);  // at most 7 day labels
  for (int i = 0; i < n; i += every) {
    line(out, X(i), y1, X(i), y1 + 4, "axis");
    text(out, X(i), y1 + 18, "middle", c.days[i]);
  }
  if (c.budget) {
    line(out, x0, Y(*c.budget, left), x1, Y(*c.budget, left), "budget");
    text(out, x1 - 4, Y(*c.budget, left) - 5, "end", "budget " + compact(*c.budget), "budget");
  }
  for (std::size_t i = 0; i < c.markers.size(); ++i) {
    const auto& m = c.markers[i];
    line(out, X(m.x), y0, X(m.x), y1, "marker");
    const bool flip = X(m.x) > (x0 + x1) / 2;  // labels stay inside the chart
    text(out, X(m.x) + (flip ? -4 : 4), y0 + 12 + 13 * static_cast<double>(i % 4),
         flip ? "end" : "start", m.label, "marker");
  }
  double key_x = x0;  // the legend, along the top
  for (const auto& s : c.series) {
    if (s.points.empty()) continue;
    const Scale& scale = s.right_axis ? right : left;
    out << "\n<path class=\"data " << s.css << (s.dashed ? " dashed" : "") << "\" d=\"";
    if (s.points.size() == 1) {  // one day: a short dash, so that it shows as a line
      out << 'M' << num(X(s.points[0].x) - 5) << ' ' << num(Y(s.points[0].y, scale)) << "h10";
    } else {
      for (std::size_t i = 0; i < s.points.size(); ++i)
        out << (i ? 'L' : 'M') << num(X(s.points[i].x)) << ' ' << num(Y(s.points[i].y, scale));
    }
    out << "\"/>";
    for (const auto& p : s.points) {
      out << "<circle class=\"dot " << s.css << "\" cx=\"" << num(X(p.x)) << "\" cy=\""
          << num(Y(p.y, scale)) << "\" r=\"3\"><title>" << escape(p.tip) << "</title></circle>";
    }
    line(out, key_x, 14, key_x + 18, 14, "key " + s.css + (s.dashed ? " dashed" : ""));
    text(out, key_x + 22, 18, "start", s.name);
    key_x += 40 + 6.5 * static_cast<double>(s.name.size());
  }
  out << "\n</svg>\n";
  return out.str();
}

std::string bar_chart(const BarChart& c) {
  double max = c.budget.value_or(0);
  for (const auto& b : c.bars) max = std::max(max, b.value);
  const Scale scale = scale_for(max);
  const double x0 = 170, x1 = kWidth - 90, y0 = 28, row = 30,
               y1 = y0 + row * static_cast<double>(c.bars.size()), height = y1 + 30;
  const auto X = [&](double v) { return x0 + (x1 - x0) * v / scale.top; };

  std::ostringstream out;
  open_svg(out, c.title, height);
  for (double v = 0; v <= scale.top + scale.step / 2; v += scale.step) {
    line(out, X(v), y0, X(v), y1, "grid");
    text(out, X(v), y1 + 16, "middle", compact(v));
  }
  text(out, x0 - 8, y1 + 16, "end", c.unit);
  for (std::size_t i = 0; i < c.bars.size(); ++i) {
    const auto& b = c.bars[i];
    const double y = y0 + row * static_cast<double>(i) + 6;
    text(out, x0 - 8, y + 13, "end", b.label);
    out << "\n<path class=\"data bar " << b.css << "\" d=\"M" << num(x0) << ' ' << num(y) << "h"
        << num(X(b.value) - x0) << "v18h" << num(x0 - X(b.value)) << "Z\"><title>"
        << escape(b.label) << ": " << compact(b.value) << "</title></path>";
    text(out, X(b.value) + 6, y + 13, "start", bar_value(b.value));
  }
  line(out, x0, y0, x0, y1, "axis");
  if (c.budget) {
    line(out, X(*c.budget), y0 - 8, X(*c.budget), y1, "budget");
    text(out, X(*c.budget), y0 - 12, "middle", "budget " + std::to_string(std::llround(*c.budget)),
         "budget");
  }
  out << "\n</svg>\n";
  return out.str();
}

std::string table(const Table& t) {
  std::ostringstream out;
  out << "<table><thead>";
  if (!t.groups.empty()) {
    out << "<tr>";
    for (const auto& [label, columns] : t.groups)
      out << "<th colspan=\"" << columns << "\">" << escape(label) << "</th>";
    out << "</tr>";
  }
  out << "<tr>";
  for (std::size_t i = 0; i < t.head.size(); ++i)
    out << (i ? "<th class=\"n\">" : "<th>") << escape(t.head[i]) << "</th>";
  out << "</tr></thead><tbody>\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    out << (t.total && r + 1 == t.rows.size() ? "<tr class=\"total\">" : "<tr>");
    for (std::size_t i = 0; i < t.rows[r].size(); ++i)
      out << (i ? "<td class=\"n\">" : "<td>") << escape(t.rows[r][i]) << "</td>";
    out << "</tr>\n";
  }
  out << "</tbody></table>\n";
  return out.str();
}

namespace {

const char* const kStyle =
    R"(body{font:14px/1.45 system-ui,sans-serif;color:#1f2328;background:#fff;
max-width:900px;margin:24px auto;padding:0 16px}
h1{font-size:21px}h2{font-size:17px;margin-top:36px;padding-top:16px;border-top:1px solid #d0d7de}
h3{font-size:15px;margin-top:24px}figure{margin:12px 0 20px}figcaption{color:#57606a;font-size:13px}
svg.chart{display:block;width:100%;height:auto}svg text{font-size:11px;fill:#57606a}
.grid{stroke:#eaeef2}.axis{stroke:#8c959f}
.draft,.points{--c:#0969da}.actual{--c:#bc4c00}.firings{--c:#8250df}.left,.forecast{--c:#1a7f37}
path.data{fill:none;stroke:var(--c);stroke-width:2;stroke-linejoin:round}
path.bar{fill:var(--c);stroke:none}circle.dot{fill:var(--c)}line.key{stroke:var(--c);stroke-width:3}
.dashed{stroke-dasharray:6 4}line.budget,line.marker{stroke:#cf222e;stroke-dasharray:4 3}
text.budget,text.marker{fill:#cf222e}
table{border-collapse:collapse;margin:12px 0;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left}th.n,td.n{text-align:right}
tr.total td{font-weight:600}.note{color:#57606a}.errors{color:#cf222e;white-space:pre-wrap}
)";

// Errors of any script on the page end up in #plot-errors (and in data-errors).
const char* const kOnError = R"(window.onerror = function (message, source, line) {
  var body = document.body, box = document.getElementById("plot-errors");
  if (body) { body.dataset.errors = Number(body.dataset.errors || 0) + 1; body.dataset.plots = "failed"; }
  if (box) { box.hidden = false; box.textContent += "Error: " + message + " (line " + line + ")\n"; }
};
)";

// A chart counts as drawn when the browser laid it out and every line of it has an extent.
const char* const kCheck = R"((function () {
  var charts = document.querySelectorAll("svg.chart"), drawn = 0;
  charts.forEach(function (svg) {
    var box = svg.getBoundingClientRect(), lines = svg.querySelectorAll("path.data"), shown = 0;
    lines.forEach(function (path) {
      var b = path.getBBox();
      if (path.getAttribute("d") && (b.width > 0 || b.height > 0)) shown++;
    });
    if (box.width > 0 && box.height > 0 && lines.length > 0 && shown === lines.length) drawn++;
  });
  document.body.dataset.charts = drawn;
  if (!document.body.dataset.errors)
    document.body.dataset.plots = drawn === charts.length ? "ok" : "failed";
})();
)";

}  // namespace

std::string page(const std::string& title, const std::string& body) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>" << escape(title) << "</title>\n<style>\n"
      << kStyle << "</style>\n<script>\n"
      << kOnError << "</script>\n</head>\n<body data-plots=\"pending\">\n"
      << "<p id=\"plot-errors\" class=\"errors\" hidden></p>\n"
      << body << "<script>\n"
      << kCheck << "</script>\n</body>\n</html>\n";
  return out.str();
}

}  // namespace circolo::cli::html
