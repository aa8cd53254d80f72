#include "circolo/rules/parser.hpp"

#include <functional>
#include <map>

#include "circolo/rules/lexer.hpp"

namespace circolo::rules {

namespace {

struct TooManyErrors {};
struct TooDeep {};

class Parser {
 public:
  Parser(const Source& source, const Limits& limits) : source_(source), limits_(limits) {
    tokens_ = lex(source.text);
  }

  ParseResult run() {
    ParseResult result;
    if (source_.text.size() > limits_.max_source_bytes) {
      error(Range{},
            "the file is larger than " + std::to_string(limits_.max_source_bytes) + " bytes");
      result.diagnostics = std::move(diagnostics_);
      return result;
    }
    try {
      while (!at_end()) declaration(result.file);
    } catch (const TooManyErrors&) {
    }
    result.diagnostics = std::move(diagnostics_);
    return result;
  }

 private:
  // ---- tokens ----
  const Token& peek(std::size_t ahead = 0) const {
    const auto i = std::min(index_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  bool at_end() const { return peek().kind == TokenKind::end; }
  const Token& advance() {
    const Token& t = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    if (t.kind == TokenKind::error) error(t.range, t.text);
    return t;
  }
  bool is_kw(std::string_view word, std::size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::keyword && peek(ahead).text == word;
  }
  bool is_punct(std::string_view p, std::size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::punct && peek(ahead).text == p;
  }
  bool accept_kw(std::string_view word) {
    if (!is_kw(word)) return false;
    advance();
    return true;
  }
  bool accept_punct(std::string_view p) {
    if (!is_punct(p)) return false;
    advance();
    return true;
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::end:
        return "the end of the file";
      case TokenKind::string:
        return "the string \"" + t.raw + "\"";
      case TokenKind::error:
        return "'" + t.text + "'";
      case TokenKind::keyword:
        return "the keyword '" + t.text + "'";
      default:
        return "'" + t.text + "'";
    }
  }

  void error(Range range, std::string message, std::string suggestion = "") {
    // One error per place: a cascade from the same token helps nobody.
    if (!diagnostics_.empty() && diagnostics_.back().range.begin.offset == range.begin.offset)
      return;
    diagnostics_.push_back({Severity::error, range, std::move(message), std::move(suggestion)});
    if (diagnostics_.size() >= limits_.max_errors) {
      diagnostics_.push_back({Severity::error, range, "too many errors; stopping here", ""});
      throw TooManyErrors{};
    }
  }
  void expected(std::string what) {
    const Token& t = peek();
    if (t.kind == TokenKind::error) {
      advance();
      return;
    }
    error(t.range, "expected " + what + ", found " + describe(t));
  }
  void count_node() {
    if (++nodes_ > limits_.max_nodes) {
      error(peek().range,
            "the file has more than " + std::to_string(limits_.max_nodes) + " parts; split it");
      throw TooManyErrors{};
    }
  }

  // ---- small pieces ----
  std::optional<std::string> string_value(const char* what) {
    if (peek().kind == TokenKind::string) return advance().text;
    expected(what);
    return std::nullopt;
  }
  std::optional<std::int64_t> integer_value(const char* what) {
    if (peek().kind == TokenKind::integer) return advance().integer;
    expected(what);
    return std::nullopt;
  }
  std::optional<Decimal> number_value(const char* what) {
    if (peek().kind == TokenKind::integer || peek().kind == TokenKind::decimal) {
      const Token& t = advance();
      return Decimal{t.integer, t.scale};
    }
    expected(what);
    return std::nullopt;
  }
  std::optional<Duration> duration(const char* what) {
    const Token& n = peek();
    if (n.kind != TokenKind::integer) {
      expected(what);
      return std::nullopt;
    }
    advance();
    Duration d;
    d.amount = n.integer;
    d.range.begin = n.range.begin;
    static const std::map<std::string, Unit> kUnits{
        {"hour", Unit::hours},   {"hours", Unit::hours},  {"day", Unit::days},
        {"days", Unit::days},    {"week", Unit::weeks},   {"weeks", Unit::weeks},
        {"month", Unit::months}, {"months", Unit::months}};
    const Token& u = peek();
    auto it = u.kind == TokenKind::keyword ? kUnits.find(u.text) : kUnits.end();
    if (it == kUnits.end()) {
      error(u.range, "expected a unit after " + std::to_string(n.integer) +
                         ": hours, days, weeks or months, found " + describe(u));
      return std::nullopt;
    }
    advance();
    d.unit = it->second;
    d.range.end = u.range.end;
    return d;
  }
  std::optional<Date> date_value(const char* what) {
    if (peek().kind == TokenKind::date) {
      const Token& t = advance();
      return Date{t.year, t.month, t.day};
    }
    expected(what);
    return std::nullopt;
  }
  std::vector<std::string> name_list(const char* what) {
    std::vector<std::string> out;
    do {
      const Token& t = peek();
      if (t.kind == TokenKind::identifier || t.kind == TokenKind::keyword) {
        out.push_back(advance().text);
      } else {
        expected(what);
        break;
      }
    } while (accept_punct(","));
    return out;
  }
  template <class T>
  void once(std::optional<T>& slot, const Token& keyword, T value) {
    if (slot) error(keyword.range, "'" + keyword.text + "' is set twice in this block");
    slot = std::move(value);
  }
  template <class T>
  void once(std::optional<T>& slot, const Token& keyword, std::optional<T> value) {
    if (!value) return;
    once(slot, keyword, std::move(*value));
  }

  // Skips to the next token that can start a setting of this block (or its end).
  void recover(const std::vector<std::string>& settings) {
    int depth = 0;
    while (!at_end()) {
      if (is_punct("{")) ++depth;
      if (is_punct("}")) {
        if (depth == 0) return;
        --depth;
      }
      if (depth == 0 && peek().kind == TokenKind::keyword &&
          std::find(settings.begin(), settings.end(), peek().text) != settings.end())
        return;
      index_ = std::min(index_ + 1, tokens_.size() - 1);
    }
  }

  // A block { setting* } where `setting` handles one keyword and returns false if unknown.
  void block(const std::string& what, const std::vector<std::string>& settings,
             const std::function<bool(const Token&)>& setting, Range& range) {
    if (!accept_punct("{")) {
      expected("'{' to open the " + what);
      recover(settings);
    }
    if (++depth_ > limits_.max_depth) throw TooDeep{};
    while (!at_end() && !is_punct("}")) {
      count_node();
      const std::size_t before = index_;
      const Token& t = peek();
      if (t.kind == TokenKind::keyword &&
          std::find(settings.begin(), settings.end(), t.text) != settings.end()) {
        advance();
        if (setting(t)) continue;
      }
      if (index_ == before) {
        const std::string suggestion =
            t.kind == TokenKind::identifier || t.kind == TokenKind::keyword
                ? nearest(t.text, settings)
                : std::string();
        error(t.range, "'" + t.text + "' is not a setting of " + what,
              suggestion.empty() ? "settings here: " + join(settings)
                                 : "did you mean '" + suggestion + "'?");
        advance();
        recover(settings);
      }
    }
    --depth_;
    range.end = peek().range.end;
    if (!accept_punct("}")) expected("'}' to close the " + what);
  }

  static std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
  }

