// The expression compiler's conditions: direct code for the common shapes of marketing rules,
// and the memo of the conditions that many rules share.
#include "expr_compiler.hpp"

#include <date/tz.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "circolo/rules/format.hpp"

namespace circolo::rules::detail {

namespace {

void collect(const Expr* e, const std::string& op, std::vector<const Expr*>& out) {
  if (e->kind == ExprKind::binary && e->text == op) {
    collect(e->args[0].get(), op, out);
    collect(e->args[1].get(), op, out);
  } else {
    out.push_back(e);
  }
}

bool is_event_items(const Expr* e) {
  return e->kind == ExprKind::field && e->text == "items" && e->args[0]->kind == ExprKind::name &&
         e->args[0]->text == "event";
}

// A string-valued field read without building a Value (nullptr when absent).
using StringField = const std::string* (*)(const Context&);
StringField string_field(const Expr* e) {
  if (e->kind == ExprKind::field && e->args[0]->kind == ExprKind::name) {
    const auto& owner = e->args[0]->text;
    const auto& f = e->text;
    if (owner == "event") {
      if (f == "channel")
        return [](const Context& c) -> const std::string* { return &c.event->channel; };
      if (f == "type") return [](const Context& c) -> const std::string* { return &c.event->type; };
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
      return [](const Context& c) -> const std::string* { return c.item ? &c.item->sku : nullptr; };
    if (n == "brand")
      return
          [](const Context& c) -> const std::string* { return c.item ? &c.item->brand : nullptr; };
  }
  return nullptr;
}

}  // namespace

template <class F>
Pred ExprCompiler::memoised(const Expr* e, F f) {
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

Pred ExprCompiler::predicate(const Expr* e) {
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

}  // namespace circolo::rules::detail
