// The expression compiler's general value path: every expression to a function that computes
// its value; names and fields are resolved here, once.
#include "expr_compiler.hpp"

#include <date/tz.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace circolo::rules::detail {

namespace {

using ItemField = Value (*)(const Item&);
ItemField item_field(const std::string& name) {
  if (name == "sku") return [](const Item& i) { return Value::string(i.sku); };
  if (name == "category") return [](const Item& i) { return Value::string(i.category); };
  if (name == "brand") return [](const Item& i) { return Value::string(i.brand); };
  if (name == "quantity") return [](const Item& i) { return Value::integer(i.quantity); };
  if (name == "price") return [](const Item& i) { return Value::decimal(i.price); };
  return nullptr;
}

bool is_literal(const Expr& e) {
  static const std::vector<std::string> kWeekdays{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
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

Context scope(const Context& c, const Value& element) {
  Context inner = c;
  inner.item = element.kind == Value::Kind::item ? element.item : nullptr;
  inner.element = &element;
  return inner;
}

Value attribute(const Attributes& a, const std::string& name) {
  auto it = a.find(name);
  return it == a.end() ? Value{} : Value::of(it->second);
}

}  // namespace

Fn ExprCompiler::compile(const Expr* e) {
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
      return [operand](const Context& c) { return arithmetic("-", Value::integer(0), operand(c)); };
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

Fn ExprCompiler::name(const Expr* e) {
  static const std::vector<std::string> kWeekdays{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
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

Fn ExprCompiler::field(const Expr* e) {
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
    if (f == "subtotal") return [](const Context& c) { return Value::decimal(c.event->subtotal); };
    if (f == "discount") return [](const Context& c) { return Value::decimal(c.event->discount); };
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
    if (f == "segments")
      return [](const Context& c) { return list_of_strings(c.member->segments); };
    if (f == "points") return [](const Context& c) { return Value::integer(c.member->points); };
    if (f == "lifetime_points")
      return [](const Context& c) { return Value::integer(c.member->lifetime_points); };
    if (f == "purchases")
      return [](const Context& c) { return Value::integer(c.member->purchases); };
    if (f == "joined") return [](const Context& c) { return Value::time(c.member->joined); };
    if (f == "days_since_purchase") {
      return [](const Context& c) {
        const auto& d = c.member->days_since_purchase;
        return d ? Value::integer(*d) : Value{};
      };
    }
    if (f == "preferred_channel" || f == "preferred_store") {
      const bool channel = f == "preferred_channel";
      return [channel](const Context& c) {
        const auto& v = channel ? c.member->preferred_channel : c.member->preferred_store;
        return v ? Value::string(*v) : Value{};
      };
    }
    if (f == "spend_30d")
      return [](const Context& c) { return Value::decimal(c.member->spend_30d); };
    if (f == "spend_90d")
      return [](const Context& c) { return Value::decimal(c.member->spend_90d); };
    if (f == "spend_365d")
      return [](const Context& c) { return Value::decimal(c.member->spend_365d); };
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

Fn ExprCompiler::binary(const Expr* e) {
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

Fn ExprCompiler::call(const Expr* e) {
  const auto& f = e->text;
  std::vector<Fn> args;
  if (f == "member.affinity") {
    const std::string kind = e->args[0]->text;  // a literal (the checker saw to it)
    auto key = compile(e->args[1].get());
    return [kind, key](const Context& c) {
      const auto k = key(c);
      if (!c.member->affinity || k.kind != Value::Kind::string) return Value::decimal({0, 4});
      return Value::decimal(c.member->affinity(kind, std::string(k.s)));
    };
  }
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

}  // namespace circolo::rules::detail
