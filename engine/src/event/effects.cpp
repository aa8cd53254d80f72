// The effects of the rules on the plan: awards, tags, notifications, coupons, badges.
#include <algorithm>
#include <cmath>

#include "circolo/engine/money.hpp"
#include "circolo/engine/segments.hpp"
#include "work.hpp"

namespace circolo::engine::event {

using nlohmann::json;

json effect_json(const rules::Effect& e) {
  json out;
  switch (e.kind) {
    case rules::EffectKind::award:
      out = {{"type", "points_awarded"},
             {"points", e.points},
             {"pending_until",
              e.pending_until ? json(format_rfc3339(*e.pending_until)) : json(nullptr)},
             {"expires_at", e.expires_at ? json(format_rfc3339(*e.expires_at)) : json(nullptr)}};
      break;
    case rules::EffectKind::issue_coupon:
      out = {{"type", "coupon_issued"}, {"coupon", e.target}};
      break;
    case rules::EffectKind::progress_challenge:
      out = {{"type", "challenge_progress"}, {"challenge", e.target}, {"by", e.points}};
      break;
    case rules::EffectKind::grant_badge:
      out = {{"type", "badge_granted"}, {"badge", e.target}};
      break;
    case rules::EffectKind::tag:
      out = {{"type", "tag_added"}, {"tag", e.target}};
      break;
    case rules::EffectKind::untag:
      out = {{"type", "tag_removed"}, {"tag", e.target}};
      break;
    case rules::EffectKind::notify:
      out = {{"type", "notification"}, {"message", e.message}};
      break;
  }
  if (e.challenge.empty()) {
    out["campaign"] = e.campaign;
    out["rule"] = e.rule;
  } else {
    out["challenge"] = e.challenge;  // the reward of completing it: no campaign or rule made it
  }
  return out;
}

rules::MemberSnapshot snapshot(const rules::CompiledProgram& program, const MemberState& state,
                               TimePoint now) {
  const auto& m = state.member;
  rules::MemberSnapshot s;
  s.id = m.id;
  s.tier = m.tier.value_or("");
  s.multiplier = rules::Decimal{1, 0};
  for (const auto& t : program.tiers()) {
    if (m.tier && t.id == *m.tier) s.multiplier = t.multiplier;
  }
  s.tags = m.tags;
  s.badges = state.badges;
  s.points = state.balances.available;
  s.lifetime_points = m.lifetime_points;
  s.purchases = m.purchases;
  s.joined = m.joined;
  s.birthday = m.birthday;
  s.attributes = m.attributes;
  // Segments the program declares (one it dropped lingers until the job clears it).
  for (const auto& id : m.segments) {
    if (program.segment(id)) s.segments.push_back(id);
  }
  // The interest profile as it stands before this event (what a rule greets the member with).
  const auto& profile = m.interests;
  const int digits = program.currency_digits();
  s.days_since_purchase = interests::days_since_purchase(profile, now);
  s.preferred_channel = interests::preferred_channel(profile);
  s.preferred_store = interests::preferred_store(profile);
  s.spend_30d = {interests::spend_within(profile, 30, now), digits};
  s.spend_90d = {interests::spend_within(profile, 90, now), digits};
  s.spend_365d = {interests::spend_within(profile, 365, now), digits};
  s.affinity = [&profile](std::string_view kind, const std::string& key) {
    const auto k = kind == "brand"     ? interests::Kind::brand
                   : kind == "product" ? interests::Kind::product
                                       : interests::Kind::category;
    return rules::Decimal{
        static_cast<std::int64_t>(std::llround(interests::affinity(profile, k, key) * 1e4)), 4};
  };
  return s;
}

std::vector<std::string> dynamic_segments(const rules::CompiledProgram& program) {
  std::vector<std::string> out;
  for (const auto& s : program.segments()) {
    if (!s.is_static) out.push_back(s.id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

segments::Update segment_update(const rules::CompiledProgram& program, const MemberState& state,
                                const std::vector<std::string>& evaluated, TimePoint now) {
  std::vector<std::string> holds;
  for (const auto& id : program.segments_of(snapshot(program, state, now), now)) {
    if (std::binary_search(evaluated.begin(), evaluated.end(), id)) holds.push_back(id);
  }
  return segments::update(state.member.segments, evaluated, holds);
}

namespace detail {

void follow_segments(const rules::CompiledProgram& program, const Request& req, Plan& plan) {
  auto& member = plan.state_after.member;
  if (program.segments().empty()) return;
  auto update = segment_update(program, plan.state_after, dynamic_segments(program), req.now);
  if (!update.changed()) return;
  member.segments = update.after;
  plan.member.segments = std::move(update.after);
  if (!req.render) return;
  for (const auto* list : {&update.left, &update.entered}) {
    for (const auto& id : *list) {
      const auto* segment = program.segment(id);
      auto data = segments::event_data(id, segment ? segment->name : id, member.consents, "event");
      data["event_id"] = req.event_id;
      plan.writes.push_back(
          Outgoing{list == &update.left ? "segment.left" : "segment.entered", std::move(data)});
    }
  }
}

void describe_member(Work& w) {
  w.snapshot = snapshot(w.program, w.state, w.request.now);
}

void apply_effects(Work& w, const rules::Evaluation& evaluation) {
  const auto& req = w.request;
  auto& plan = w.plan;
  const bool render = req.render;
  // The effect in the response, or (not rendering) as counted: campaigns' rules' effects only.
  const auto report = [&](const rules::Effect& e) {
    if (render)
      plan.effects.push_back(effect_json(e));
    else if (e.challenge.empty())
      plan.rule_effects.push_back(
          {e.kind, e.campaign, e.rule, e.kind == rules::EffectKind::award ? e.points : 0});
  };
  plan.stopped.insert(plan.stopped.end(), evaluation.stopped.begin(), evaluation.stopped.end());
  for (const auto& x : evaluation.exposures) {
    auto& exposure = plan.experiments[x.campaign];
    exposure.arm = x.arm;
    exposure.withheld_points += x.withheld_points;
    exposure.withheld_coupons += x.withheld_coupons;
  }
  // What an experiment campaign gave (the exposure exists: its rules fired in scope).
  const auto given = [&](const rules::Effect& e) -> ExperimentExposure* {
    if (plan.experiments.empty() || e.campaign.empty()) return nullptr;
    const auto it = plan.experiments.find(e.campaign);
    return it == plan.experiments.end() ? nullptr : &it->second;
  };
  EarnPoints earn;                                 // booked together: one round trip
  std::map<std::string, std::int64_t> not_booked;  // expired on arrival, by campaign
  for (const auto& e : evaluation.effects) {
    switch (e.kind) {
      case rules::EffectKind::award: {
        // An offline event's award may have expired before it arrived: nothing to book, and
        // nothing taken from the campaign's budget.
        if (e.expires_at && *e.expires_at <= req.now) {
          not_booked[e.campaign] += e.points;
          break;
        }
        Award award;
        award.points = e.points;
        award.pending_until = e.pending_until;
        award.expires_at = e.expires_at;
        if (!e.challenge.empty()) {
          award.reason = "challenge:" + e.challenge;  // the reward of completing it
        } else {
          award.campaign = e.campaign;
          award.rule = e.rule;
        }
        if (award.pending_until && *award.pending_until > req.now)
          w.state.balances.pending += e.points;
        else
          w.state.balances.available += e.points;
        w.qualifying_added += e.points;
        earn.awards.push_back(std::move(award));
        w.awarded += e.points;
        if (!e.challenge.empty()) w.challenge_rewards += e.points;
        if (auto* x = given(e)) x->points += e.points;
        report(e);
        break;
      }
      case rules::EffectKind::tag:
      case rules::EffectKind::untag: {
        auto& tags = w.state.member.tags;
        const auto it = std::find(tags.begin(), tags.end(), e.target);
        const bool add = e.kind == rules::EffectKind::tag;
        if (add == (it != tags.end())) break;  // already so: nothing happened
        if (add)
          tags.push_back(e.target);
        else
          tags.erase(it);
        report(e);
        break;
      }
      case rules::EffectKind::notify: {
        // A message to send the member is marketing: it goes out (to the CRM, the push
        // provider, the app's feed) only through the channels the member agreed to, and not at
        // all without one. The event's own answer still carries it: the till or app in front of
        // the member shows it there and then.
        auto channels = consent::notification_channels(w.state.member.consents);
        if (render && !channels.empty())
          plan.writes.push_back(Outgoing{"notification",
                                         {{"message", e.message},
                                          {"channels", std::move(channels)},
                                          {"campaign", e.campaign},
                                          {"rule", e.rule},
                                          {"event_id", req.event_id}}});
        report(e);
        break;
      }
      case rules::EffectKind::issue_coupon: {
        // A code of the template, the member's from now on (coupon.issued goes out with it).
        const auto& templates = w.program.coupon_templates();
        const auto t = templates.find(e.target);
        if (t == templates.end())
          throw Refused{
              {"unknown_coupon_template", "the active program has no coupon \"" + e.target + "\""}};
        CouponIssue issue;
        issue.coupon = t->second.id;
        issue.name = t->second.name;
        issue.digits = w.program.currency_digits();
        issue.terms = t->second.terms;
        issue.expires_at = w.program.after(t->second.valid, req.now);
        issue.uses = t->second.uses;
        issue.effect_index = plan.effects.size();
        if (render) {
          auto effect = effect_json(e);
          effect["code"] = nullptr;  // drawn when applied
          effect["expires_at"] = format_rfc3339(issue.expires_at);
          plan.effects.push_back(std::move(effect));
        } else {
          report(e);
        }
        plan.issues.push_back(std::move(issue));
        if (auto* x = given(e)) ++x->coupons;
        break;
      }
      case rules::EffectKind::progress_challenge:
        // Counted with the event's own contributions (settle_challenges), which reports it.
        if (e.points > 0) w.explicit_progress.push_back({e.target, e.points, ""});
        break;
      case rules::EffectKind::grant_badge: {
        auto& badges = w.state.badges;
        if (std::find(badges.begin(), badges.end(), e.target) != badges.end())
          break;  // held already: granting again changes nothing
        badges.push_back(e.target);
        plan.writes.push_back(GrantBadge{e.target});
        if (render) {
          json data{{"badge", e.target}, {"event_id", req.event_id}};
          if (!e.challenge.empty()) data["challenge"] = e.challenge;
          plan.writes.push_back(Outgoing{"badge.granted", std::move(data)});
        }
        report(e);
        break;
      }
    }
  }
  if (!earn.awards.empty()) plan.writes.push_back(std::move(earn));
  for (const auto& [key, n] : evaluation.firings_added) {
    const auto counter = limit_counter(key);
    w.counters.firings[key] += n;
    // The member's own limits go on its row (locked: the evaluation's check was exact).
    if (member_counter(counter, w.state.member.id)) {
      w.state.member.limits[counter] += n;
      w.limits_changed = true;
      continue;
    }
    plan.counter_increments[counter] += n;
    plan.counter_caps[counter] = evaluation.limit_caps.at(key);
  }
  for (const auto& [campaign, added] : evaluation.budget_added) {
    const auto booked = not_booked.find(campaign);
    const std::int64_t n = added - (booked == not_booked.end() ? 0 : booked->second);
    if (n <= 0) continue;
    plan.counter_increments[budget_counter(campaign)] += n;
    plan.counter_caps[budget_counter(campaign)] = evaluation.budget_caps.at(campaign);
    w.counters.budget_used[campaign] += n;
  }
}

}  // namespace detail
}  // namespace circolo::engine::event
