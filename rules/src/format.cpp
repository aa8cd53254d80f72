#include "circolo/rules/format.hpp"

#include "circolo/rules/lexer.hpp"

#include <cstdio>

namespace circolo::rules {

namespace {

int precedence(const Expr& e) {
  switch (e.kind) {
    case ExprKind::where:
      return 0;
    case ExprKind::binary:
      if (e.text == "or") return 1;
      if (e.text == "and") return 2;
      if (e.text == "+" || e.text == "-") return 5;
      if (e.text == "*" || e.text == "/" || e.text == "%") return 6;
      return 4;  // comparisons and in
    case ExprKind::unary:
      return e.text == "not" ? 3 : 7;
    case ExprKind::integer:
      return e.integer < 0 ? 7 : 9;
    case ExprKind::decimal:
      return e.decimal.mantissa < 0 ? 7 : 9;
    default:
      return 9;
  }
}

std::string quote(const std::string& s, bool braces) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '{':
        out += braces ? "\\{" : "{";
        break;
      case '}':
        out += braces ? "\\}" : "}";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[12];
          std::snprintf(buf, sizeof buf, "\\u{%X}", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string unit_name(const Duration& d) {
  const bool one = d.amount == 1;
  switch (d.unit) {
    case Unit::hours:
      return one ? "hour" : "hours";
    case Unit::days:
      return one ? "day" : "days";
    case Unit::weeks:
      return one ? "week" : "weeks";
    case Unit::months:
      return one ? "month" : "months";
  }
  return "days";
}

std::string duration(const Duration& d) {
  return std::to_string(d.amount) + " " + unit_name(d);
}

std::string date(const Date& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

std::string expr(const Expr* e);

std::string child(const Expr* c, int min_precedence) {
  if (c == nullptr) return "<missing>";
  const auto text = expr(c);
  return precedence(*c) < min_precedence ? "(" + text + ")" : text;
}

std::string expr(const Expr* e) {
  if (e == nullptr) return "<missing>";
  switch (e->kind) {
    case ExprKind::integer:
      return std::to_string(e->integer);
    case ExprKind::decimal:
      return format_decimal(e->decimal);
    case ExprKind::string:
      return quote(e->text, false);
    case ExprKind::boolean:
      return e->integer ? "true" : "false";
    case ExprKind::date:
      return date(e->date);
    case ExprKind::name:
      return e->text;
    case ExprKind::list: {
      std::string out = "[";
      for (std::size_t i = 0; i < e->args.size(); ++i)
        out += (i ? ", " : "") + expr(e->args[i].get());
      return out + "]";
    }
    case ExprKind::field:
      return child(e->args[0].get(), 8) + "." + e->text;
    case ExprKind::call: {
      std::string out = e->text + "(";
      for (std::size_t i = 0; i < e->args.size(); ++i)
        out += (i ? ", " : "") + expr(e->args[i].get());
      return out + ")";
    }
    case ExprKind::unary:
      if (e->text == "not") return "not " + child(e->args[0].get(), 3);
      {
        // Unary minus nests without parentheses ("- -x": the space keeps the two apart), so that
        // formatted text is no deeper than its source (parentheses count toward max_depth).
        const auto operand = child(e->args[0].get(), 7);
        return (operand.front() == '-' ? "- " : "-") + operand;
      }
    case ExprKind::where:
      return child(e->args[0].get(), 0) + " where " + child(e->args[1].get(), 1);
    case ExprKind::binary: {
      const int p = precedence(*e);
      // Left-associative: the right operand needs parentheses at equal precedence; comparisons
      // do not chain, so both sides do.
      const int left = p == 4 ? p + 1 : p;
      return child(e->args[0].get(), left) + " " + e->text + " " + child(e->args[1].get(), p + 1);
    }
  }
  return "";
}

std::string trigger(const Trigger& t) {
  if (t.kind == TriggerKind::custom) return "event " + quote(t.custom, false);
  return std::string(event_type(t));
}

std::string active(const Active& a) {
  std::string out = "active";
  if (a.from) out += " from " + date(*a.from);
  if (a.until) out += " until " + date(*a.until);
  return out;
}

std::string names(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& n : list) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string action(const Action& a) {
  switch (a.kind) {
    case ActionKind::award: {
      std::string out = "award " + expr(a.amount.get()) + " points";
      if (a.pending) out += " pending " + duration(*a.pending);
      if (a.expiring) out += " expiring in " + duration(*a.expiring);
      return out;
    }
    case ActionKind::issue_coupon:
      return "issue coupon " + quote(a.target, false);
    case ActionKind::progress_challenge:
      return "progress challenge " + quote(a.target, false) +
             (a.amount ? " by " + expr(a.amount.get()) : "");
    case ActionKind::grant_badge:
      return "grant badge " + quote(a.target, false);
    case ActionKind::tag:
      return "tag member " + quote(a.target, false);
    case ActionKind::untag:
      return "untag member " + quote(a.target, false);
    case ActionKind::notify: {
      // Re-quote the text parts with braces escaped, keeping the {expr} holes.
      std::string out = "\"";
      for (const auto& part : a.message) {
        if (part.expr) {
          // The expression sits inside the message's quotes: its own quotes are escaped.
          out += "{";
          for (char ch : expr(part.expr.get())) {
            if (ch == '"' || ch == '\\') out.push_back('\\');
            out.push_back(ch);
          }
          out += "}";
        } else {
          const auto q = quote(part.text, true);
          out += q.substr(1, q.size() - 2);
        }
      }
      return "notify " + out + "\"";
    }
  }
  return "";
}

void actions(std::string& out, const std::vector<Action>& list, const std::string& indent) {
  if (list.empty()) return;
  out += indent + "then " + action(list[0]) + "\n";
  for (std::size_t i = 1; i < list.size(); ++i) out += indent + "     " + action(list[i]) + "\n";
}

// `scope` is what the limit counts per: member, campaign, or a referral's referrer.
std::string limit(const Limit& l, const char* scope) {
  std::string out = "limit " + std::to_string(l.count) + " per " + scope;
  switch (l.period) {
    case LimitPeriod::day:
      out += " per day";
      break;
    case LimitPeriod::week:
      out += " per week";
      break;
    case LimitPeriod::month:
      out += " per month";
      break;
    case LimitPeriod::ever:
      break;
  }
  return out;
}

}  // namespace

std::string format_decimal(const Decimal& d) {
  const bool negative = d.mantissa < 0;
  std::uint64_t magnitude = negative ? std::uint64_t{0} - static_cast<std::uint64_t>(d.mantissa)
                                     : static_cast<std::uint64_t>(d.mantissa);
  std::string digits = std::to_string(magnitude);
  if (d.scale > 0) {
    if (digits.size() <= static_cast<std::size_t>(d.scale))
      digits.insert(0, d.scale + 1 - digits.size(), '0');
    digits.insert(digits.size() - d.scale, 1, '.');
  }
  return (negative ? "-" : "") + digits;
}

std::string format(const Expr& e) {
  return expr(&e);
}

std::string format(const ProgramDecl& p) {
  std::string out = "program {\n";
  if (p.currency) out += "  currency " + quote(*p.currency, false) + "\n";
  if (p.timezone) out += "  timezone " + quote(*p.timezone, false) + "\n";
  if (p.points_expire) out += "  points_expire " + duration(*p.points_expire) + "\n";
  return out + "}\n";
}

std::string format(const TierDecl& t) {
  std::string out = "tier " + quote(t.id, false) + " {\n";
  if (t.name) out += "  name " + quote(*t.name, false) + "\n";
  if (t.threshold) out += "  threshold " + std::to_string(*t.threshold) + "\n";
  if (t.window) out += "  window " + duration(*t.window) + "\n";
  if (t.multiplier) out += "  multiplier " + format_decimal(*t.multiplier) + "\n";
  return out + "}\n";
}

std::string format(const CouponDecl& c) {
  std::string out = "coupon " + quote(c.id, false) + " {\n";
  if (c.name) out += "  name " + quote(*c.name, false) + "\n";
  if (c.discount_percent) out += "  discount " + format_decimal(*c.discount_percent) + "%\n";
  if (c.discount_amount) out += "  discount " + format_decimal(*c.discount_amount) + "\n";
  if (c.max_discount) out += "  max_discount " + format_decimal(*c.max_discount) + "\n";
  if (c.min_total) out += "  min_total " + format_decimal(*c.min_total) + "\n";
  if (c.valid) out += "  valid " + duration(*c.valid) + "\n";
  if (c.uses) out += "  uses " + std::to_string(*c.uses) + "\n";
  if (!c.channels.empty()) out += "  channels " + names(c.channels) + "\n";
  return out + "}\n";
}

std::string format(const RewardDecl& r) {
  std::string out = "reward " + quote(r.id, false) + " {\n";
  if (r.name) out += "  name " + quote(*r.name, false) + "\n";
  if (r.cost) out += "  cost " + std::to_string(*r.cost) + " points\n";
  if (r.coupon) out += "  coupon " + quote(*r.coupon, false) + "\n";
  if (r.stock) out += "  stock " + std::to_string(*r.stock) + "\n";
  return out + "}\n";
}

std::string format(const ChallengeDecl& c) {
  std::string out = "challenge " + quote(c.id, false) + " {\n";
  if (c.name) out += "  name " + quote(*c.name, false) + "\n";
  if (c.on) out += "  on " + trigger(*c.on) + "\n";
  if (c.when) out += "  when " + expr(c.when.get()) + "\n";
  if (c.goal) {
    const auto& g = *c.goal;
    switch (g.kind) {
      case GoalKind::count:
        out += "  goal count reaches " + format_decimal(g.target) + "\n";
        break;
      case GoalKind::sum:
        out += "  goal sum " + expr(g.expr.get()) + " reaches " + format_decimal(g.target) + "\n";
        break;
      case GoalKind::distinct:
        out +=
            "  goal distinct " + expr(g.expr.get()) + " reaches " + format_decimal(g.target) + "\n";
        break;
      case GoalKind::streak:
        out += "  goal streak " + format_decimal(g.target) +
               (g.streak_unit == Unit::weeks ? " weeks" : " days") + "\n";
        break;
    }
  }
  if (c.within) out += "  within " + duration(*c.within) + "\n";
  if (c.active) out += "  " + active(*c.active) + "\n";
  if (c.repeatable) out += "  repeatable\n";
  actions(out, c.then, "  ");
  return out + "}\n";
}

std::string format(const ReferralDecl& r) {
  std::string out = "referral {\n";
  if (r.name) out += "  name " + quote(*r.name, false) + "\n";
  if (r.on) {
    out += "  qualify on " + trigger(*r.on);
    if (r.when) out += " when " + expr(r.when.get());
    out += "\n";
  }
  if (r.within) out += "  within " + duration(*r.within) + "\n";
  if (r.hold) out += "  hold " + duration(*r.hold) + "\n";
  if (r.limit) out += "  " + limit(*r.limit, "referrer") + "\n";
  return out + "}\n";
}

std::string format(const CampaignDecl& c) {
  std::string out = "campaign " + quote(c.id, false) + " {\n";
  if (c.name) out += "  name " + quote(*c.name, false) + "\n";
  if (c.active) out += "  " + active(*c.active) + "\n";
  if (!c.channels.empty()) out += "  channels " + names(c.channels) + "\n";
  if (!c.audience.empty()) {
    out += "  audience ";
    for (std::size_t i = 0; i < c.audience.size(); ++i)
      out += (i ? ", " : "") + quote(c.audience[i], false);
    out += "\n";
  }
  if (c.priority) out += "  priority " + std::to_string(*c.priority) + "\n";
  if (c.budget) out += "  budget " + std::to_string(*c.budget) + " points\n";
  if (c.exclusive) out += "  exclusive\n";
  if (c.experiment) {
    const auto& e = *c.experiment;
    out += "  experiment {\n";
    if (e.control) out += "    control " + format_decimal(*e.control) + "%\n";
    for (const auto& v : e.variants) {
      out += "    variant " + quote(v.id, false) + " " +
             format_decimal(v.share.value_or(Decimal{})) + "% {\n";
      if (v.name) out += "      name " + quote(*v.name, false) + "\n";
      actions(out, v.then, "      ");
      out += "    }\n";
    }
    out += "  }\n";
  }
  for (const auto& r : c.rules) {
    out += "\n  rule " + quote(r.id, false) + " {\n";
    if (r.on) out += "    on " + trigger(*r.on) + "\n";
    if (r.when) out += "    when " + expr(r.when.get()) + "\n";
    actions(out, r.then, "    ");
    for (const auto& l : r.limits)
      out += "    " + limit(l, l.scope == LimitScope::member ? "member" : "campaign") + "\n";
    out += "  }\n";
  }
  return out + "}\n";
}

std::string format(const EventDecl& e) {
  std::string out = "event " + quote(e.id, false) + " {\n";
  if (e.name) out += "  name " + quote(*e.name, false) + "\n";
  if (e.interest) out += "  interest " + format_decimal(*e.interest) + "\n";
  return out + "}\n";
}

std::string format(const SegmentDecl& s) {
  std::string out = "segment " + quote(s.id, false) + " {\n";
  if (s.name) out += "  name " + quote(*s.name, false) + "\n";
  if (s.when) out += "  when " + expr(s.when.get()) + "\n";
  if (s.is_static) out += "  static\n";
  return out + "}\n";
}

std::string format(const ProgramFile& f) {
  std::vector<std::string> blocks;
  if (f.program) blocks.push_back(format(*f.program));
  for (const auto& d : f.tiers) blocks.push_back(format(d));
  for (const auto& d : f.coupons) blocks.push_back(format(d));
  for (const auto& d : f.rewards) blocks.push_back(format(d));
  for (const auto& d : f.challenges) blocks.push_back(format(d));
  if (f.referral) blocks.push_back(format(*f.referral));
  for (const auto& d : f.campaigns) blocks.push_back(format(d));
  for (const auto& d : f.events) blocks.push_back(format(d));
  for (const auto& d : f.segments) blocks.push_back(format(d));
  std::string out;
  for (const auto& b : blocks) out += (out.empty() ? "" : "\n") + b;
  return out;
}

}  // namespace circolo::rules

namespace circolo::rules {

FormatResult format_keeping_comments(const Source& source, const ProgramFile& file) {
  FormatResult out;
  const auto notes = comments(source.text);
  // Where each comment stands: at the top level (brace depth 0) on a line of its own, or not.
  const auto tokens = lex(source.text);
  for (const auto& c : notes) {
    int depth = 0;
    for (const auto& t : tokens) {
      if (t.range.begin.offset >= c.at.offset) break;
      if (t.kind == TokenKind::punct && t.text == "{") ++depth;
      if (t.kind == TokenKind::punct && t.text == "}") --depth;
    }
    std::size_t line_start = c.at.offset;
    while (line_start > 0 && source.text[line_start - 1] != '\n') --line_start;
    const bool own_line = source.text.find_first_not_of(" \t", line_start) == c.at.offset;
    if (depth != 0 || !own_line) {
      out.dropped.push_back(
          {Severity::error, Range{c.at, c.at},
           "fmt would drop this comment: comments are kept on their own lines between "
           "declarations; move it above the declaration or remove it",
           ""});
    }
  }
  if (!out.dropped.empty()) return out;

  // Declarations in canonical order, each with the source offset where it starts.
  struct Block {
    std::uint32_t begin;
    std::string text;
    std::string comments;
  };
  std::vector<Block> blocks;
  if (file.program) blocks.push_back({file.program->range.begin.offset, format(*file.program), ""});
  for (const auto& d : file.tiers) blocks.push_back({d.range.begin.offset, format(d), ""});
  for (const auto& d : file.coupons) blocks.push_back({d.range.begin.offset, format(d), ""});
  for (const auto& d : file.rewards) blocks.push_back({d.range.begin.offset, format(d), ""});
  for (const auto& d : file.challenges) blocks.push_back({d.range.begin.offset, format(d), ""});
  if (file.referral)
    blocks.push_back({file.referral->range.begin.offset, format(*file.referral), ""});
  for (const auto& d : file.campaigns) blocks.push_back({d.range.begin.offset, format(d), ""});
  for (const auto& d : file.events) blocks.push_back({d.range.begin.offset, format(d), ""});
  for (const auto& d : file.segments) blocks.push_back({d.range.begin.offset, format(d), ""});
  std::string header, trailing;
  std::uint32_t first = UINT32_MAX;
  for (const auto& b : blocks) first = std::min(first, b.begin);
  // A blank line between a comment and the first declaration makes it the file's header: it
  // stays at the top whatever the declarations' order.
  auto blank_line_between = [&](std::uint32_t from, std::uint32_t to) {
    bool line_empty = false;
    for (std::uint32_t i = from; i < to && i < source.text.size(); ++i) {
      const char ch = source.text[i];
      if (ch == '\n') {
        if (line_empty) return true;
        line_empty = true;
      } else if (ch != ' ' && ch != '\t' && ch != '\r') {
        line_empty = false;
      }
    }
    return false;
  };
  std::vector<bool> is_header(notes.size(), false);
  for (std::size_t i = notes.size(); i-- > 0;) {
    const auto& c = notes[i];
    if (c.at.offset >= first) continue;
    const auto line_end = source.text.find('\n', c.at.offset);
    const bool later_header = i + 1 < notes.size() && is_header[i + 1];
    is_header[i] =
        later_header || (line_end != std::string::npos &&
                         blank_line_between(static_cast<std::uint32_t>(line_end), first));
  }
  for (std::size_t i = 0; i < notes.size(); ++i) {
    const auto& c = notes[i];
    if (is_header[i]) {
      header += c.text + "\n";
      continue;
    }
    // The declaration that follows the comment in the source.
    Block* next = nullptr;
    for (auto& b : blocks) {
      if (b.begin > c.at.offset && (next == nullptr || b.begin < next->begin)) next = &b;
    }
    (next ? next->comments : trailing) += c.text + "\n";
  }
  out.text = header.empty() ? "" : header + "\n";
  bool first_block = true;
  for (const auto& b : blocks) {
    out.text += (first_block ? "" : "\n") + b.comments + b.text;
    first_block = false;
  }
  if (!trailing.empty()) out.text += (out.text.empty() ? "" : "\n") + trailing;
  return out;
}

}  // namespace circolo::rules
