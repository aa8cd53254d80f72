// Golden tests of the rules language: every tests/rules/golden/*.rules file carries its own
// expectations as comments, checked by this one driver:
//   # expect error 12:5: text        a diagnostic at 12:5 whose message contains text
//   # expect warning 3:1: text
//   # given event {json}             starts an evaluation case (member and counters optional;
//                                    subtotal defaults to total, discount to 0):
//   # given member {json}
//   # given firings {"key": n}
//   # expect effect award 84 campaign/rule [pending T] [expires T]
//   # expect effect coupon ID campaign/rule | badge NAME | tag NAME | untag NAME |
//                  progress ID by N | notify "text"
//   # expect trace campaign/rule reason
// A file without "expect error" must compile; its effects must match exactly and in order.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "circolo/engine/money.hpp"
#include "circolo/rules/evaluate.hpp"

using namespace circolo;
using namespace circolo::rules;
using nlohmann::json;

namespace {

Decimal decimal_of(const json& v) {
  if (v.is_number_integer()) return {v.get<std::int64_t>(), 0};
  const auto text = v.get<std::string>();
  const auto dot = text.find('.');
  const int scale = dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
  auto parsed = engine::parse_money(text, scale);
  return {parsed.value->minor, scale};
}

Attributes attributes_of(const json& j) {
  Attributes out;
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.items()) {
    if (v.is_boolean())
      out[k] = v.get<bool>();
    else if (v.is_number_integer())
      out[k] = v.get<std::int64_t>();
    else if (v.is_string())
      out[k] = v.get<std::string>();
  }
  return out;
}

Event event_of(const json& j) {
  Event e;
  e.type = j.value("type", "purchase");
  e.channel = j.value("channel", "store");
  if (j.contains("store")) e.store = j["store"].get<std::string>();
  e.time = *engine::parse_rfc3339(j.value("time", "2026-12-05T10:15:00+01:00"));
  e.total = decimal_of(j.value("total", json("0")));
  // A purchase's receipt total and its coupons' discount (total is what was paid).
  e.subtotal = j.contains("subtotal") ? decimal_of(j["subtotal"]) : e.total;
  e.discount = decimal_of(j.value("discount", json("0")));
  for (const auto& i : j.value("items", json::array())) {
    e.items.push_back({i.value("sku", ""), i.value("category", ""), i.value("brand", ""),
                       i.value("quantity", 1), decimal_of(i.value("price", json("0"))),
                       attributes_of(i.value("attributes", json::object()))});
  }
  for (const auto& c : j.value("coupons", json::array())) e.coupons.push_back(c.get<std::string>());
  e.attributes = attributes_of(j.value("attributes", json::object()));
  return e;
}

MemberSnapshot member_of(const json& j) {
  MemberSnapshot m;
  m.id = j.value("id", "mem_test");
  m.tier = j.value("tier", "");
  m.multiplier = decimal_of(j.value("multiplier", json("1")));
  for (const auto& t : j.value("tags", json::array())) m.tags.push_back(t.get<std::string>());
  for (const auto& t : j.value("badges", json::array())) m.badges.push_back(t.get<std::string>());
  m.points = j.value("points", 0);
  m.lifetime_points = j.value("lifetime_points", 0);
  m.purchases = j.value("purchases", 0);
  m.joined = *engine::parse_rfc3339(j.value("joined", "2025-01-01T00:00:00Z"));
  if (j.contains("birthday")) {
    const auto b = j["birthday"].get<std::string>();
    m.birthday =
        Date{std::stoi(b.substr(0, 4)), std::stoi(b.substr(5, 2)), std::stoi(b.substr(8, 2))};
  }
  m.attributes = attributes_of(j.value("attributes", json::object()));
  return m;
}

std::string render(const Effect& e) {
  const std::string where = " " + e.campaign + "/" + e.rule;
  switch (e.kind) {
    case EffectKind::award: {
      std::string out = "award " + std::to_string(e.points) + where;
      if (e.pending_until) out += " pending " + engine::format_rfc3339(*e.pending_until);
      if (e.expires_at) out += " expires " + engine::format_rfc3339(*e.expires_at);
      return out;
    }
    case EffectKind::issue_coupon:
      return "coupon " + e.target + where;
    case EffectKind::progress_challenge:
      return "progress " + e.target + " by " + std::to_string(e.points) + where;
    case EffectKind::grant_badge:
      return "badge " + e.target + where;
    case EffectKind::tag:
      return "tag " + e.target + where;
    case EffectKind::untag:
      return "untag " + e.target + where;
    case EffectKind::notify:
      return "notify \"" + e.message + "\"" + where;
  }
  return "";
}

