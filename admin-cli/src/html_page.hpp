// The parts of the CLI's HTML pages (`--html FILE`): escaping, local days, SVG charts drawn here
// (no script needed to see them) and the page around them. Pure: strings in, strings out. A page
// needs no network: its style and its one script are inline, its charts inline SVG.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace circolo::cli::html {

// Text and attribute values: & < > " ' as character references.
std::string escape(std::string_view text);

// Every day from `first` to `last` ("YYYY-MM-DD", both included); empty when either is not a
// date or `last` is before `first`.
std::vector<std::string> days_from_to(const std::string& first, const std::string& last);

// A line chart over days: x is the index of a day in `days`. The points of a series are joined
// in their order; each is a marker with its tooltip.
struct Point {
  int x = 0;
  double y = 0;
  std::string tip;
};
struct Series {
  std::string name;
  std::string css;  // the class that colours it: draft, actual, points, firings, left, forecast
  std::vector<Point> points;
  bool dashed = false;
  bool right_axis = false;  // a second scale, on the right
};
struct Marker {  // a vertical line at a day, with a label
  int x = 0;
  std::string label;
};
struct LineChart {
  std::string title;
  std::vector<std::string> days;
  std::vector<Series> series;
  std::optional<double> budget;  // a horizontal line on the left scale
  std::vector<Marker> markers;
  std::string left_unit, right_unit;
};
std::string line_chart(const LineChart& chart);

// Horizontal bars against one scale, with an optional budget line across them.
struct Bar {
  std::string label, css;
  double value = 0;
};
struct BarChart {
  std::string title;
  std::vector<Bar> bars;
  std::optional<double> budget;
  std::string unit;
};
std::string bar_chart(const BarChart& chart);

// A table of text cells (escaped here); the cells after the first are right-aligned figures.
struct Table {
  std::vector<std::pair<std::string, int>> groups;  // an optional first header row: label, columns
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
  bool total = false;  // the last row is a total
};
std::string table(const Table& t);

// The whole document: `body` is HTML already. Its script records errors in #plot-errors and,
// once loaded, checks that every chart was laid out with its lines: body data-plots="ok" (or
// "failed") and data-charts the number of charts drawn.
std::string page(const std::string& title, const std::string& body);

}  // namespace circolo::cli::html
