#include "plan.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

namespace circolo::cli {

namespace {

// A declaration's canonical text (rules::format: one setting a line, two-space indentation,
// continuation lines of `then` indented further, rule blocks nested) as settings and blocks.
struct Block {
  std::vector<std::pair<std::string, std::string>> settings;  // in text order; `limit` joined
  std::vector<std::string> headers;  // of the nested blocks: "rule \"base\""
  std::vector<Block> blocks;         // their settings, in the same order
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    auto end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

std::size_t indent_of(const std::string& line) {
  const auto at = line.find_first_not_of(' ');
  return at == std::string::npos ? line.size() : at;
}

// Reads the lines of a block whose settings are indented by `indent`, from `i` to its "}".
Block read_block(const std::vector<std::string>& lines, std::size_t& i, std::size_t indent) {
  Block block;
  for (; i < lines.size(); ++i) {
    const auto& line = lines[i];
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    const auto at = indent_of(line);
    const std::string text = line.substr(at);
    if (at < indent) return block;  // the closing brace of this block
    if (at > indent && !block.settings.empty()) {
      block.settings.back().second += "\n" + text;  // a continuation (then ... actions)
      continue;
    }
    if (text.back() == '{') {
      const std::string header = text.substr(0, text.size() - 2);
      ++i;
      block.headers.push_back(header);
      block.blocks.push_back(read_block(lines, i, indent + 2));
      continue;
    }
    const auto space = text.find(' ');
    const std::string key = text.substr(0, space);
    const std::string value = space == std::string::npos ? "" : text.substr(space + 1);
    const auto same = std::find_if(block.settings.begin(), block.settings.end(),
                                   [&](const auto& s) { return s.first == key; });
    if (same != block.settings.end())
      same->second += "\n" + value;  // several limits
    else
      block.settings.emplace_back(key, value);
  }
  return block;
}

Block parse_decl(const std::string& text) {
  const auto lines = split(text);
  std::size_t i = 1;  // after `KIND "id" {`
  return lines.empty() ? Block{} : read_block(lines, i, 2);
}

// A value as people read it: a one-word string without its quotes ("EUR"), a flag as "on".
std::string shown(const std::string& value) {
  if (value.empty()) return "on";  // exclusive, repeatable
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"' &&
      value.find_first_of(" \\\"", 1) == value.size() - 1)
    return value.substr(1, value.size() - 2);
  return value;
}

struct SettingChange {
  std::string path;  // "" or "rule \"base\""
  std::string key;
  std::optional<std::string> before, after;
};

std::optional<std::string> find(const Block& b, const std::string& key) {
  for (const auto& [k, v] : b.settings) {
    if (k == key) return v;
  }
  return std::nullopt;
}

const Block* find_block(const Block& b, const std::string& header) {
  for (std::size_t i = 0; i < b.headers.size(); ++i) {
    if (b.headers[i] == header) return &b.blocks[i];
  }
  return nullptr;
}

// Settings that differ, then nested blocks created, removed (key "+"/"-") or changed.
void compare(const Block& before, const Block& after, const std::string& path,
             std::vector<SettingChange>& out) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : after.settings) keys.push_back(k);
  for (const auto& [k, v] : before.settings) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  for (const auto& key : keys) {
    auto b = find(before, key), a = find(after, key);
    if (b != a) out.push_back({path, key, std::move(b), std::move(a)});
  }
  for (std::size_t i = 0; i < after.headers.size(); ++i) {
    const auto& header = after.headers[i];
    if (const auto* old = find_block(before, header))
      compare(*old, after.blocks[i], header, out);
    else
      out.push_back({header, "+", std::nullopt, std::nullopt});
  }
  for (const auto& header : before.headers) {
    if (!find_block(after, header)) out.push_back({header, "-", std::nullopt, std::nullopt});
  }
}

std::string label(const std::string& object, const std::string& id) {
  return id.empty() ? object : object + " \"" + id + "\"";
}

// What a changed setting does to what exists already, or "" when it only shapes what comes.
std::string consequence(const std::string& object, const std::string& key) {
  if (object == "program" && key == "currency")
    return "codes already issued and receipts recorded so far are in the old currency";
  if (object == "program" && key == "timezone")
    return "active dates, per-day/week/month limits and leaderboard periods move for every "
           "member";
  if (object == "tier" && (key == "threshold" || key == "window"))
    return "members may move to another tier at their next event or the daily review";
  if (object == "tier" && key == "multiplier")
    return "members holding this tier earn at another rate from now on";
  if (object == "coupon" && (key == "discount" || key == "max_discount" || key == "min_total" ||
                             key == "valid" || key == "uses" || key == "channels"))
    return "codes already issued keep their old terms, new codes get the new ones";
  if (object == "reward" && (key == "cost" || key == "coupon"))
    return "members' points buy something else than they were saving for";
  if (object == "challenge" && (key == "on" || key == "when" || key == "goal"))
    return "every member's progress toward it starts again from zero";
  return "";
}

