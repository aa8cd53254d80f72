#include "circolo/rules/evaluate.hpp"

#include <date/tz.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "circolo/engine/digest.hpp"
#include "circolo/rules/format.hpp"
#include "circolo/rules/parser.hpp"

namespace circolo::rules {

namespace {

using engine::TimePoint;
using i128 = __int128;

struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- values ----
struct Value {
  enum class Kind { missing, boolean, integer, decimal, string, time, date, weekday, list, item };
  Kind kind = Kind::missing;
  bool b = false;
  std::int64_t i = 0;  // integer; time: micros; date: days since epoch; weekday: 0 = mon
  Decimal d;
  // Strings are borrowed: from the program's literals or the event and member being evaluated,
  // all of which outlive an evaluation; no evaluation allocates a string.
  std::string_view s;
  std::shared_ptr<const std::vector<Value>> elements;
  const Item* item = nullptr;

  const std::vector<Value>& list() const {
    static const std::vector<Value> kEmpty;
    return elements ? *elements : kEmpty;
  }

  static Value boolean(bool v) {
    Value x;
    x.kind = Kind::boolean;
    x.b = v;
    return x;
  }
  static Value integer(std::int64_t v) {
    Value x;
    x.kind = Kind::integer;
    x.i = v;
    return x;
  }
  static Value decimal(Decimal v) {
    Value x;
    x.kind = Kind::decimal;
    x.d = v;
    return x;
  }
  static Value string(std::string_view v) {
    Value x;
    x.kind = Kind::string;
    x.s = v;
    return x;
  }
  static Value list_of(std::vector<Value> v) {
    Value x;
    x.kind = Kind::list;
    x.elements = std::make_shared<const std::vector<Value>>(std::move(v));
    return x;
  }
  static Value time(TimePoint t) {
    Value x;
    x.kind = Kind::time;
    x.i = t.time_since_epoch().count();
    return x;
  }
  static Value date(std::int64_t days) {
    Value x;
    x.kind = Kind::date;
    x.i = days;
    return x;
  }
  static Value weekday(int w) {
    Value x;
    x.kind = Kind::weekday;
    x.i = w;
    return x;
  }
  static Value of(const Dyn& d) {
    if (std::holds_alternative<bool>(d)) return boolean(std::get<bool>(d));
    if (std::holds_alternative<std::int64_t>(d)) return integer(std::get<std::int64_t>(d));
    if (std::holds_alternative<Decimal>(d)) return decimal(std::get<Decimal>(d));
    if (std::holds_alternative<std::string>(d)) return string(std::get<std::string>(d));
    return Value{};
  }
  bool number() const { return kind == Kind::integer || kind == Kind::decimal; }
};

constexpr int kMaxScale = 12;

i128 pow10(int n) {
  i128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

Decimal as_decimal(const Value& v) {
  return v.kind == Value::Kind::integer ? Decimal{v.i, 0} : v.d;
}

// Rounds `m / 10^drop` half away from zero.
i128 drop_digits(i128 m, int drop) {
  if (drop <= 0) return m;
  const i128 p = pow10(drop);
  i128 q = m / p, r = m % p;
  if (r < 0) r = -r;
  if (r * 2 >= p) q += m < 0 ? -1 : 1;
  return q;
}

Decimal make_decimal(i128 m, int scale) {
  if (scale > kMaxScale) {
    m = drop_digits(m, scale - kMaxScale);
    scale = kMaxScale;
  }
  // Normalise trailing zeros so that equal values look equal.
  while (scale > 0 && m % 10 == 0) {
    m /= 10;
    --scale;
  }
  if (m > INT64_MAX || m < INT64_MIN) throw RuntimeError("a decimal overflowed");
  return Decimal{static_cast<std::int64_t>(m), scale};
}

int compare_numbers(const Value& a, const Value& b) {
  const auto x = as_decimal(a), y = as_decimal(b);
  const int s = std::max(x.scale, y.scale);
  const i128 l = i128(x.mantissa) * pow10(s - x.scale), r = i128(y.mantissa) * pow10(s - y.scale);
  return l < r ? -1 : l > r ? 1 : 0;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.kind == Value::Kind::missing || b.kind == Value::Kind::missing)
    throw RuntimeError("a value is missing");
  if (!a.number() || !b.number())
    throw RuntimeError("'" + op + "' on a value that is not a number");
  if (a.kind == Value::Kind::integer && b.kind == Value::Kind::integer && op != "/") {
    std::int64_t out = 0;
    bool overflow = false;
    if (op == "+")
      overflow = __builtin_add_overflow(a.i, b.i, &out);
    else if (op == "-")
      overflow = __builtin_sub_overflow(a.i, b.i, &out);
    else if (op == "*")
      overflow = __builtin_mul_overflow(a.i, b.i, &out);
    else {
      if (b.i == 0) throw RuntimeError("division by zero");
      if (a.i == INT64_MIN && b.i == -1)
        overflow = true;
      else
        out = a.i % b.i;
    }
    if (overflow) throw RuntimeError("integer overflow in '" + op + "'");
    return Value::integer(out);
  }
  const auto x = as_decimal(a), y = as_decimal(b);
  if (op == "+" || op == "-") {
    const int s = std::max(x.scale, y.scale);
    const i128 l = i128(x.mantissa) * pow10(s - x.scale), r = i128(y.mantissa) * pow10(s - y.scale);
    return Value::decimal(make_decimal(op == "+" ? l + r : l - r, s));
  }
  if (op == "*")
    return Value::decimal(make_decimal(i128(x.mantissa) * i128(y.mantissa), x.scale + y.scale));
  if (op == "/") {
    if (y.mantissa == 0) throw RuntimeError("division by zero");
    // x / y with kMaxScale fractional digits, rounded half away from zero.
    const int shift = kMaxScale + y.scale - x.scale + 1;
    i128 num = i128(x.mantissa);
    if (shift >= 0) {
      if (shift > 30) throw RuntimeError("a decimal overflowed");
      num *= pow10(shift);
    }
    const i128 q = num / i128(y.mantissa);
    return Value::decimal(
        make_decimal(drop_digits(q, 1), shift >= 0 ? kMaxScale : kMaxScale - shift - 1));
  }
  throw RuntimeError("'%' needs whole numbers");
}

std::int64_t to_integer(i128 v) {
  if (v > INT64_MAX || v < INT64_MIN) throw RuntimeError("integer overflow");
  return static_cast<std::int64_t>(v);
}

std::int64_t floor_of(const Value& v, int mode) {  // mode: -1 floor, 1 ceil, 0 round
  if (v.kind == Value::Kind::integer) return v.i;
  if (v.kind != Value::Kind::decimal)
    throw RuntimeError("floor/ceil/round of a value that is not a number");
  const i128 p = pow10(v.d.scale);
  const i128 m = v.d.mantissa;
  if (mode == 0) return to_integer(drop_digits(m, v.d.scale));
  i128 q = m / p;
  const i128 r = m % p;
  if (mode < 0 && r < 0) q -= 1;
  if (mode > 0 && r > 0) q += 1;
  return to_integer(q);
}

// Equality with the language's rules: mismatched kinds and missing values compare false.
std::optional<int> order(const Value& a, const Value& b) {
  if (a.kind == Value::Kind::missing || b.kind == Value::Kind::missing) return std::nullopt;
  if (a.number() && b.number()) return compare_numbers(a, b);
  if (a.kind != b.kind) return std::nullopt;
  switch (a.kind) {
    case Value::Kind::boolean:
      return int(a.b) - int(b.b);
    case Value::Kind::string:
      return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
    case Value::Kind::time:
    case Value::Kind::date:
    case Value::Kind::weekday:
      return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    default:
      return std::nullopt;
  }
}

// ---- evaluation context ----
struct Context {
  const Event* event = nullptr;
  const MemberSnapshot* member = nullptr;
  const Item* item = nullptr;      // the element inside any/all/sum/where over items
  const Value* element = nullptr;  // the element inside list ops over other lists
  const date::time_zone* zone = nullptr;
  // Per-evaluation caches shared by all rules (inner scopes copy the pointers).
  mutable std::shared_ptr<const std::vector<Value>> items;
  // Results of the conditions shared by many rules (see ExprCompiler::predicate): -1 unknown.
  std::vector<signed char>* memo = nullptr;
  mutable std::int64_t local_for = INT64_MIN, local_micros = 0;
};

using Fn = std::function<Value(const Context&)>;

date::local_time<std::chrono::microseconds> local(const Context& c, std::int64_t micros) {
  // Every weekday(event.time) of every rule asks about the same instant: convert it once.
  if (c.local_for != micros) {
    c.local_micros =
        c.zone
            ->to_local(date::sys_time<std::chrono::microseconds>(std::chrono::microseconds(micros)))
            .time_since_epoch()
            .count();
    c.local_for = micros;
  }
  return date::local_time<std::chrono::microseconds>(std::chrono::microseconds(c.local_micros));
}

std::int64_t local_days(const Context& c, std::int64_t micros) {
  return date::floor<date::days>(local(c, micros)).time_since_epoch().count();
}

std::string to_text(const Value& v, int currency_digits) {
  switch (v.kind) {
    case Value::Kind::missing:
      return "";
    case Value::Kind::boolean:
      return v.b ? "true" : "false";
    case Value::Kind::integer:
      return std::to_string(v.i);
    case Value::Kind::decimal: {
      // Money-like values show the currency's digits; others as computed.
      Decimal d = v.d;
      if (d.scale < currency_digits) {
        d.mantissa *= static_cast<std::int64_t>(pow10(currency_digits - d.scale));
        d.scale = currency_digits;
      }
      return format_decimal(d);
    }
    case Value::Kind::string:
      return std::string(v.s);
    case Value::Kind::time:
      return engine::format_rfc3339(TimePoint{std::chrono::microseconds{v.i}});
    case Value::Kind::date: {
      const date::year_month_day ymd{date::sys_days{date::days{v.i}}};
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                    unsigned(ymd.day()));
      return buf;
    }
    case Value::Kind::weekday: {
      static const char* kNames[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
      return kNames[v.i % 7];
    }
    case Value::Kind::list:
      return "[" + std::to_string(v.list().size()) + " items]";
    case Value::Kind::item:
      return v.item ? v.item->sku : "";
  }
  return "";
}

Value list_of_strings(const std::vector<std::string>& v) {
  std::vector<Value> out;
  out.reserve(v.size());
  for (const auto& s : v) out.push_back(Value::string(s));
  return Value::list_of(std::move(out));
}

// ---- the expression compiler: names and fields are resolved here, once ----
using Pred = std::function<bool(const Context&)>;

class ExprCompiler {
 public:
  // Runs after the checker: every name, field and call here is known to be valid.
  ExprCompiler() = default;

