// compile(): parse, check, and build the compiled program (tiers, coupons, rewards, campaigns
// and challenges), its expressions compiled once.
#include "circolo/rules/evaluate.hpp"

#include <date/tz.h>

#include <algorithm>
#include <functional>
#include <set>

#include "circolo/engine/digest.hpp"
#include "circolo/rules/format.hpp"
#include "circolo/rules/parser.hpp"
#include "expr_compiler.hpp"
#include "program_impl.hpp"

namespace circolo::rules {

using detail::ExprCompiler;
using detail::Fn;
using detail::i128;

bool CompiledProgram::names_event_type(const std::string& type) const {
  return std::binary_search(event_types_.begin(), event_types_.end(), type);
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
  const auto compile_action = [&](const Action& a) {
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
    return ca;
  };
  for (const auto& c : file.campaigns) {
    CompiledProgram::Impl::CompiledCampaign cc;
    cc.source = &c;
    if (c.active && c.active->from) cc.from = at_midnight(*c.active->from);
    if (c.active && c.active->until) cc.until = at_midnight(*c.active->until);
    if (c.experiment && c.experiment->control) {
      const auto e2 = [](const Decimal& d) {
        std::int64_t v = d.mantissa;
        for (int k = d.scale; k < 2; ++k) v *= 10;
        return v;
      };
      std::vector<engine::experiments::Arm> variants;
      for (const auto& v : c.experiment->variants)
        variants.push_back({v.id, e2(v.share.value_or(Decimal{}))});
      cc.arms = engine::experiments::arms(e2(*c.experiment->control), variants);
      cc.arm_actions.resize(cc.arms.size());
      for (std::size_t i = 0; i < c.experiment->variants.size(); ++i) {
        for (const auto& a : c.experiment->variants[i].then)
          cc.arm_actions[i + 1].push_back(compile_action(a));
      }
    }
    program->campaigns_.push_back(
        {c.id, c.name.value_or(c.id), cc.from, cc.until, c.budget, cc.arms});
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
      for (const auto& a : r.then) cr.actions.push_back(compile_action(a));
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
  if (file.referral) {
    const auto& r = *file.referral;
    CompiledProgram::Referral info;
    info.name = r.name.value_or("");
    // The canonical text of what qualifies, from the formatter.
    const auto text = format(r);
    const std::string qualify = "\n  qualify on ";
    if (const auto at = text.find(qualify); at != std::string::npos) {
      const auto begin = at + qualify.size();
      info.on_text = text.substr(begin, text.find('\n', begin) - begin);
    }
    info.within = r.within;
    info.hold = r.hold;
    if (r.limit) {
      info.limit = r.limit->count;
      info.limit_period = r.limit->period;
    }
    if (r.when) impl.referral_condition = compiler.predicate(r.when.get());
    program->referral_ = std::move(info);
  }
  for (const auto& s : file.segments) {
    CompiledProgram::Segment info;
    info.id = s.id;
    info.name = s.name.value_or(s.id);
    info.is_static = s.is_static;
    if (s.when) {
      info.condition = format(*s.when);
      impl.segment_conditions.push_back(compiler.predicate(s.when.get()));
    } else {
      impl.segment_conditions.emplace_back();
    }
    info.digest =
        engine::sha256_hex((s.is_static ? "static\n" : "when\n") + info.condition).substr(0, 16);
    program->segments_.push_back(std::move(info));
  }
  std::set<std::string> custom_types;
  for (const auto& e : file.events) {
    custom_types.insert(e.id);
    if (e.interest) {
      double w = static_cast<double>(e.interest->mantissa);
      for (int s = 0; s < e.interest->scale; ++s) w /= 10;
      program->interest_weights_[e.id] = w;
    }
  }
  // Built-in and Circolo-made types, and their case variants, are never custom types that
  // touchpoints may send (`on event "tier_changed"` does not make it sendable).
  auto named = [&](const std::optional<Trigger>& on) {
    if (on && on->kind == TriggerKind::custom && builtin_type_like(on->custom).empty())
      custom_types.insert(on->custom);
  };
  for (const auto& c : file.challenges) named(c.on);
  for (const auto& c : file.campaigns) {
    for (const auto& r : c.rules) named(r.on);
  }
  if (file.referral) named(file.referral->on);
  program->event_types_.assign(custom_types.begin(), custom_types.end());
  impl.memo_slots = compiler.memo_slots();
  impl.amount_slots = amount_slots.size();
  std::stable_sort(impl.campaigns.begin(), impl.campaigns.end(), [](const auto& a, const auto& b) {
    return a.source->priority.value_or(0) > b.source->priority.value_or(0);
  });
  out.program = std::move(program);
  return out;
}

}  // namespace circolo::rules