std::string removal_consequence(const std::string& object) {
  if (object == "tier")
    return "members who hold it move to the tier their points reach at their next event or the "
           "daily review";
  if (object == "coupon")
    return "no more codes of it can be issued; codes already issued keep their terms";
  if (object == "reward") return "members can no longer claim it with their points";
  if (object == "challenge") return "members' progress toward it is hidden";
  if (object == "event")
    return "touchpoints sending this type are refused (422 unknown_event_type) unless a rule or "
           "challenge still names it";
  return "";
}

// What a setting left out means (docs/rules-language.md), for the side of a change without it.
std::string unset(const std::string& object, const std::string& key) {
  static const std::map<std::pair<std::string, std::string>, std::string> defaults = {
      {{"program", "points_expire"}, "never (default)"},
      {{"tier", "window"}, "365 days (default)"},
      {{"tier", "multiplier"}, "1 (default)"},
      {{"coupon", "uses"}, "1 (default)"},
      {{"coupon", "channels"}, "all (default)"},
      {{"campaign", "channels"}, "all (default)"},
      {{"campaign", "priority"}, "0 (default)"},
      {{"campaign", "budget"}, "none"},
      {{"campaign", "exclusive"}, "off"},
      {{"challenge", "repeatable"}, "off"},
      {{"challenge", "within"}, "the challenge's lifetime (default)"},
  };
  const auto it = defaults.find({object, key});
  return it == defaults.end() ? "(unset)" : it->second;
}

// A side of a change as people read it; the program's currency and time zone with their
// defaults (compared as such: writing out a default is no change).
std::string side(const std::string& object, const std::string& key,
                 const std::optional<std::string>& value) {
  if (value) return shown(*value);
  if (object == "program" && key == "currency") return "EUR";
  if (object == "program" && key == "timezone") return "UTC";
  return unset(object, key);
}

void describe_changed(const std::string& object, const std::string& id, const std::string& before,
                      const std::string& after, PlanReport& out) {
  std::vector<SettingChange> settings;
  // The program block has no id line of its own to skip when it is absent on one side.
  compare(before.empty() ? Block{} : parse_decl(before),
          after.empty() ? Block{} : parse_decl(after), "", settings);
  const std::string name = label(object, id);
  const auto lines_before = out.lines.size();
  for (const auto& s : settings) {
    // `~ program currency: EUR -> USD`, `~ tier "gold": threshold 1000 -> 1500`.
    const std::string where = id.empty()
                                  ? name + (s.path.empty() ? "" : " " + s.path) + " " + s.key + ":"
                                  : name + (s.path.empty() ? "" : " " + s.path) + ": " + s.key;
    if (s.key == "+" || s.key == "-") {
      out.lines.push_back("  ~ " + name + ": " + s.key + " " + s.path);
      continue;
    }
    const std::string b = side(s.path.empty() ? object : "rule", s.key, s.before);
    const std::string a = side(s.path.empty() ? object : "rule", s.key, s.after);
    if (b == a) continue;  // EUR written out where it was the default
    if (b.find('\n') == std::string::npos && a.find('\n') == std::string::npos &&
        where.size() + b.size() + a.size() < 90) {
      out.lines.push_back("  ~ " + where + " " + b + " -> " + a);
    } else {
      // Conditions and actions: the lines before and after.
      out.lines.push_back("  ~ " + where);
      for (const auto& [mark, text] : {std::pair{"-", b}, std::pair{"+", a}}) {
        for (const auto& line : split(text))
          out.lines.push_back("      " + std::string(mark) + " " + line);
      }
    }
    if (s.path.empty()) {
      if (const auto why = consequence(object, s.key); !why.empty()) {
        out.alterations.push_back(
            {object, id,
             name + " " + s.key + " " +
                 (b.find('\n') == std::string::npos && b.size() + a.size() < 60 ? b + " -> " + a
                                                                                : "changes") +
                 ": " + why});
      }
    }
  }
  // An experiment's shares or arms: assignment is by bucket, so members move between arms.
  const bool experiment_changed =
      object == "campaign" && std::any_of(settings.begin(), settings.end(), [](const auto& s) {
        return s.path.rfind("experiment", 0) == 0;
      });
  if (experiment_changed)
    out.alterations.push_back(
        {object, id,
         name + " experiment changes: the members in the buckets that change hands move to "
                "another arm (the experiment report counts them in their arm of now)"});
  // Only defaults written out (currency "EUR" where there was none): the server still counts it.
  if (out.lines.size() == lines_before) out.lines.push_back("  ~ " + name + "  (changed)");
}

}  // namespace

PlanReport describe_plan(const nlohmann::json& changes, bool first) {
  PlanReport out;
  for (const auto& c : changes) {
    const std::string kind = c.value("change", "");
    const std::string object = c.value("object", "");
    const std::string id = c.value("id", "");
    const std::string before = c.value("before", ""), after = c.value("after", "");
    // A program block added to (or taken from) an active program changes its defaults.
    if (kind == "changed" || (object == "program" && !first)) {
      describe_changed(object, id, before, after, out);
      continue;
    }
    out.lines.push_back(std::string("  ") + (kind == "created" ? "+ " : "- ") + label(object, id));
    if (kind == "removed") {
      if (const auto why = removal_consequence(object); !why.empty())
        out.alterations.push_back({object, id, label(object, id) + " is removed: " + why});
    }
  }
  return out;
}

}  // namespace circolo::cli