  // Conditions compile to predicates. The common shapes of marketing rules get direct code
  // (a string field against a literal, a weekday against a set of days, any/all over the
  // items); everything else goes through the general value path with the same semantics.
  Pred predicate(const Expr* e) {
    if (e->kind == ExprKind::binary && (e->text == "and" || e->text == "or")) {
      // a and b and c ...: one loop over the conjuncts, left to right, stopping at the first
      // false (or the first true for `or`), instead of nested calls.
      std::vector<const Expr*> parts;
      collect(e, e->text, parts);
      std::vector<Pred> preds;
      for (const auto* p : parts) preds.push_back(predicate(p));
      if (e->text == "and") {
        return [preds](const Context& c) {
          for (const auto& p : preds) {
            if (!p(c)) return false;
          }
          return true;
        };
      }
      return [preds](const Context& c) {
        for (const auto& p : preds) {
          if (p(c)) return true;
        }
        return false;
      };
    }
    if (e->kind == ExprKind::binary && (e->text == "==" || e->text == "!=")) {
      const Expr* a = e->args[0].get();
      const Expr* b = e->args[1].get();
      if (a->kind == ExprKind::string) std::swap(a, b);
      if (b->kind == ExprKind::string) {
        if (auto field = string_field(a)) {
          const std::string literal = b->text;
          const bool equal = e->text == "==";
          // A missing optional field compares false either way.
          return [field, literal, equal](const Context& c) {
            const auto* v = field(c);
            return v != nullptr && ((*v == literal) == equal);
          };
        }
      }
    }
    if (e->kind == ExprKind::binary && e->text == "in" && e->args[1]->kind == ExprKind::list) {
      const Expr* lhs = e->args[0].get();
      unsigned mask = 0;
      bool weekdays =
          lhs->kind == ExprKind::call && lhs->text == "weekday" && !e->args[1]->args.empty();
      static const std::vector<std::string> kDays{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
      for (const auto& item : e->args[1]->args) {
        const auto it =
            std::find(kDays.begin(), kDays.end(), item->kind == ExprKind::name ? item->text : "");
        if (it == kDays.end())
          weekdays = false;
        else
          mask |= 1u << (it - kDays.begin());
      }
      if (weekdays) {
        auto time = compile(lhs->args[0].get());
        return memoised(e, [time, mask](const Context& c) {
          const auto v = time(c);
          if (v.kind != Value::Kind::time)
            throw RuntimeError("weekday of a value that is not a time");
          const date::weekday w{date::local_days{date::days{local_days(c, v.i)}}};
          return ((mask >> ((w.c_encoding() + 6) % 7)) & 1u) != 0;
        });
      }
    }
    if (e->kind == ExprKind::call && (e->text == "any" || e->text == "all") &&
        is_event_items(e->args[0].get())) {
      const bool outer = element_scope_;
      element_scope_ = true;  // the body depends on the item: never memoised
      auto body = predicate(e->args[1].get());
      element_scope_ = outer;
      auto loop = [body, any = e->text == "any"](const Context& c) {
        Context inner = c;  // one copy per call, not per item
        for (const auto& item : c.event->items) {
          inner.item = &item;
          inner.element = nullptr;
          const bool t = body(inner);
          if (any && t) return true;
          if (!any && !t) return false;
        }
        return !any;
      };
      return memoised(e, loop);
    }
    auto general = compile(e);
    return memoised(e, [general](const Context& c) { return truthy(general(c)); });
  }

  std::size_t memo_slots() const { return memo_.size(); }

 private:
  // The same condition in many rules ("weekday(event.time) in [sat, sun]" in hundreds of them)
  // is computed once per evaluation: conditions are pure, so the first answer stands. A runtime
  // error is not remembered, so every rule that meets it reports it.
  template <class F>
  Pred memoised(const Expr* e, F f) {
    if (element_scope_) return f;
    const auto key = format(*e);
    auto it = memo_.find(key);
    if (it == memo_.end()) it = memo_.emplace(key, memo_.size()).first;
    const std::size_t slot = it->second;
    return [f, slot](const Context& c) {
      if (c.memo == nullptr) return f(c);
      auto& known = (*c.memo)[slot];
      if (known >= 0) return known == 1;
      const bool value = f(c);
      known = value ? 1 : 0;
      return value;
    };
  }

  std::map<std::string, std::size_t> memo_;
  bool element_scope_ = false;

 public:
  Fn compile(const Expr* e) {
    switch (e->kind) {
      case ExprKind::integer: {
        const auto v = Value::integer(e->integer);
        return [v](const Context&) { return v; };
      }
      case ExprKind::decimal: {
        const auto v = Value::decimal(e->decimal);
        return [v](const Context&) { return v; };
      }
      case ExprKind::string: {
        const auto v = Value::string(e->text);
        return [v](const Context&) { return v; };
      }
      case ExprKind::boolean: {
        const auto v = Value::boolean(e->integer != 0);
        return [v](const Context&) { return v; };
      }
      case ExprKind::date: {
        const auto days = date::sys_days{date::year{e->date.year} / e->date.month / e->date.day}
                              .time_since_epoch()
                              .count();
        const auto v = Value::date(days);
        return [v](const Context&) { return v; };
      }
      case ExprKind::list: {
        std::vector<Fn> parts;
        bool constant = true;
        for (const auto& a : e->args) {
          parts.push_back(compile(a.get()));
          constant = constant && is_literal(*a);
        }
        if (constant) {
          // [sat, sun], ["gold", "silver"]: built once, shared by every evaluation.
          std::vector<Value> values;
          const Context none;
          for (const auto& p : parts) values.push_back(p(none));
          const auto v = Value::list_of(std::move(values));
          return [v](const Context&) { return v; };
        }
        return [parts](const Context& c) {
          std::vector<Value> values;
          values.reserve(parts.size());
          for (const auto& p : parts) values.push_back(p(c));
          return Value::list_of(std::move(values));
        };
      }
      case ExprKind::name:
        return name(e);
      case ExprKind::field:
        return field(e);
      case ExprKind::unary: {
        auto operand = compile(e->args[0].get());
        if (e->text == "not") {
          return [operand](const Context& c) {
            const auto v = operand(c);
            if (v.kind != Value::Kind::boolean) return Value::boolean(false);  // dyn: not a bool
            return Value::boolean(!v.b);
          };
        }
        return
            [operand](const Context& c) { return arithmetic("-", Value::integer(0), operand(c)); };
      }
      case ExprKind::binary:
        return binary(e);
      case ExprKind::where: {
        auto list = compile(e->args[0].get());
        auto pred = compile(e->args[1].get());
        return [list, pred](const Context& c) {
          const auto source = list(c);
          std::vector<Value> kept;
          for (const auto& element : source.list()) {
            if (truthy(pred(scope(c, element)))) kept.push_back(element);
          }
          return Value::list_of(std::move(kept));
        };
      }
      case ExprKind::call:
        return call(e);
    }
    throw std::logic_error("unknown expression");
  }

  static bool truthy(const Value& v) { return v.kind == Value::Kind::boolean && v.b; }

  static void collect(const Expr* e, const std::string& op, std::vector<const Expr*>& out) {
    if (e->kind == ExprKind::binary && e->text == op) {
      collect(e->args[0].get(), op, out);
      collect(e->args[1].get(), op, out);
    } else {
      out.push_back(e);
    }
  }

  using ItemField = Value (*)(const Item&);
  static ItemField item_field(const std::string& name) {
    if (name == "sku") return [](const Item& i) { return Value::string(i.sku); };
    if (name == "category") return [](const Item& i) { return Value::string(i.category); };
    if (name == "brand") return [](const Item& i) { return Value::string(i.brand); };
    if (name == "quantity") return [](const Item& i) { return Value::integer(i.quantity); };
    if (name == "price") return [](const Item& i) { return Value::decimal(i.price); };
    return nullptr;
  }

  static bool is_event_items(const Expr* e) {
    return e->kind == ExprKind::field && e->text == "items" && e->args[0]->kind == ExprKind::name &&
           e->args[0]->text == "event";
  }

  // A string-valued field read without building a Value (nullptr when absent).
  using StringField = const std::string* (*)(const Context&);
  static StringField string_field(const Expr* e) {
    if (e->kind == ExprKind::field && e->args[0]->kind == ExprKind::name) {
      const auto& owner = e->args[0]->text;
      const auto& f = e->text;
      if (owner == "event") {
        if (f == "channel")
          return [](const Context& c) -> const std::string* { return &c.event->channel; };
        if (f == "type")
          return [](const Context& c) -> const std::string* { return &c.event->type; };
        if (f == "store") {
          return [](const Context& c) -> const std::string* {
            return c.event->store ? &*c.event->store : nullptr;
          };
        }
      }
      if (owner == "member") {
        if (f == "tier")
          return [](const Context& c) -> const std::string* { return &c.member->tier; };
        if (f == "id") return [](const Context& c) -> const std::string* { return &c.member->id; };
      }
    }
    if (e->kind == ExprKind::name) {
      const auto& n = e->text;
      if (n == "category")
        return [](const Context& c) -> const std::string* {
          return c.item ? &c.item->category : nullptr;
        };
      if (n == "sku")
        return
            [](const Context& c) -> const std::string* { return c.item ? &c.item->sku : nullptr; };
      if (n == "brand")
        return [](const Context& c) -> const std::string* {
          return c.item ? &c.item->brand : nullptr;
        };
    }
    return nullptr;
  }

  static bool is_literal(const Expr& e) {
    static const std::vector<std::string> kWeekdays{"mon", "tue", "wed", "thu",
                                                    "fri", "sat", "sun"};
    switch (e.kind) {
      case ExprKind::integer:
      case ExprKind::decimal:
      case ExprKind::string:
      case ExprKind::boolean:
      case ExprKind::date:
        return true;
      case ExprKind::name:
        return std::find(kWeekdays.begin(), kWeekdays.end(), e.text) != kWeekdays.end();
      default:
        return false;
    }
  }

  static Context scope(const Context& c, const Value& element) {
    Context inner = c;
    inner.item = element.kind == Value::Kind::item ? element.item : nullptr;
    inner.element = &element;
    return inner;
  }

 private:
  static Value attribute(const Attributes& a, const std::string& name) {
    auto it = a.find(name);
    return it == a.end() ? Value{} : Value::of(it->second);
  }

  Fn name(const Expr* e) {
    static const std::vector<std::string> kWeekdays{"mon", "tue", "wed", "thu",
                                                    "fri", "sat", "sun"};
    const auto& n = e->text;
    if (n == "event" || n == "member") {
      return [](const Context&) -> Value { throw RuntimeError("a record is not a value"); };
    }
    // An item field of the element in scope.
    const auto weekday = std::find(kWeekdays.begin(), kWeekdays.end(), n);
    if (auto get = item_field(n)) {
      return [get](const Context& c) {
        if (!c.item) throw RuntimeError("no list element in scope");
        return get(*c.item);
      };
    }
    if (weekday != kWeekdays.end()) {
      const auto v = Value::weekday(static_cast<int>(weekday - kWeekdays.begin()));
      return [v](const Context&) { return v; };
    }
    throw std::logic_error("unchecked name " + n);
  }

  Fn field(const Expr* e) {
    const Expr* object = e->args[0].get();
    const auto& f = e->text;
    // attributes.NAME of event, member or item.
    if (object->kind == ExprKind::field && object->text == "attributes") {
      const Expr* owner = object->args[0].get();
      const std::string key = f;
      if (owner->kind == ExprKind::name && owner->text == "event")
        return [key](const Context& c) { return attribute(c.event->attributes, key); };
      if (owner->kind == ExprKind::name && owner->text == "member")
        return [key](const Context& c) { return attribute(c.member->attributes, key); };
      return [key](const Context& c) {
        if (!c.item) return Value{};
        return attribute(c.item->attributes, key);
      };
    }
    if (object->kind == ExprKind::name && object->text == "event") {
      if (f == "type") return [](const Context& c) { return Value::string(c.event->type); };
      if (f == "channel") return [](const Context& c) { return Value::string(c.event->channel); };
      if (f == "store")
        return [](const Context& c) {
          return c.event->store ? Value::string(*c.event->store) : Value{};
        };
      if (f == "time") return [](const Context& c) { return Value::time(c.event->time); };
      if (f == "total") return [](const Context& c) { return Value::decimal(c.event->total); };
      if (f == "coupons") return [](const Context& c) { return list_of_strings(c.event->coupons); };
      if (f == "items") {
        return [](const Context& c) {
          // Built once per evaluation, however many rules look at the items.
          if (!c.items) {
            std::vector<Value> items;
            items.reserve(c.event->items.size());
            for (const auto& item : c.event->items) {
              Value v;
              v.kind = Value::Kind::item;
              v.item = &item;
              items.push_back(std::move(v));
            }
            c.items = std::make_shared<const std::vector<Value>>(std::move(items));
          }
          Value out;
          out.kind = Value::Kind::list;
          out.elements = c.items;
          return out;
        };
      }
    }
    if (object->kind == ExprKind::name && object->text == "member") {
      if (f == "id") return [](const Context& c) { return Value::string(c.member->id); };
      if (f == "tier") return [](const Context& c) { return Value::string(c.member->tier); };
      if (f == "multiplier")
        return [](const Context& c) { return Value::decimal(c.member->multiplier); };
      if (f == "tags") return [](const Context& c) { return list_of_strings(c.member->tags); };
      if (f == "badges") return [](const Context& c) { return list_of_strings(c.member->badges); };
      if (f == "points") return [](const Context& c) { return Value::integer(c.member->points); };
      if (f == "lifetime_points")
        return [](const Context& c) { return Value::integer(c.member->lifetime_points); };
      if (f == "purchases")
        return [](const Context& c) { return Value::integer(c.member->purchases); };
      if (f == "joined") return [](const Context& c) { return Value::time(c.member->joined); };
      if (f == "birthday") {
        return [](const Context& c) {
          if (!c.member->birthday) return Value{};
          const auto& b = *c.member->birthday;
          return Value::date(
              date::sys_days{date::year{b.year} / b.month / b.day}.time_since_epoch().count());
        };
      }
    }
    // A field of an item value (event.items where ... is a list; its elements are items).
    if (auto get = item_field(f)) {
      auto obj = compile(object);
      return [obj, get](const Context& c) {
        const auto v = obj(c);
        return v.item ? get(*v.item) : Value{};
      };
    }
    // A field of a dyn value has no structure: missing.
    return [](const Context&) { return Value{}; };
  }

  Fn binary(const Expr* e) {
    auto l = compile(e->args[0].get());
    auto r = compile(e->args[1].get());
    const auto op = e->text;
    if (op == "and")
      return [l, r](const Context& c) { return Value::boolean(truthy(l(c)) && truthy(r(c))); };
    if (op == "or")
      return [l, r](const Context& c) { return Value::boolean(truthy(l(c)) || truthy(r(c))); };
    if (op == "in") {
      return [l, r](const Context& c) {
        const auto needle = l(c);
        const auto hay = r(c);
        for (const auto& v : hay.list()) {
          if (auto o = order(needle, v); o && *o == 0) return Value::boolean(true);
        }
        return Value::boolean(false);
      };
    }
    if (op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=") {
      return [l, r, op](const Context& c) {
        const auto o = order(l(c), r(c));
        if (!o) return Value::boolean(false);  // mismatched or missing: false
        const int x = *o;
        const bool out = op == "=="   ? x == 0
                         : op == "!=" ? x != 0
                         : op == "<"  ? x < 0
                         : op == "<=" ? x <= 0
                         : op == ">"  ? x > 0
                                      : x >= 0;
        return Value::boolean(out);
      };
    }
    return [l, r, op](const Context& c) { return arithmetic(op, l(c), r(c)); };
  }

  Fn call(const Expr* e) {
    const auto& f = e->text;
    std::vector<Fn> args;
    if (f == "sum" || f == "any" || f == "all") {
      auto list = compile(e->args[0].get());
      auto body = compile(e->args[1].get());
      if (f == "sum") {
        return [list, body](const Context& c) {
          Value total = Value::integer(0);
          const auto elements = list(c);  // kept alive while iterating
          for (const auto& element : elements.list())
            total = arithmetic("+", total, body(scope(c, element)));
          return total;
        };
      }
      const bool any = f == "any";
      return [list, body, any](const Context& c) {
        const auto elements = list(c);  // kept alive while iterating
        for (const auto& element : elements.list()) {
          const bool t = truthy(body(scope(c, element)));
          if (any && t) return Value::boolean(true);
          if (!any && !t) return Value::boolean(false);
        }
        return Value::boolean(!any);
      };
    }
    for (const auto& a : e->args) args.push_back(compile(a.get()));
    if (f == "floor" || f == "ceil" || f == "round") {
      const int mode = f == "floor" ? -1 : f == "ceil" ? 1 : 0;
      auto a = args[0];
      return [a, mode](const Context& c) { return Value::integer(floor_of(a(c), mode)); };
    }
    if (f == "abs") {
      auto a = args[0];
      return [a](const Context& c) {
        auto v = a(c);
        if (!v.number()) throw RuntimeError("abs of a value that is not a number");
        return order(v, Value::integer(0)).value_or(0) < 0 ? arithmetic("-", Value::integer(0), v)
                                                           : v;
      };
    }
    if (f == "min" || f == "max") {
      const bool is_min = f == "min";
      return [args, is_min](const Context& c) {
        Value best = args[0](c);
        if (!best.number()) throw RuntimeError("min/max of a value that is not a number");
        for (std::size_t i = 1; i < args.size(); ++i) {
          const auto v = args[i](c);
          if (!v.number()) throw RuntimeError("min/max of a value that is not a number");
          const int o = compare_numbers(v, best);
          if ((is_min && o < 0) || (!is_min && o > 0)) best = v;
        }
        return best;
      };
    }
    if (f == "weekday" || f == "hour" || f == "date" || f == "days_since") {
      auto a = args[0];
      if (f == "weekday") {
        return [a](const Context& c) {
          const auto v = a(c);
          if (v.kind != Value::Kind::time)
            throw RuntimeError("weekday of a value that is not a time");
          const date::weekday w{date::local_days{date::days{local_days(c, v.i)}}};
          return Value::weekday(static_cast<int>((w.c_encoding() + 6) % 7));
        };
      }
      if (f == "hour") {
        return [a](const Context& c) {
          const auto v = a(c);
          if (v.kind != Value::Kind::time) throw RuntimeError("hour of a value that is not a time");
          const auto t = local(c, v.i);
          return Value::integer(
              date::floor<std::chrono::hours>(t - date::floor<date::days>(t)).count());
        };
      }
      if (f == "date") {
        return [a](const Context& c) {
          const auto v = a(c);
          if (v.kind != Value::Kind::time) throw RuntimeError("date of a value that is not a time");
          return Value::date(local_days(c, v.i));
        };
      }
      return [a](const Context& c) {
        const auto v = a(c);
        const auto today = local_days(c, c.event->time.time_since_epoch().count());
        if (v.kind == Value::Kind::time) return Value::integer(today - local_days(c, v.i));
        if (v.kind == Value::Kind::date) return Value::integer(today - v.i);
        throw RuntimeError("days_since of a value that is neither a time nor a date");
      };
    }
    if (f == "has") {
      auto a = args[0];
      return [a](const Context& c) { return Value::boolean(a(c).kind != Value::Kind::missing); };
    }
    if (f == "count") {
      auto a = args[0];
      return [a](const Context& c) {
        return Value::integer(static_cast<std::int64_t>(a(c).list().size()));
      };
    }
    throw std::logic_error("unchecked function " + f);
  }
};

TimePoint add(const date::time_zone* zone, TimePoint t, const Duration& d) {
  using namespace std::chrono;
  switch (d.unit) {
    case Unit::hours:
      return t + hours(d.amount);
    case Unit::days:
    case Unit::weeks:
    case Unit::months: {
      // Calendar arithmetic on the local date, keeping the local time of day (DST-safe).
      const auto local = zone->to_local(t);
      const auto day = date::floor<date::days>(local);
      const auto time_of_day = local - day;
      date::year_month_day ymd{day};
      if (d.unit == Unit::days)
        ymd = date::year_month_day{date::local_days{ymd} + date::days{d.amount}};
      else if (d.unit == Unit::weeks)
        ymd = date::year_month_day{date::local_days{ymd} + date::days{7 * d.amount}};
      else {
        ymd += date::months{d.amount};
        if (!ymd.ok()) ymd = ymd.year() / ymd.month() / date::last;
      }
      const auto target = date::local_days{ymd} + time_of_day;
      return date::floor<microseconds>(zone->to_sys(target, date::choose::latest));
    }
  }
  return t;
}

}  // namespace

// ---- the compiled program ----
struct CompiledProgram::Impl {
  struct CompiledAction {
    const Action* source = nullptr;
    Fn amount;
    std::size_t amount_slot = 0;  // the same amount text in many rules is computed once
    std::vector<std::pair<std::string, Fn>> message;  // text, or an expression
  };
  struct CompiledRule {
    const RuleDecl* source = nullptr;
    // Top-level conjuncts `event.channel == "..."` and `member.tier == "..."`, as ids into the
    // program's table of such literals: checked first, as integer comparisons, so that rules
    // for other channels or tiers cost next to nothing. (They stay part of `condition`; as they
    // cannot fail, checking them first changes no result, only which false part is found.)
    std::vector<std::pair<int, int>> guards;  // (field, literal id)
    Pred condition;
    std::vector<CompiledAction> actions;
  };
  struct CompiledCampaign {
    const CampaignDecl* source = nullptr;
    std::optional<TimePoint> from, until;
    std::vector<CompiledRule> rules;
  };
  struct CompiledChallenge {
    const ChallengeDecl* source = nullptr;
    Pred condition;
    Fn goal_value;  // sum and distinct goals
    std::vector<CompiledAction> actions;
  };
  const date::time_zone* zone = nullptr;
  std::optional<Duration> points_expire;
  std::vector<CompiledChallenge> challenges;  // as CompiledProgram::challenges_
  std::size_t memo_slots = 0;
  std::size_t amount_slots = 0;
  std::vector<std::string> guard_literals[2];  // channel literals, tier literals
  std::vector<CompiledCampaign> campaigns;     // priority desc, then file order
};

std::string limit_key(const std::string& campaign, const std::string& rule, const Limit& limit,
                      const std::string& member_id, const std::string& period) {
  return campaign + "/" + rule + "/" +
         (limit.scope == LimitScope::member ? "member:" + member_id : std::string("campaign")) +
         "/" + period;
}

std::string CompiledProgram::period(LimitPeriod p, TimePoint time) const {
  if (p == LimitPeriod::ever) return "ever";
  const auto local = impl_->zone->to_local(time);
  const date::year_month_day ymd{date::floor<date::days>(local)};
  char buf[24];
  if (p == LimitPeriod::day) {
    std::snprintf(buf, sizeof buf, "day:%04d-%02u-%02u", int(ymd.year()), unsigned(ymd.month()),
                  unsigned(ymd.day()));
  } else if (p == LimitPeriod::month) {
    std::snprintf(buf, sizeof buf, "month:%04d-%02u", int(ymd.year()), unsigned(ymd.month()));
  } else {
    // The week starting on Monday that contains the day, named by that Monday.
    const auto day = date::floor<date::days>(local);
    const date::weekday w{day};
    const auto monday = day - date::days{(w.c_encoding() + 6) % 7};
    const date::year_month_day m{monday};
    std::snprintf(buf, sizeof buf, "week:%04d-%02u-%02u", int(m.year()), unsigned(m.month()),
                  unsigned(m.day()));
  }
  return buf;
}

std::optional<engine::TimePoint> CompiledProgram::default_expiry(engine::TimePoint from) const {
  if (!impl_->points_expire) return std::nullopt;
  return add(impl_->zone, from, *impl_->points_expire);
}

engine::TimePoint CompiledProgram::after(const Duration& duration, engine::TimePoint from) const {
  return add(impl_->zone, from, duration);
}

engine::TimePoint CompiledProgram::window_start(const Duration& window,
                                                engine::TimePoint end) const {
  Duration back = window;
  back.amount = -back.amount;
  return add(impl_->zone, end, back);
}

CompileResult compile(const Source& source, const Limits& limits) {
  CompileResult out;
  auto parsed = parse(source, limits);
  out.diagnostics = std::move(parsed.diagnostics);
  auto checked = check(parsed.file, limits);
  for (auto& d : checked.diagnostics) out.diagnostics.push_back(std::move(d));
  std::stable_sort(out.diagnostics.begin(), out.diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return a.range.begin.offset < b.range.begin.offset;
                   });
  const bool errors =
      std::any_of(out.diagnostics.begin(), out.diagnostics.end(),
                  [](const Diagnostic& d) { return d.severity == Severity::error; });
  if (errors) return out;