  // ---- declarations ----
  void declaration(ProgramFile& file) {
    const Token& t = peek();
    static const std::vector<std::string> kKinds{"program", "tier",      "coupon",
                                                 "reward",  "challenge", "campaign",
                                                 "event",   "referral",  "segment"};
    if (t.kind == TokenKind::keyword && t.text == "program") {
      advance();
      ProgramDecl p;
      p.range = t.range;
      if (file.program) error(t.range, "a file has one program block");
      program(p);
      file.program = std::move(p);
      return;
    }
    if (t.kind == TokenKind::keyword && t.text == "referral") {
      advance();
      ReferralDecl r;
      r.range = t.range;
      if (file.referral)
        error(t.range, "a program has one referral declaration",
              "the first is at line " + std::to_string(file.referral->range.begin.line));
      try {
        referral(r);
      } catch (const TooDeep&) {
        error(peek().range, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
        throw TooManyErrors{};
      }
      if (!file.referral) file.referral = std::move(r);
      return;
    }
    if (t.kind != TokenKind::keyword ||
        std::find(kKinds.begin(), kKinds.end(), t.text) == kKinds.end()) {
      const auto suggestion =
          t.kind == TokenKind::identifier ? nearest(t.text, kKinds) : std::string();
      error(t.range,
            "expected a declaration (program, tier, coupon, reward, challenge, campaign, event, "
            "referral, segment), found " +
                describe(t),
            suggestion.empty() ? "" : "did you mean '" + suggestion + "'?");
      advance();
      // Skip to the next declaration keyword at the top level.
      int depth = 0;
      while (!at_end()) {
        if (is_punct("{")) ++depth;
        if (is_punct("}")) depth = std::max(0, depth - 1);
        if (depth == 0 && peek().kind == TokenKind::keyword &&
            std::find(kKinds.begin(), kKinds.end(), peek().text) != kKinds.end())
          break;
        index_ = std::min(index_ + 1, tokens_.size() - 1);
      }
      return;
    }
    advance();
    std::string id;
    Range id_range = peek().range;
    if (peek().kind == TokenKind::string) {
      id = advance().text;
      if (id.empty() || id.size() > 64) error(id_range, "an id has 1 to 64 characters");
    } else {
      expected("the " + t.text + "'s id in quotes, as in " + t.text +
               (t.text == "event" ? " \"product_viewed\"" : " \"summer\""));
    }
    try {
      if (t.text == "tier")
        declare(file.tiers, id, t.range, id_range, &Parser::tier);
      else if (t.text == "coupon")
        declare(file.coupons, id, t.range, id_range, &Parser::coupon);
      else if (t.text == "reward")
        declare(file.rewards, id, t.range, id_range, &Parser::reward);
      else if (t.text == "challenge")
        declare(file.challenges, id, t.range, id_range, &Parser::challenge);
      else if (t.text == "event")
        declare(file.events, id, t.range, id_range, &Parser::event_type);
      else if (t.text == "segment")
        declare(file.segments, id, t.range, id_range, &Parser::segment);
      else
        declare(file.campaigns, id, t.range, id_range, &Parser::campaign);
    } catch (const TooDeep&) {
      error(peek().range, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
      throw TooManyErrors{};
    }
  }

  template <class Decl>
  void declare(std::vector<Decl>& list, const std::string& id, Range range, Range id_range,
               void (Parser::*body)(Decl&)) {
    Decl d;
    d.id = id;
    d.range = range;
    d.id_range = id_range;
    (this->*body)(d);
    list.push_back(std::move(d));
  }

  void program(ProgramDecl& p) {
    block(
        "program", {"currency", "timezone", "points_expire"},
        [&](const Token& k) {
          if (k.text == "currency") {
            p.currency_range = peek().range;
            once(p.currency, k, string_value("a currency code in quotes, as in \"EUR\""));
          } else if (k.text == "timezone") {
            p.timezone_range = peek().range;
            once(p.timezone, k, string_value("a time zone in quotes, as in \"Europe/Rome\""));
          } else {
            once(p.points_expire, k, duration("a duration, as in 365 days"));
          }
          return true;
        },
        p.range);
  }

  void tier(TierDecl& d) {
    block(
        "tier", {"name", "threshold", "window", "multiplier"},
        [&](const Token& k) {
          if (k.text == "name")
            once(d.name, k, string_value("the tier's name in quotes"));
          else if (k.text == "threshold")
            once(d.threshold, k, integer_value("the qualifying points, as in 1000"));
          else if (k.text == "window")
            once(d.window, k, duration("a duration, as in 365 days"));
          else
            once(d.multiplier, k, number_value("a number, as in 1.5"));
          return true;
        },
        d.range);
  }

  void coupon(CouponDecl& d) {
    block(
        "coupon", {"name", "discount", "max_discount", "min_total", "valid", "uses", "channels"},
        [&](const Token& k) {
          if (k.text == "name") {
            once(d.name, k, string_value("the coupon's name in quotes"));
          } else if (k.text == "discount") {
            d.discount_range = peek().range;
            if (d.discount_amount || d.discount_percent)
              error(k.range, "'discount' is set twice in this block");
            if (peek().kind == TokenKind::percent) {
              const Token& t = advance();
              d.discount_percent = Decimal{t.integer, t.scale};
            } else if (auto amount = number_value("an amount (5.00) or a percentage (10%)")) {
              d.discount_amount = amount;
            }
          } else if (k.text == "max_discount") {
            d.max_discount_range = peek().range;
            once(d.max_discount, k, number_value("an amount, as in 20.00"));
          } else if (k.text == "min_total") {
            once(d.min_total, k, number_value("an amount, as in 30.00"));
          } else if (k.text == "valid") {
            once(d.valid, k, duration("a duration, as in 30 days"));
          } else if (k.text == "uses") {
            once(d.uses, k, integer_value("how many redemptions per code, as in 1"));
          } else {
            if (!d.channels.empty()) error(k.range, "'channels' is set twice in this block");
            d.channels = name_list("a channel name, as in app, web, store");
          }
          return true;
        },
        d.range);
  }

  void reward(RewardDecl& d) {
    block(
        "reward", {"name", "cost", "coupon", "stock"},
        [&](const Token& k) {
          if (k.text == "name") {
            once(d.name, k, string_value("the reward's name in quotes"));
          } else if (k.text == "cost") {
            once(d.cost, k, integer_value("the points it costs, as in 300 points"));
            if (!accept_kw("points")) expected("'points' after the cost");
          } else if (k.text == "coupon") {
            d.coupon_range = peek().range;
            once(d.coupon, k, string_value("the id of the coupon it issues, in quotes"));
          } else {
            once(d.stock, k, integer_value("how many can be claimed, as in 1000"));
          }
          return true;
        },
        d.range);
  }

  void event_type(EventDecl& d) {
    block(
        "event", {"name", "interest"},
        [&](const Token& k) {
          if (k.text == "interest")
            once(d.interest, k, number_value("a weight from 0 to 1, as in 0.25"));
          else
            once(d.name, k, string_value("the event type's name in quotes"));
          return true;
        },
        d.range);
  }

  // segment "ID" { name "..." when EXPR } or segment "ID" { name "..." static }
  void segment(SegmentDecl& d) {
    block(
        "segment", {"name", "when", "static"},
        [&](const Token& k) {
          if (k.text == "name") {
            once(d.name, k, string_value("the segment's name in quotes"));
          } else if (k.text == "when") {
            if (d.when) error(k.range, "'when' is set twice in this block");
            auto when = expression();
            if (!d.when) d.when = std::move(when);
          } else {
            if (d.is_static) error(k.range, "'static' is set twice in this block");
            d.is_static = true;
            d.static_range = k.range;
          }
          return true;
        },
        d.range);
  }

  // referral { name "..." qualify on TRIGGER [when EXPR] within D hold D
  //            limit N per referrer [per day|week|month] }
  void referral(ReferralDecl& d) {
    block(
        "referral", {"name", "qualify", "within", "hold", "limit"},
        [&](const Token& k) {
          if (k.text == "name") {
            once(d.name, k, string_value("the referral program's name in quotes"));
          } else if (k.text == "qualify") {
            if (d.qualify_range.begin.offset != 0)
              error(k.range, "'qualify' is set twice in this block");
            d.qualify_range = k.range;
            if (!accept_kw("on")) {
              expected("'on' and the referee's event that qualifies, as in qualify on purchase");
              return true;
            }
            auto on = trigger();
            if (!d.on) d.on = std::move(on);
            if (accept_kw("when")) {
              auto when = expression();
              if (!d.when) d.when = std::move(when);
            }
            d.qualify_range.end = tokens_[index_ > 0 ? index_ - 1 : 0].range.end;
          } else if (k.text == "within") {
            once(d.within, k, duration("a duration, as in 30 days"));
          } else if (k.text == "hold") {
            once(d.hold, k, duration("a duration, as in 14 days"));
          } else {
            if (d.limit) error(k.range, "'limit' is set twice in this block");
            auto l = limit(k, true);
            if (!d.limit) d.limit = l;
          }
          return true;
        },
        d.range);
  }

  // After `limit`: `N per member|campaign [per day|week|month]` in a rule; in the referral,
  // `N per referrer [per day|week|month]`, counted per member (the referrer).
  std::optional<Limit> limit(const Token& keyword, bool in_referral) {
    Limit l;
    l.range = keyword.range;
    auto n = integer_value(in_referral ? "how many referrals, as in limit 5 per referrer per month"
                                       : "how many times, as in limit 1 per member per day");
    if (!n) return std::nullopt;
    l.count = *n;
    if (!accept_kw("per")) {
      expected(in_referral ? "'per referrer'" : "'per member' or 'per campaign'");
      return std::nullopt;
    }
    if (in_referral && (is_kw("member") || is_kw("campaign"))) {
      const Token& w = advance();
      error(w.range,
            "a referral limit counts the completed referrals of each referrer, not per " + w.text,
            "did you mean 'per referrer'?");
    } else if (in_referral) {
      if (!accept_kw("referrer")) {
        expected("'referrer' after 'per', as in limit 5 per referrer");
        return std::nullopt;
      }
    } else if (accept_kw("member")) {
      l.scope = LimitScope::member;
    } else if (accept_kw("campaign")) {
      l.scope = LimitScope::campaign;
    } else {
      expected("'member' or 'campaign' after 'per'");
      return std::nullopt;
    }
    if (accept_kw("per")) {
      if (accept_kw("day"))
        l.period = LimitPeriod::day;
      else if (accept_kw("week"))
        l.period = LimitPeriod::week;
      else if (accept_kw("month"))
        l.period = LimitPeriod::month;
      else
        expected("'day', 'week' or 'month' after 'per'");
    }
    l.range.end = tokens_[index_ - 1].range.end;
    return l;
  }

  std::optional<Trigger> trigger() {
    Trigger t;
    t.range = peek().range;
    const Token& k = peek();
    static const std::map<std::string, TriggerKind> kTriggers{
        {"purchase", TriggerKind::purchase},
        {"refund", TriggerKind::refund},
        {"visit", TriggerKind::visit},
        {"signup", TriggerKind::signup},
        {"challenge_completed", TriggerKind::challenge_completed},
        {"tier_changed", TriggerKind::tier_changed},
        {"referral_completed", TriggerKind::referral_completed}};
    if ((k.kind == TokenKind::keyword || k.kind == TokenKind::identifier) &&
        kTriggers.count(k.text)) {
      advance();
      t.kind = kTriggers.at(k.text);
      return t;
    }
    if (k.kind == TokenKind::keyword && k.text == "event") {
      advance();
      t.kind = TriggerKind::custom;
      if (auto name = string_value("the custom event's type in quotes, as in event \"review\""))
        t.custom = *name;
      t.range.end = tokens_[index_ > 0 ? index_ - 1 : 0].range.end;
      return t;
    }
    std::vector<std::string> names;
    for (const auto& [name, kind] : kTriggers) names.push_back(name);
    const auto suggestion =
        k.kind == TokenKind::identifier ? nearest(k.text, names) : std::string();
    error(
        k.range,
        "expected a trigger (purchase, refund, visit, signup, event \"NAME\", challenge_completed, "
        "tier_changed, referral_completed), found " +
            describe(k),
        suggestion.empty() ? "" : "did you mean '" + suggestion + "'?");
    if (k.kind == TokenKind::identifier) advance();
    return std::nullopt;
  }

  std::optional<Active> active() {
    Active a;
    a.range = peek().range;
    if (accept_kw("from")) a.from = date_value("a date, as in 2026-12-01");
    if (accept_kw("until")) a.until = date_value("a date, as in 2027-01-01");
    if (!a.from && !a.until) {
      expected("'from DATE' and/or 'until DATE'");
      return std::nullopt;
    }
    a.range.end = tokens_[index_ > 0 ? index_ - 1 : 0].range.end;
    return a;
  }

  // Actions after `then`, until something that is not an action.
  std::vector<Action> actions() {
    std::vector<Action> out;
    static const std::vector<std::string> kActions{"award", "issue", "progress", "grant",
                                                   "tag",   "untag", "notify"};
    while (peek().kind == TokenKind::keyword &&
           std::find(kActions.begin(), kActions.end(), peek().text) != kActions.end()) {
      count_node();
      const Token& k = advance();
      Action a;
      a.range = k.range;
      if (k.text == "award") {
        a.kind = ActionKind::award;
        a.amount = expression();
        if (!accept_kw("points")) expected("'points' after the amount to award");
        for (;;) {
          if (is_kw("pending")) {
            const Token& kw = advance();
            if (a.pending) error(kw.range, "'pending' is given twice");
            a.pending = duration("a duration, as in 30 days");
          } else if (is_kw("expiring")) {
            const Token& kw = advance();
            if (!accept_kw("in")) expected("'in' after 'expiring', as in expiring in 90 days");
            if (a.expiring) error(kw.range, "'expiring' is given twice");
            a.expiring = duration("a duration, as in 90 days");
          } else {
            break;
          }
        }
      } else if (k.text == "issue" || k.text == "progress" || k.text == "grant") {
        const char* noun = k.text == "issue"      ? "coupon"
                           : k.text == "progress" ? "challenge"
                                                  : "badge";
        a.kind = k.text == "issue"      ? ActionKind::issue_coupon
                 : k.text == "progress" ? ActionKind::progress_challenge
                                        : ActionKind::grant_badge;
        if (!accept_kw(noun)) expected(std::string("'") + noun + "' after '" + k.text + "'");
        a.target_range = peek().range;
        if (auto target = string_value("an id in quotes")) a.target = *target;
        if (a.kind == ActionKind::progress_challenge && accept_kw("by")) a.amount = expression();
      } else if (k.text == "tag" || k.text == "untag") {
        a.kind = k.text == "tag" ? ActionKind::tag : ActionKind::untag;
        if (!accept_kw("member")) expected("'member' after '" + k.text + "'");
        a.target_range = peek().range;
        if (auto target = string_value("the tag in quotes")) a.target = *target;
      } else {
        a.kind = ActionKind::notify;
        a.target_range = peek().range;
        if (peek().kind == TokenKind::string) {
          a.message = interpolation(advance());
        } else {
          expected("the message in quotes");
        }
      }
      a.range.end = tokens_[index_ > 0 ? index_ - 1 : 0].range.end;
      out.push_back(std::move(a));
    }
    if (out.empty())
      expected(
          "an action: award, issue coupon, progress challenge, grant badge, tag, untag, notify");
    return out;
  }

  // Splits "Bonus: {floor(event.total)} points" into text and expressions.
  std::vector<TextPart> interpolation(const Token& t) {
    std::vector<TextPart> parts;
    const std::string& raw = t.raw;
    Position at = t.range.begin;
    ++at.offset;
    ++at.column;
    std::string text;
    std::size_t i = 0;
    auto flush = [&] {
      if (!text.empty()) parts.push_back({std::move(text), nullptr});
      text.clear();
    };
    // Decode escapes again for the text parts (the lexer already validated them).
    while (i < raw.size()) {
      const char c = raw[i];
      if (c == '\\' && i + 1 < raw.size()) {
        const char e = raw[i + 1];
        if (e == 'u') {
          const auto close = raw.find('}', i);
          const Token decoded = lex("\"" + raw.substr(i, close - i + 1) + "\"").front();
          text += decoded.text;
          i = close + 1;
          continue;
        }
        text.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
        i += 2;
        continue;
      }
      if (c == '{') {
        const auto close = raw.find('}', i);
        if (close == std::string::npos) {
          error(t.range,
                "'{' in a message opens an expression that is not closed with '}'; write \\{ for a "
                "brace");
          return parts;
        }
        flush();
        Position start = at;
        start.offset += static_cast<std::uint32_t>(i + 1);
        start.column += static_cast<std::uint32_t>(i + 1);
        // Inside {...} a quote is written \" (the string's own escape): undo that for the lexer.
        std::string inner_text;
        for (std::size_t k = i + 1; k < close; ++k) {
          if (raw[k] == '\\' && k + 1 < close && (raw[k + 1] == '"' || raw[k + 1] == '\\')) ++k;
          inner_text.push_back(raw[k]);
        }
        Parser inner(source_, limits_, inner_text, start);
        auto expr = inner.standalone_expression();
        for (auto& d : inner.diagnostics_) diagnostics_.push_back(std::move(d));
        parts.push_back({"", std::move(expr)});
        i = close + 1;
        continue;
      }
      if (c == '}') {
        Range r{at, at};
        r.begin.offset += static_cast<std::uint32_t>(i);
        r.begin.column += static_cast<std::uint32_t>(i);
        r.end = r.begin;
        error(r, "a '}' in a message closes nothing; write \\} for a brace");
      }
      text.push_back(c);
      ++i;
    }
    flush();
    return parts;
  }

  Parser(const Source& source, const Limits& limits, std::string text, Position start)
      : source_(source), limits_(limits) {
    tokens_ = lex(text, start);
  }

  ExprPtr standalone_expression() {
    if (at_end()) {
      error(peek().range,
            "an empty {} in a message; put an expression inside, as in {event.total}");
      return nullptr;
    }
    ExprPtr e;
    try {
      e = expression();
    } catch (const TooDeep&) {
      error(peek().range,
            "the expression nests deeper than " + std::to_string(limits_.max_depth) + " levels");
      return nullptr;
    } catch (const TooManyErrors&) {
      return nullptr;
    }
    if (!at_end()) expected("'}' after the expression");
    return e;
  }

  std::optional<Goal> goal() {
    Goal g;
    g.range = peek().range;
    if (accept_kw("count")) {
      g.kind = GoalKind::count;
    } else if (accept_kw("sum")) {
      g.kind = GoalKind::sum;
      g.expr = expression();
    } else if (accept_kw("distinct")) {
      g.kind = GoalKind::distinct;
      g.expr = expression();
    } else if (accept_kw("streak")) {
      g.kind = GoalKind::streak;
      auto n = integer_value("how many periods in a row, as in streak 4 weeks");
      if (!n) return std::nullopt;
      g.target = Decimal{*n, 0};
      if (accept_kw("weeks") || accept_kw("week"))
        g.streak_unit = Unit::weeks;
      else if (accept_kw("days") || accept_kw("day"))
        g.streak_unit = Unit::days;
      else
        expected("'weeks' or 'days' after the streak length");
      g.range.end = tokens_[index_ - 1].range.end;
      return g;
    } else {
      expected(
          "a goal: count reaches N, sum EXPR reaches N, distinct EXPR reaches N, streak N "
          "weeks|days");
      return std::nullopt;
    }
    if (!accept_kw("reaches")) {
      expected("'reaches' and the target");
      return std::nullopt;
    }
    auto target = number_value("the target number");
    if (!target) return std::nullopt;
    g.target = *target;
    g.range.end = tokens_[index_ - 1].range.end;
    return g;
  }

  void challenge(ChallengeDecl& d) {
    block(
        "challenge", {"name", "on", "when", "goal", "within", "active", "repeatable", "then"},
        [&](const Token& k) {
          if (k.text == "name") {
            once(d.name, k, string_value("the challenge's name in quotes"));
          } else if (k.text == "on") {
            once(d.on, k, trigger());
          } else if (k.text == "when") {
            if (d.when) error(k.range, "'when' is set twice in this block");
            d.when = expression();
          } else if (k.text == "goal") {
            once(d.goal, k, goal());
          } else if (k.text == "within") {
            once(d.within, k, duration("a duration, as in 30 days"));
          } else if (k.text == "active") {
            once(d.active, k, active());
          } else if (k.text == "repeatable") {
            if (d.repeatable) error(k.range, "'repeatable' is set twice in this block");
            d.repeatable = true;
          } else {
            if (!d.then.empty())
              error(k.range,
                    "'then' is set twice in this block; list every action after one 'then'");
            auto acts = actions();
            for (auto& a : acts) d.then.push_back(std::move(a));
          }
          return true;
        },
        d.range);
  }

  void campaign(CampaignDecl& d) {
    block(
        "campaign",
        {"name", "active", "channels", "audience", "priority", "budget", "exclusive", "experiment",
         "rule"},
        [&](const Token& k) {
          if (k.text == "name") {
            once(d.name, k, string_value("the campaign's name in quotes"));
          } else if (k.text == "active") {
            once(d.active, k, active());
          } else if (k.text == "channels") {
            if (!d.channels.empty()) error(k.range, "'channels' is set twice in this block");
            d.channels = name_list("a channel name, as in app, store");
          } else if (k.text == "audience") {
            if (!d.audience.empty()) error(k.range, "'audience' is set twice in this block");
            d.audience_range = k.range;
            do {
              auto id = string_value("a segment's id in quotes, as in audience \"lapsed-gold\"");
              if (!id) break;
              d.audience.push_back(std::move(*id));
            } while (accept_punct(","));
            d.audience_range.end = tokens_[index_ > 0 ? index_ - 1 : 0].range.end;
          } else if (k.text == "priority") {
            bool negative = accept_punct("-");
            auto p = integer_value("a whole number, as in 10");
            if (p) once(d.priority, k, negative ? -*p : *p);
          } else if (k.text == "budget") {
            once(d.budget, k,
                 integer_value("the points it may award in total, as in 1_000_000 points"));
            if (!accept_kw("points")) expected("'points' after the budget");
          } else if (k.text == "exclusive") {
            if (d.exclusive) error(k.range, "'exclusive' is set twice in this block");
            d.exclusive = true;
          } else if (k.text == "experiment") {
            if (d.experiment) error(k.range, "'experiment' is set twice in this block");
            ExperimentDecl e;
            e.range = k.range;
            experiment(e);
            if (!d.experiment) d.experiment = std::move(e);
          } else {
            RuleDecl r;
            r.range = k.range;
            r.id_range = peek().range;
            if (auto id = string_value("the rule's id in quotes, as in rule \"base\"")) r.id = *id;
            rule(r);
            d.rules.push_back(std::move(r));
          }
          return true;
        },
        d.range);
  }

  // A share of the members: 10% or 12.5%.
  std::optional<Decimal> share(Range& range) {
    range = peek().range;
    if (peek().kind == TokenKind::percent) {
      const Token& t = advance();
      return Decimal{t.integer, t.scale};
    }
    if (peek().kind == TokenKind::integer || peek().kind == TokenKind::decimal) {
      const Token& t = advance();  // the number is there, the '%' missing: go on after it
      error(t.range, "a share is a percentage of the members: write " + t.text + "%");
      return std::nullopt;
    }
    expected("a share of the members, as in 10%");
    return std::nullopt;
  }

  void experiment(ExperimentDecl& e) {
    block(
        "experiment", {"control", "variant"},
        [&](const Token& k) {
          if (k.text == "control") {
            once(e.control, k, share(e.control_range));
          } else {
            VariantDecl v;
            v.range = k.range;
            v.id_range = peek().range;
            if (auto id = string_value("the variant's id in quotes, as in variant \"coupon\" 45%"))
              v.id = *id;
            v.share = share(v.share_range);
            block(
                "variant", {"name", "then"},
                [&](const Token& vk) {
                  if (vk.text == "name") {
                    once(v.name, vk, string_value("the variant's name in quotes"));
                  } else {
                    if (!v.then.empty())
                      error(vk.range,
                            "'then' is set twice in this block; list every action after one "
                            "'then'");
                    auto acts = actions();
                    for (auto& a : acts) v.then.push_back(std::move(a));
                  }
                  return true;
                },
                v.range);
            e.variants.push_back(std::move(v));
          }
          return true;
        },
        e.range);
  }

  void rule(RuleDecl& r) {
    block(
        "rule", {"on", "when", "then", "limit"},
        [&](const Token& k) {
          if (k.text == "on") {
            once(r.on, k, trigger());
          } else if (k.text == "when") {
            if (r.when) error(k.range, "'when' is set twice in this block");
            r.when = expression();
          } else if (k.text == "then") {
            if (!r.then.empty())
              error(k.range,
                    "'then' is set twice in this block; list every action after one 'then'");
            auto acts = actions();
            for (auto& a : acts) r.then.push_back(std::move(a));
          } else if (auto l = limit(k, false)) {
            r.limits.push_back(*l);
          }
          return true;
        },
        r.range);
  }

  // ---- expressions ----
  ExprPtr make(ExprKind kind, Range range) {
    count_node();
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->range = range;
    return e;
  }
  ExprPtr binary(std::string op, ExprPtr lhs, ExprPtr rhs) {
    Range r{lhs ? lhs->range.begin : Position{}, rhs ? rhs->range.end : Position{}};
    auto e = make(ExprKind::binary, r);
    e->text = std::move(op);
    e->args.push_back(std::move(lhs));
    e->args.push_back(std::move(rhs));
    return e;
  }
  struct Depth {
    explicit Depth(Parser& p) : p_(p) {
      if (++p_.depth_ > p_.limits_.max_depth) throw TooDeep{};
    }
    ~Depth() { --p_.depth_; }
    Parser& p_;
  };

  ExprPtr expression() {
    Depth guard(*this);
    auto e = or_expr();
    while (is_kw("where")) {
      advance();
      auto pred = or_expr();
      Range r{e ? e->range.begin : Position{}, pred ? pred->range.end : Position{}};
      auto w = make(ExprKind::where, r);
      w->args.push_back(std::move(e));
      w->args.push_back(std::move(pred));
      e = std::move(w);
    }
    return e;
  }
  ExprPtr or_expr() {
    auto e = and_expr();
    while (is_kw("or")) {
      advance();
      e = binary("or", std::move(e), and_expr());
    }
    return e;
  }
  ExprPtr and_expr() {
    auto e = not_expr();
    while (is_kw("and")) {
      advance();
      e = binary("and", std::move(e), not_expr());
    }
    return e;
  }
  ExprPtr not_expr() {
    if (is_kw("not")) {
      Depth guard(*this);
      const Token& t = advance();
      auto operand = not_expr();
      auto e =
          make(ExprKind::unary, Range{t.range.begin, operand ? operand->range.end : t.range.end});
      e->text = "not";
      e->args.push_back(std::move(operand));
      return e;
    }
    return comparison();
  }
  ExprPtr comparison() {
    auto e = additive();
    static const std::vector<std::string> kOps{"==", "!=", "<", "<=", ">", ">="};
    if (peek().kind == TokenKind::punct &&
        std::find(kOps.begin(), kOps.end(), peek().text) != kOps.end()) {
      const std::string op = advance().text;
      e = binary(op, std::move(e), additive());
    } else if (is_kw("in")) {
      advance();
      e = binary("in", std::move(e), additive());
    } else if (is_kw("not") && is_kw("in", 1)) {
      advance();
      advance();
      auto in = binary("in", std::move(e), additive());
      auto n = make(ExprKind::unary, in->range);
      n->text = "not";
      n->args.push_back(std::move(in));
      e = std::move(n);
    }
    if (peek().kind == TokenKind::punct &&
        std::find(kOps.begin(), kOps.end(), peek().text) != kOps.end()) {
      error(peek().range, "comparisons do not chain; join them with 'and', as in a < b and b < c");
    }
    return e;
  }
  ExprPtr additive() {
    auto e = multiplicative();
    while (is_punct("+") || is_punct("-")) {
      const std::string op = advance().text;
      e = binary(op, std::move(e), multiplicative());
    }
    return e;
  }
  ExprPtr multiplicative() {
    auto e = unary();
    while (is_punct("*") || is_punct("/") || is_punct("%")) {
      const std::string op = advance().text;
      e = binary(op, std::move(e), unary());
    }
    return e;
  }
  ExprPtr unary() {
    if (is_punct("-")) {
      Depth guard(*this);
      const Token& t = advance();
      auto operand = unary();
      // Fold "-literal" so that formatting round-trips to the same tree.
      if (operand && operand->kind == ExprKind::integer && operand->integer != INT64_MIN) {
        operand->integer = -operand->integer;
        operand->range.begin = t.range.begin;
        return operand;
      }
      if (operand && operand->kind == ExprKind::decimal) {
        operand->decimal.mantissa = -operand->decimal.mantissa;
        operand->range.begin = t.range.begin;
        return operand;
      }
      auto e =
          make(ExprKind::unary, Range{t.range.begin, operand ? operand->range.end : t.range.end});
      e->text = "-";
      e->args.push_back(std::move(operand));
      return e;
    }
    return postfix();
  }
  ExprPtr postfix() {
    auto e = primary();
    while (is_punct(".")) {
      advance();
      const Token& name = peek();
      if (name.kind != TokenKind::identifier && name.kind != TokenKind::keyword) {
        expected("a field name after '.'");
        return e;
      }
      advance();
      // A function of the member: member.affinity("category", "shoes").
      if (is_punct("(") && e && e->kind == ExprKind::name && e->text == "member") {
        Depth guard(*this);
        advance();  // (
        auto c = make(ExprKind::call, Range{e->range.begin, name.range.end});
        c->text = "member." + name.text;
        if (!is_punct(")")) {
          do {
            c->args.push_back(expression());
          } while (accept_punct(","));
        }
        c->range.end = peek().range.end;
        if (!accept_punct(")")) expected("')' or ',' in the call of member." + name.text);
        e = std::move(c);
        continue;
      }
      auto f = make(ExprKind::field, Range{e ? e->range.begin : name.range.begin, name.range.end});
      f->text = name.text;
      f->args.push_back(std::move(e));
      e = std::move(f);
    }
    return e;
  }
  ExprPtr primary() {
    const Token& t = peek();
    switch (t.kind) {
      case TokenKind::integer: {
        advance();
        auto e = make(ExprKind::integer, t.range);
        e->integer = t.integer;
        return e;
      }
      case TokenKind::decimal: {
        advance();
        auto e = make(ExprKind::decimal, t.range);
        e->decimal = Decimal{t.integer, t.scale};
        return e;
      }
      case TokenKind::percent:
        advance();
        error(t.range,
              "a percentage is only allowed where a setting takes one (coupon discount); write " +
                  std::to_string(t.integer) + " or a decimal");
        return make(ExprKind::integer, t.range);
      case TokenKind::string: {
        advance();
        auto e = make(ExprKind::string, t.range);
        e->text = t.text;
        return e;
      }
      case TokenKind::date: {
        advance();
        auto e = make(ExprKind::date, t.range);
        e->date = Date{t.year, t.month, t.day};
        return e;
      }
      case TokenKind::punct:
        if (t.text == "(") {
          Depth guard(*this);
          advance();
          auto e = expression();
          if (!accept_punct(")")) expected("')'");
          return e;
        }
        if (t.text == "[") {
          Depth guard(*this);
          advance();
          auto list = make(ExprKind::list, t.range);
          if (!is_punct("]")) {
            do {
              if (list->args.size() >= limits_.max_list_length) {
                error(peek().range, "a list has at most " +
                                        std::to_string(limits_.max_list_length) + " elements");
                throw TooManyErrors{};
              }
              list->args.push_back(expression());
            } while (accept_punct(","));
          }
          list->range.end = peek().range.end;
          if (!accept_punct("]")) expected("']' or ',' in the list");
          return list;
        }
        break;
      case TokenKind::keyword:
        if (t.text == "true" || t.text == "false") {
          advance();
          auto e = make(ExprKind::boolean, t.range);
          e->integer = t.text == "true";
          return e;
        }
        if (t.text == "event" || t.text == "member") {
          advance();
          auto e = make(ExprKind::name, t.range);
          e->text = t.text;
          return e;
        }
        // Functions whose names are also keywords: count(...), sum(...), hour(...).
        if (is_punct("(", 1)) return call();
        break;
      case TokenKind::identifier:
        if (is_punct("(", 1)) return call();
        {
          advance();
          auto e = make(ExprKind::name, t.range);
          e->text = t.text;
          return e;
        }
      default:
        break;
    }
    expected("a value: a number, a string, a field such as event.total, or a function call");
    if (t.kind != TokenKind::end &&
        !(t.kind == TokenKind::punct && (t.text == "}" || t.text == ")")))
      advance();
    return nullptr;
  }
  ExprPtr call() {
    Depth guard(*this);
    const Token& name = advance();
    advance();  // (
    auto e = make(ExprKind::call, name.range);
    e->text = name.text;
    if (!is_punct(")")) {
      do {
        e->args.push_back(expression());
      } while (accept_punct(","));
    }
    e->range.end = peek().range.end;
    if (!accept_punct(")")) expected("')' or ',' in the call of " + name.text);
    return e;
  }

  const Source& source_;
  const Limits& limits_;
  std::vector<Token> tokens_;
  std::size_t index_ = 0;
  std::size_t depth_ = 0;
  std::size_t nodes_ = 0;
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace

ParseResult parse(const Source& source, const Limits& limits) {
  return Parser(source, limits).run();
}

}  // namespace circolo::rules