struct Case {
  json event, member = json::object(), firings = json::object();
  std::vector<std::string> effects, traces;
  int line = 0;
};

struct Expectations {
  std::vector<std::tuple<std::string, int, int, std::string>>
      diagnostics;  // severity, line, col, text
  std::vector<Case> cases;
};

Expectations read_expectations(const std::string& text) {
  Expectations x;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  const std::regex diag(R"(#\s*expect (error|warning) (\d+):(\d+): (.*)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    ++number;
    const auto hash = line.find("# ");
    if (hash == std::string::npos) continue;
    const auto directive = line.substr(hash);
    if (std::regex_search(directive, m, diag)) {
      x.diagnostics.emplace_back(m[1], std::stoi(m[2]), std::stoi(m[3]), m[4]);
    } else if (directive.rfind("# given event ", 0) == 0) {
      Case c;
      c.event = json::parse(directive.substr(14));
      c.line = number;
      x.cases.push_back(std::move(c));
    } else if (directive.rfind("# given member ", 0) == 0) {
      x.cases.back().member = json::parse(directive.substr(15));
    } else if (directive.rfind("# given firings ", 0) == 0) {
      x.cases.back().firings = json::parse(directive.substr(16));
    } else if (directive.rfind("# expect effect ", 0) == 0) {
      x.cases.back().effects.push_back(directive.substr(16));
    } else if (directive.rfind("# expect trace ", 0) == 0) {
      x.cases.back().traces.push_back(directive.substr(15));
    }
  }
  return x;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesItsExpectations) {
  const auto path = GetParam();
  std::ifstream file(path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  const Source source{std::filesystem::path(path).filename().string(), buffer.str()};
  const auto expected = read_expectations(source.text);
  const auto result = compile(source);

  // Diagnostics: each expected one is there, and nothing else is.
  std::vector<bool> matched(result.diagnostics.size(), false);
  for (const auto& [severity, line, column, text] : expected.diagnostics) {
    bool found = false;
    for (std::size_t i = 0; i < result.diagnostics.size(); ++i) {
      const auto& d = result.diagnostics[i];
      const bool same_severity = (d.severity == Severity::error) == (severity == "error");
      if (!matched[i] && same_severity && static_cast<int>(d.range.begin.line) == line &&
          static_cast<int>(d.range.begin.column) == column &&
          d.message.find(text) != std::string::npos) {
        matched[i] = found = true;
        break;
      }
    }
    EXPECT_TRUE(found) << path << ": expected " << severity << " " << line << ":" << column << ": "
                       << text << "\nactual:\n"
                       << render_all(source, result.diagnostics);
  }
  for (std::size_t i = 0; i < result.diagnostics.size(); ++i) {
    EXPECT_TRUE(matched[i]) << path << ": unexpected\n" << render(source, result.diagnostics[i]);
  }
  const bool expects_errors = std::any_of(expected.diagnostics.begin(), expected.diagnostics.end(),
                                          [](const auto& d) { return std::get<0>(d) == "error"; });
  EXPECT_EQ(result.program == nullptr, expects_errors) << path;
  if (!result.program) return;

  for (const auto& c : expected.cases) {
    Counters counters;
    for (const auto& [k, v] : c.firings.items()) counters.firings[k] = v.get<std::int64_t>();
    const auto evaluation =
        result.program->evaluate(event_of(c.event), member_of(c.member), counters);
    std::vector<std::string> effects;
    for (const auto& e : evaluation.effects) effects.push_back(render(e));
    EXPECT_EQ(effects, c.effects) << path << ": case at line " << c.line;
    for (const auto& t : c.traces) {
      const auto space = t.find(' ');
      const auto who = t.substr(0, space), reason = t.substr(space + 1);
      bool found = false;
      for (const auto& entry : evaluation.trace) {
        if (entry.campaign + "/" + entry.rule == who && entry.reason == reason) found = true;
      }
      EXPECT_TRUE(found) << path << ": case at line " << c.line << " expected trace " << t;
    }
  }
}

std::vector<std::string> golden_files() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(CIRCOLO_GOLDEN_DIR)) {
    if (entry.path().extension() == ".rules") out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Files, Golden, ::testing::ValuesIn(golden_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           auto name = std::filesystem::path(info.param).stem().string();
                           std::replace_if(
                               name.begin(), name.end(), [](char c) { return !std::isalnum(c); },
                               '_');
                           return name;
                         });

}  // namespace