  auto program = std::shared_ptr<CompiledProgram>(new CompiledProgram());
  program->file_ = std::make_unique<ProgramFile>(std::move(parsed.file));
  program->impl_ = std::make_shared<CompiledProgram::Impl>();
  program->currency_digits_ = checked.currency_digits;
  const auto& file = *program->file_;
  auto& impl = *program->impl_;
  if (file.program) {
    if (file.program->currency) program->currency_ = *file.program->currency;
    if (file.program->timezone) program->timezone_ = *file.program->timezone;
    impl.points_expire = file.program->points_expire;
  }
  impl.zone = date::locate_zone(program->timezone_);
  for (const auto& t : file.tiers) {
    CompiledProgram::Tier tier;
    tier.id = t.id;
    tier.name = t.name.value_or(t.id);
    tier.threshold = t.threshold.value_or(0);
    if (t.window) tier.window = *t.window;
    if (t.multiplier) tier.multiplier = *t.multiplier;
    program->tiers_.push_back(std::move(tier));
  }
  std::stable_sort(program->tiers_.begin(), program->tiers_.end(),
                   [](const auto& a, const auto& b) { return a.threshold < b.threshold; });
  // Amounts in minor units of the currency (the checker refused more digits than it has).
  auto minor = [&](const Decimal& d) {
    std::int64_t m = d.mantissa;
    for (int s = d.scale; s < program->currency_digits_; ++s) m *= 10;
    for (int s = d.scale; s > program->currency_digits_; --s) m /= 10;
    return m;
  };
  for (const auto& c : file.coupons) {
    CompiledProgram::CouponTemplate t;
    t.id = c.id;
    t.name = c.name.value_or(c.id);
    if (c.discount_amount) t.terms.amount_minor = minor(*c.discount_amount);
    if (c.discount_percent) {
      std::int64_t e4 = c.discount_percent->mantissa;
      for (int s = c.discount_percent->scale; s < 4; ++s) e4 *= 10;
      t.terms.percent_e4 = e4;
    }
    if (c.max_discount) t.terms.max_minor = minor(*c.max_discount);
    if (c.min_total) t.terms.min_total_minor = minor(*c.min_total);
    t.terms.channels = c.channels;
    if (c.valid) t.valid = *c.valid;
    t.uses = static_cast<int>(std::min<std::int64_t>(c.uses.value_or(1), 1'000'000));
    program->coupons_[t.id] = std::move(t);
  }
  for (const auto& r : file.rewards) {
    program->rewards_.push_back(
        {r.id, r.name.value_or(r.id), r.coupon.value_or(""), r.cost.value_or(0), r.stock});
  }
  ExprCompiler compiler;
  std::map<std::string, std::size_t> amount_slots;
  auto at_midnight = [&](const Date& d) {
    const auto local = date::local_days{date::year{d.year} / d.month / d.day};
    return date::floor<std::chrono::microseconds>(impl.zone->to_sys(local, date::choose::earliest));
  };
  for (const auto& c : file.campaigns) {
    CompiledProgram::Impl::CompiledCampaign cc;
    cc.source = &c;
    if (c.active && c.active->from) cc.from = at_midnight(*c.active->from);
    if (c.active && c.active->until) cc.until = at_midnight(*c.active->until);
    for (const auto& r : c.rules) {
      CompiledProgram::Impl::CompiledRule cr;
      cr.source = &r;
      if (r.when) {
        cr.condition = compiler.predicate(r.when.get());
        std::vector<const Expr*> conjuncts;
        std::function<void(const Expr*)> walk = [&](const Expr* e) {
          if (e->kind == ExprKind::binary && e->text == "and") {
            walk(e->args[0].get());
            walk(e->args[1].get());
          } else {
            conjuncts.push_back(e);
          }
        };
        walk(r.when.get());
        for (const Expr* c : conjuncts) {
          if (c->kind != ExprKind::binary || c->text != "==") continue;
          const Expr* a = c->args[0].get();
          const Expr* b = c->args[1].get();
          if (a->kind == ExprKind::string) std::swap(a, b);
          if (b->kind != ExprKind::string || a->kind != ExprKind::field ||
              a->args[0]->kind != ExprKind::name)
            continue;
          int field = -1;
          if (a->args[0]->text == "event" && a->text == "channel") field = 0;
          if (a->args[0]->text == "member" && a->text == "tier") field = 1;
          if (field < 0) continue;
          auto& table = impl.guard_literals[static_cast<std::size_t>(field)];
          auto it = std::find(table.begin(), table.end(), b->text);
          if (it == table.end()) it = table.insert(table.end(), b->text);
          cr.guards.emplace_back(field, static_cast<int>(it - table.begin()));
        }
      }
      for (const auto& a : r.then) {
        CompiledProgram::Impl::CompiledAction ca;
        ca.source = &a;
        if (a.amount) {
          ca.amount = compiler.compile(a.amount.get());
          const auto key = format(*a.amount);
          auto it = amount_slots.find(key);
          if (it == amount_slots.end()) it = amount_slots.emplace(key, amount_slots.size()).first;
          ca.amount_slot = it->second;
        }
        for (const auto& part : a.message) {
          ca.message.emplace_back(part.text, part.expr ? compiler.compile(part.expr.get()) : Fn{});
        }
        cr.actions.push_back(std::move(ca));
      }
      cc.rules.push_back(std::move(cr));
    }
    impl.campaigns.push_back(std::move(cc));
  }
  for (const auto& c : file.challenges) {
    CompiledProgram::Impl::CompiledChallenge cc;
    cc.source = &c;
    if (c.when) cc.condition = compiler.predicate(c.when.get());
    if (c.goal && c.goal->expr) cc.goal_value = compiler.compile(c.goal->expr.get());
    for (const auto& a : c.then) {
      CompiledProgram::Impl::CompiledAction ca;
      ca.source = &a;
      if (a.amount) ca.amount = compiler.compile(a.amount.get());
      for (const auto& part : a.message)
        ca.message.emplace_back(part.text, part.expr ? compiler.compile(part.expr.get()) : Fn{});
      cc.actions.push_back(std::move(ca));
    }
    CompiledProgram::Challenge info;
    info.id = c.id;
    info.name = c.name.value_or(c.id);
    info.within = c.within;
    info.repeatable = c.repeatable;
    if (c.active && c.active->from) info.from = at_midnight(*c.active->from);
    if (c.active && c.active->until) info.until = at_midnight(*c.active->until);
    if (c.goal) {
      const auto& g = *c.goal;
      info.goal.kind = static_cast<engine::challenges::GoalKind>(static_cast<int>(g.kind));
      info.streak_unit = g.streak_unit;
      // Sums are kept in the currency's minor digits: exact for money, amounts and counts.
      info.scale = g.kind == GoalKind::sum ? program->currency_digits_ : 0;
      i128 target = g.target.mantissa;
      for (int d = g.target.scale; d < info.scale; ++d) target *= 10;
      for (int d = g.target.scale; d > info.scale; --d) target = (target + 9) / 10;
      info.goal.target = target > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(target);
    }
    // The canonical text of what counts and of the goal, from the formatter.
    const auto text = format(c);
    std::size_t begin = 0;
    while (begin < text.size()) {
      auto end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();
      auto line = text.substr(begin, end - begin);
      begin = end + 1;
      line.erase(0, line.find_first_not_of(' '));
      if (line.rfind("goal ", 0) == 0) info.goal_text = line.substr(5);
      if (line.rfind("on ", 0) == 0) info.on_text = line.substr(3);
      if (line.rfind("when ", 0) == 0) info.on_text += " " + line;
    }
    info.digest = engine::sha256_hex(info.on_text + "\n" + info.goal_text).substr(0, 16);
    program->challenges_.push_back(std::move(info));
    impl.challenges.push_back(std::move(cc));
  }
  impl.memo_slots = compiler.memo_slots();
  impl.amount_slots = amount_slots.size();
  std::stable_sort(impl.campaigns.begin(), impl.campaigns.end(), [](const auto& a, const auto& b) {
    return a.source->priority.value_or(0) > b.source->priority.value_or(0);
  });
  out.program = std::move(program);
  return out;
}

namespace {

bool trigger_matches(const Trigger& t, const Event& e) {
  switch (t.kind) {
    case TriggerKind::purchase:
      return e.type == "purchase";
    case TriggerKind::refund:
      return e.type == "refund";
    case TriggerKind::visit:
      return e.type == "visit";
    case TriggerKind::signup:
      return e.type == "signup";
    case TriggerKind::custom:
      return e.type == t.custom;
    case TriggerKind::challenge_completed:
      return e.type == "challenge_completed";
    case TriggerKind::tier_changed:
      return e.type == "tier_changed";
  }
  return false;
}

// The effect of one action for this event (none: an award of 0 or less). Throws RuntimeError.
// `cached` holds the award amount shared by rules with the same amount text (may be null).
std::optional<Effect> run_action(const CompiledProgram::Impl& impl,
                                 const CompiledProgram::Impl::CompiledAction& ca,
                                 const Context& ctx, const Event& event,
                                 std::optional<Value>* cached, int currency_digits) {
  const auto& a = *ca.source;
  // Effect kinds follow the action kinds one to one.
  static_assert(static_cast<int>(EffectKind::notify) == static_cast<int>(ActionKind::notify));
  Effect e;
  e.kind = static_cast<EffectKind>(a.kind);
  e.target = a.target;  // coupon, challenge, badge, tag
  switch (a.kind) {
    case ActionKind::award: {
      std::optional<Value> local;
      auto& slot = cached ? *cached : local;
      if (!slot) slot = ca.amount(ctx);  // a runtime error is not cached
      const auto& v = *slot;
      if (v.kind != Value::Kind::integer) throw RuntimeError("award needs a whole number");
      if (v.i <= 0) return std::nullopt;
      e.points = v.i;
      if (a.pending) e.pending_until = add(impl.zone, event.time, *a.pending);
      if (a.expiring)
        e.expires_at = add(impl.zone, event.time, *a.expiring);
      else if (impl.points_expire)
        e.expires_at = add(impl.zone, event.time, *impl.points_expire);
      break;
    }
    case ActionKind::progress_challenge: {
      e.points = 1;
      if (ca.amount) {
        const auto v = ca.amount(ctx);
        if (v.kind != Value::Kind::integer) throw RuntimeError("progress needs a whole number");
        e.points = v.i;
      }
      break;
    }
    case ActionKind::notify:
      for (const auto& [text, fn] : ca.message)
        e.message += fn ? to_text(fn(ctx), currency_digits) : text;
      break;
    case ActionKind::issue_coupon:
    case ActionKind::grant_badge:
    case ActionKind::tag:
    case ActionKind::untag:
      break;
  }
  return e;
}

// What one evaluation reads: the event, the member, the zone, and the memo of shared conditions.
struct Scope {
  Scope(const CompiledProgram::Impl& impl, const Event& event, const MemberSnapshot& member)
      : memo(impl.memo_slots, -1) {
    ctx.event = &event;
    ctx.member = &member;
    ctx.zone = impl.zone;
    ctx.memo = &memo;
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  std::vector<signed char> memo;
  Context ctx;
};

}  // namespace

Evaluation CompiledProgram::evaluate(const Event& event, const MemberSnapshot& member,
                                     const Counters& counters, bool with_trace) const {
  Evaluation out;
  Scope scope(*impl_, event, member);
  auto& ctx = scope.ctx;
  out.effects.reserve(16);
  // The event's kind and channel, compared per rule as an enum and a string_view.
  TriggerKind event_kind = TriggerKind::custom;
  for (auto k :
       {TriggerKind::purchase, TriggerKind::refund, TriggerKind::visit, TriggerKind::signup,
        TriggerKind::challenge_completed, TriggerKind::tier_changed}) {
    if (trigger_matches(Trigger{k, "", {}}, event)) event_kind = k;
  }
  // The event's channel and the member's tier as ids into the program's guard tables (-1: none).
  int event_ids[2] = {-1, -1};
  const std::string* guard_values[2] = {&event.channel, &member.tier};
  for (std::size_t f = 0; f < 2; ++f) {
    const auto& table = impl_->guard_literals[f];
    const auto it = std::find(table.begin(), table.end(), *guard_values[f]);
    if (it != table.end()) event_ids[f] = static_cast<int>(it - table.begin());
  }
  std::vector<std::optional<Value>> amounts(impl_->amount_slots);
  std::optional<std::int64_t> exclusive_priority;
  std::string exclusive_campaign;
  // Trace entries are built only when asked for: the event path needs the effects alone.
  auto note = [&](const CampaignDecl& c, const RuleDecl& r, const char* reason,
                  const auto& detail) {
    if (with_trace) out.trace.push_back({c.id, r.id, false, reason, detail()});
  };

  for (const auto& cc : impl_->campaigns) {
    const auto& c = *cc.source;
    const auto priority = c.priority.value_or(0);
    auto skip_all = [&](const char* reason, const auto& detail) {
      for (const auto& r : c.rules) note(c, r, reason, detail);
    };
    if (exclusive_priority && priority < *exclusive_priority) {
      skip_all("exclusive",
               [&] { return "campaign \"" + exclusive_campaign + "\" is exclusive and fired"; });
      continue;
    }
    if (!counters.paused.empty() && counters.paused.count(c.id)) {
      skip_all("inactive", [] { return std::string("the campaign is paused"); });
      continue;
    }
    if ((cc.from && event.time < *cc.from) || (cc.until && event.time >= *cc.until)) {
      skip_all("inactive", [&] { return "not active at " + engine::format_rfc3339(event.time); });
      continue;
    }
    if (!c.channels.empty() &&
        std::find(c.channels.begin(), c.channels.end(), event.channel) == c.channels.end()) {
      skip_all("channel", [&] {
        return "channel '" + event.channel + "' is not among this campaign's channels";
      });
      continue;
    }
    bool campaign_fired = false;
    for (const auto& cr : cc.rules) {
      const auto& r = *cr.source;
      if (!r.on || (r.on->kind == TriggerKind::custom ? r.on->custom != event.type
                                                      : r.on->kind != event_kind)) {
        note(c, r, "trigger",
             [&] { return "the rule is for another kind of event than '" + event.type + "'"; });
        continue;
      }
      if (!cr.guards.empty() &&
          !std::all_of(cr.guards.begin(), cr.guards.end(),
                       [&](const auto& g) { return event_ids[g.first] == g.second; })) {
        note(c, r, "condition", [] { return std::string("the 'when' condition is false"); });
        continue;
      }
      const std::size_t mark_on_entry = out.effects.size();
      try {
        if (cr.condition && !cr.condition(ctx)) {
          note(c, r, "condition", [] { return std::string("the 'when' condition is false"); });
          continue;
        }
        // Limits: counts so far plus what this evaluation already added.
        std::string limit_hit;
        std::vector<std::string> keys;
        if (!r.limits.empty()) keys.reserve(r.limits.size());
        for (const auto& l : r.limits) {
          auto key = limit_key(c.id, r.id, l, member.id, period(l.period, event.time));
          const auto stored = counters.firings.count(key) ? counters.firings.at(key) : 0;
          const auto added = out.firings_added.count(key) ? out.firings_added.at(key) : 0;
          if (stored + added >= l.count) limit_hit = key;
          keys.push_back(std::move(key));
        }
        if (!limit_hit.empty()) {
          note(c, r, "limit", [&] { return "the limit is reached (" + limit_hit + ")"; });
          continue;
        }
        // Actions, computed before anything is committed: a failure leaves no effect.
        // Written straight into the output; taken back if the rule does not fire after all.
        const std::size_t mark = out.effects.size();
        std::int64_t awarded = 0;
        for (const auto& ca : cr.actions) {
          auto e = run_action(*impl_, ca, ctx, event,
                              ca.amount ? &amounts[ca.amount_slot] : nullptr, currency_digits_);
          if (!e) continue;
          e->campaign = c.id;
          e->rule = r.id;
          if (e->kind == EffectKind::award && __builtin_add_overflow(awarded, e->points, &awarded))
            throw RuntimeError("integer overflow in award");
          out.effects.push_back(std::move(*e));
        }
        if (awarded > 0) {
          if (c.budget) {
            const auto used =
                (counters.budget_used.count(c.id) ? counters.budget_used.at(c.id) : 0) +
                (out.budget_added.count(c.id) ? out.budget_added.at(c.id) : 0);
            if (used + awarded > *c.budget) {
              note(c, r, "budget", [&] {
                return std::to_string(awarded) + " points would exceed the budget (" +
                       std::to_string(*c.budget - used) + " left)";
              });
              out.effects.resize(mark);
              continue;
            }
          }
          if (c.budget) {
            out.budget_added[c.id] += awarded;
            out.budget_caps[c.id] = *c.budget;
          }
        }
        for (std::size_t k = 0; k < keys.size(); ++k) {
          out.firings_added[keys[k]] += 1;
          out.limit_caps[keys[k]] = r.limits[k].count;
        }
        if (with_trace) out.trace.push_back({c.id, r.id, true, "fired", ""});
        campaign_fired = true;
      } catch (const RuntimeError& e) {
        out.effects.resize(mark_on_entry);
        note(c, r, "runtime_error", [&] { return std::string(e.what()); });
      }
    }
    if (campaign_fired && c.exclusive && !exclusive_priority) {
      exclusive_priority = priority;
      exclusive_campaign = c.id;
    }
  }
  return out;
}

// ---- challenges ----

const CompiledProgram::Challenge* CompiledProgram::challenge(const std::string& id) const {
  for (const auto& c : challenges_) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

namespace {

// A goal expression's value in the challenge's terms (see ChallengeHit). Throws RuntimeError.
void goal_value(const CompiledProgram::Challenge& info, const Value& v, int currency_digits,
                ChallengeHit& hit) {
  if (info.goal.kind == engine::challenges::GoalKind::distinct) {
    if (v.kind == Value::Kind::missing) throw RuntimeError("the goal's value is missing");
    hit.key = to_text(v, currency_digits);
    return;
  }
  if (v.kind != Value::Kind::integer && v.kind != Value::Kind::decimal)
    throw RuntimeError("sum needs a number");
  const Decimal d = as_decimal(v);
  i128 m = d.mantissa;
  if (d.scale > info.scale) m /= pow10(d.scale - info.scale);  // toward zero: never more
  if (d.scale < info.scale) m *= pow10(info.scale - d.scale);
  hit.amount = to_integer(m);
}

}  // namespace

std::vector<ChallengeHit> CompiledProgram::challenge_hits(const Event& event,
                                                          const MemberSnapshot& member) const {
  std::vector<ChallengeHit> out;
  if (impl_->challenges.empty()) return out;
  Scope scope(*impl_, event, member);
  auto& ctx = scope.ctx;
  for (std::size_t i = 0; i < impl_->challenges.size(); ++i) {
    const auto& cc = impl_->challenges[i];
    const auto& info = challenges_[i];
    const auto& c = *cc.source;
    if (!c.on || !trigger_matches(*c.on, event)) continue;
    if ((info.from && event.time < *info.from) || (info.until && event.time >= *info.until))
      continue;
    try {
      if (cc.condition && !cc.condition(ctx)) continue;
      ChallengeHit hit;
      hit.challenge = info.id;
      if (cc.goal_value) goal_value(info, cc.goal_value(ctx), currency_digits_, hit);
      if (hit.amount <= 0 && info.goal.kind == engine::challenges::GoalKind::sum) continue;
      out.push_back(std::move(hit));
    } catch (const RuntimeError&) {
      // Does not count, like a rule that does not fire.
    }
  }
  return out;
}

std::optional<ChallengeHit> CompiledProgram::explicit_hit(const std::string& challenge,
                                                          std::int64_t by, const Event& event,
                                                          const MemberSnapshot& member) const {
  for (std::size_t i = 0; i < impl_->challenges.size(); ++i) {
    const auto& info = challenges_[i];
    if (info.id != challenge) continue;
    if ((info.from && event.time < *info.from) || (info.until && event.time >= *info.until))
      return std::nullopt;
    if (by <= 0) return std::nullopt;
    ChallengeHit hit;
    hit.challenge = info.id;
    hit.amount = by;
    if (info.goal.kind == engine::challenges::GoalKind::sum) {
      // `by` counts in whole units of the goal (points, currency units).
      i128 m = by;
      m *= pow10(info.scale);
      if (m > INT64_MAX) return std::nullopt;
      hit.amount = static_cast<std::int64_t>(m);
    }
    if (info.goal.kind == engine::challenges::GoalKind::distinct) {
      Scope scope(*impl_, event, member);
      auto& ctx = scope.ctx;
      try {
        goal_value(info, impl_->challenges[i].goal_value(ctx), currency_digits_, hit);
      } catch (const RuntimeError&) {
        return std::nullopt;
      }
      hit.amount = 1;
    }
    return hit;
  }
  return std::nullopt;
}

std::vector<Effect> CompiledProgram::completion_effects(const std::string& challenge,
                                                        const Event& event,
                                                        const MemberSnapshot& member) const {
  std::vector<Effect> out;
  for (const auto& cc : impl_->challenges) {
    if (cc.source->id != challenge) continue;
    Scope scope(*impl_, event, member);
    auto& ctx = scope.ctx;
    // Each action on its own: one that fails at run time (overflow) is left out, the others
    // still happen (the challenge is completed either way).
    for (const auto& ca : cc.actions) {
      try {
        auto e = run_action(*impl_, ca, ctx, event, nullptr, currency_digits_);
        if (!e) continue;
        e->challenge = challenge;
        out.push_back(std::move(*e));
      } catch (const RuntimeError&) {
      }
    }
  }
  return out;
}

std::optional<CompiledProgram::CalendarPeriod> CompiledProgram::calendar_period(
    const std::string& kind, engine::TimePoint time) const {
  const auto day = date::floor<date::days>(impl_->zone->to_local(time));
  const date::year_month_day ymd{day};
  date::local_days first{}, next{};
  if (kind == "day") {
    first = day;
    next = day + date::days{1};
  } else if (kind == "week") {
    first = day - date::days{(date::weekday{day}.c_encoding() + 6) % 7};
    next = first + date::days{7};
  } else if (kind == "month") {
    first = date::local_days{ymd.year() / ymd.month() / 1};
    next = date::local_days{(ymd.year() / ymd.month() + date::months{1}) / 1};
  } else if (kind == "year") {
    first = date::local_days{ymd.year() / 1 / 1};
    next = date::local_days{(ymd.year() + date::years{1}) / 1 / 1};
  } else {
    return std::nullopt;
  }
  const date::year_month_day f{first};
  char buf[32];
  if (kind == "month")
    std::snprintf(buf, sizeof buf, "month:%04d-%02u", int(f.year()), unsigned(f.month()));
  else if (kind == "year")
    std::snprintf(buf, sizeof buf, "year:%04d", int(f.year()));
  else
    std::snprintf(buf, sizeof buf, "%s:%04d-%02u-%02u", kind.c_str(), int(f.year()),
                  unsigned(f.month()), unsigned(f.day()));
  const auto instant = [&](date::local_days d) {
    return date::floor<std::chrono::microseconds>(impl_->zone->to_sys(d, date::choose::earliest));
  };
  return CalendarPeriod{buf, instant(first), instant(next)};
}

std::int64_t CompiledProgram::period_index(Unit unit, engine::TimePoint time) const {
  const auto day = date::floor<date::days>(impl_->zone->to_local(time)).time_since_epoch().count();
  if (unit != Unit::weeks) return day;
  // 1970-01-01 was a Thursday: day + 3 counts from the Monday before it.
  const auto shifted = day + 3;
  return shifted >= 0 ? shifted / 7 : -((-shifted + 6) / 7);
}

}  // namespace circolo::rules
