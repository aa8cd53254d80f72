// Challenges: what an event counts toward, progress, and completion with its rewards.
#include <algorithm>

#include "circolo/engine/money.hpp"
#include "work.hpp"

namespace circolo::engine::event::detail {

namespace {

using nlohmann::json;

json progress_value(const rules::CompiledProgram::Challenge& c, std::int64_t value) {
  if (c.scale == 0) return value;
  return format_money({value, c.scale});
}

// The state's row: contributions are rows of their own (NewContribution), not copied along.
SaveChallenge save(const challenges::State& state) {
  SaveChallenge out;
  out.state.challenge = state.challenge;
  out.state.digest = state.digest;
  out.state.round = state.round;
  out.state.completions = state.completions;
  out.state.completed_at = state.completed_at;
  return out;
}

}  // namespace

// The member's row lock serialises its events (db/), so two events never both complete the
// same round.
void settle_challenges(Work& w, const rules::Event& event,
                       const std::vector<std::string>& touched) {
  const auto& program = w.program;
  const auto& req = w.request;
  auto& plan = w.plan;
  struct Counted {
    rules::ChallengeHit hit;
    bool explicit_progress = false;
  };
  std::vector<Counted> hits;
  for (auto& hit : program.challenge_hits(event, w.snapshot)) hits.push_back({std::move(hit)});
  for (const auto& asked : w.explicit_progress) {
    if (auto hit = program.explicit_hit(asked.challenge, asked.amount, event, w.snapshot))
      hits.push_back({std::move(*hit), true});
  }
  w.explicit_progress.clear();
  if (hits.empty() && touched.empty()) return;

  for (const auto& info : program.challenges()) {
    const auto& id = info.id;
    const bool hit =
        std::any_of(hits.begin(), hits.end(), [&](const auto& h) { return h.hit.challenge == id; });
    const bool refunded = std::find(touched.begin(), touched.end(), id) != touched.end();
    if (!hit && !refunded) continue;
    auto& state = w.state.challenges[id];
    bool changed = false;  // the state row needs writing (contributions are rows of their own)
    if (state.challenge.empty()) {
      state.challenge = id;
      state.digest = info.digest;
      changed = true;
    }
    if (!info.repeatable && state.completions > 0) continue;  // done for good
    if (state.digest != info.digest) {
      // A new program version changed the goal or what counts: progress starts again.
      state.digest = info.digest;
      ++state.round;
      state.contributions.clear();
      changed = true;
    }
    const auto window =
        info.within ? std::optional(program.window_start(*info.within, req.now)) : std::nullopt;
    const auto unit = info.streak_unit;
    const auto progress_now = [&] {
      return challenges::evaluate(
          info.goal, state.contributions, window, req.now,
          [&program, unit](TimePoint t) { return program.period_index(unit, t); });
    };
    const auto before = progress_now().value;
    for (const auto& [h, explicit_progress] : hits) {
      if (h.challenge != id) continue;
      NewContribution c;
      c.challenge = id;
      c.digest = state.digest;
      c.round = state.round;
      c.explicit_progress = explicit_progress;
      // A touchpoint's clock a little ahead: the event counts now, not in a moment.
      c.at = std::min(event.time, req.now);
      c.amount = h.amount;
      c.key = h.key;
      plan.contributions.push_back(c);
      state.contributions.push_back({c.at, h.amount, h.key, req.event_id});
    }
    const auto progress = progress_now();
    // Reported when it moved (a refund's take-back is reported as it is): an event that counts
    // without changing anything (a channel already seen, a week already in the streak) is quiet.
    if (progress.value == before && !progress.completed && !refunded) {
      if (changed) plan.writes.push_back(save(state));
      continue;
    }
    if (req.render) {
      const json value = progress_value(info, std::min(progress.value, info.goal.target));
      const json goal = progress_value(info, info.goal.target);
      plan.effects.push_back({{"type", "challenge_progress"},
                              {"challenge", id},
                              {"progress", value},
                              {"goal", goal},
                              {"completed", progress.completed}});
      plan.writes.push_back(Outgoing{
          "challenge.progressed",
          {{"challenge", id}, {"progress", value}, {"goal", goal}, {"event_id", req.event_id}}});
    }
    if (progress.completed) {
      changed = true;
      ++state.completions;
      ++state.round;  // a repeatable challenge starts again; a finished one counts no more
      state.completed_at = req.now;
      state.contributions.clear();
      if (req.render) {
        plan.effects.push_back({{"type", "challenge_completed"},
                                {"challenge", id},
                                {"completions", state.completions}});
        plan.writes.push_back(Outgoing{"challenge.completed",
                                       {{"challenge", id},
                                        {"name", info.name},
                                        {"completions", state.completions},
                                        {"event_id", req.event_id}}});
      }
      rules::Evaluation rewards;
      rewards.effects = program.completion_effects(id, event, w.snapshot);
      apply_effects(w, rewards);
      describe_member(w);
      rules::Event completed;
      completed.type = "challenge_completed";
      completed.channel = event.channel;
      completed.store = event.store;
      completed.time = event.time;
      completed.attributes["challenge"] = id;
      w.derived.push_back(std::move(completed));
    }
    if (changed) plan.writes.push_back(save(state));
  }
}

}  // namespace circolo::engine::event::detail
