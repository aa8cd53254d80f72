// Gamification: GET /v1/challenges, GET /v1/members/{id}/challenges, GET
// /v1/leaderboards/points, POST /v1/admin/tiers/review, and the wallet's parts of them.
#include "circolo/api/gamification.hpp"

#include "circolo/engine/event/decide.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <span>

#include "circolo/api/auth.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/gamification.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/engine/leaderboard.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/engine/tiers.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const Access kAdmin = Access::only({Role::admin});
const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});

std::string unit_name(rules::Unit unit) {
  switch (unit) {
    case rules::Unit::hours:
      return "hours";
    case rules::Unit::days:
      return "days";
    case rules::Unit::weeks:
      return "weeks";
    case rules::Unit::months:
      return "months";
  }
  return "days";
}

json amount_json(const rules::CompiledProgram::Challenge& c, long long value) {
  if (c.scale == 0) return value;
  return engine::format_money({value, c.scale});
}

bool active_at(const rules::CompiledProgram::Challenge& c, engine::TimePoint now) {
  return (!c.from || *c.from <= now) && (!c.until || now < *c.until);
}

json challenge_json(const rules::CompiledProgram::Challenge& c) {
  static const char* kinds[] = {"count", "sum", "distinct", "streak"};
  return {
      {"id", c.id},
      {"name", c.name},
      {"counts", c.on_text},
      {"goal",
       {{"kind", kinds[static_cast<int>(c.goal.kind)]},
        {"target", amount_json(c, c.goal.target)},
        {"text", c.goal_text}}},
      {"within", c.within ? json(std::to_string(c.within->amount) + " " + unit_name(c.within->unit))
                          : json(nullptr)},
      {"active_from", c.from ? json(engine::format_rfc3339(*c.from)) : json(nullptr)},
      {"active_until", c.until ? json(engine::format_rfc3339(*c.until)) : json(nullptr)},
      {"repeatable", c.repeatable}};
}

void require_known_member(soci::session& sql, const std::string& id) {
  if (!db::members::find(sql, id))
    throw ApiError(http::status::not_found, "unknown_member", "no member " + id);
}

// Members' ranks come from a copy of each period's scores kept in memory (a hundred thousand
// members are a few hundred kilobytes): counting the members above a score in PostgreSQL reads
// up to the whole board per request. A copy older than kRankSnapshotAge is still answered from
// while one request's background task reads a fresh one, so under steady traffic ranks are
// about a second behind (never more than kRankSnapshotMaxAge). The top entries come from the same
// copy (its first kLeaders scores with their members: the table has no rank index, migration
// 036), with who is listed and the names read live; the member's own points are always live.
constexpr auto kRankSnapshotAge = std::chrono::seconds(1);
// Older than this (no one asked for a while), a copy is read again before answering.
constexpr auto kRankSnapshotMaxAge = std::chrono::seconds(10);
// Leaders a snapshot keeps: the longest page (100) and room for members who opted out.
constexpr int kLeaders = 200;

class RankSnapshots {
 public:
  struct Snapshot {
    std::vector<long long> descending;
    std::vector<engine::leaderboard::Leader> leaders;  // the first kLeaders, opted out or not
    std::chrono::steady_clock::time_point taken;
  };
  // The period's snapshot (null if none yet) and whether the caller should read a fresh one
  // (true for one caller at a time).
  std::pair<std::shared_ptr<const Snapshot>, bool> get(const std::string& period) {
    std::lock_guard lock(mutex_);
    auto& slot = periods_[period];
    const bool stale = !slot.snapshot ||
                       std::chrono::steady_clock::now() - slot.snapshot->taken > kRankSnapshotAge;
    const bool refresh = stale && !slot.loading;
    if (refresh) slot.loading = true;
    if (slot.snapshot &&
        std::chrono::steady_clock::now() - slot.snapshot->taken > kRankSnapshotMaxAge)
      return {nullptr, refresh};  // too old to answer from: the caller reads the board now
    return {slot.snapshot, refresh};
  }
  // For a caller waiting on another's first read: the copy, if one is now usable, and whether
  // the read is still under way.
  std::pair<std::shared_ptr<const Snapshot>, bool> peek(const std::string& period) {
    std::lock_guard lock(mutex_);
    auto& slot = periods_[period];
    const bool usable = slot.snapshot && std::chrono::steady_clock::now() - slot.snapshot->taken <=
                                             kRankSnapshotMaxAge;
    return {usable ? slot.snapshot : nullptr, slot.loading};
  }
  void put(const std::string& period, std::shared_ptr<const Snapshot> snapshot) {
    std::lock_guard lock(mutex_);
    auto& slot = periods_[period];
    slot.loading = false;
    if (snapshot) slot.snapshot = std::move(snapshot);
    // Periods of the past are not asked for again: keep the map small.
    if (periods_.size() > 64) {
      for (auto it = periods_.begin(); it != periods_.end();) {
        it = it->first != period && !it->second.loading ? periods_.erase(it) : std::next(it);
      }
    }
  }

 private:
  struct Slot {
    std::shared_ptr<const Snapshot> snapshot;
    bool loading = false;
  };
  std::mutex mutex_;
  std::map<std::string, Slot> periods_;
};

asio::awaitable<std::shared_ptr<const RankSnapshots::Snapshot>> load_snapshot(
    Services& s, RankSnapshots& ranks, const std::string& period) {
  std::shared_ptr<const RankSnapshots::Snapshot> fresh;
  try {
    auto snapshot = co_await s.db.run([&](soci::session& sql) {
      return RankSnapshots::Snapshot{db::gamification::scores(sql, period),
                                     db::gamification::leaders(sql, period, kLeaders),
                                     std::chrono::steady_clock::now()};
    });
    fresh = std::make_shared<const RankSnapshots::Snapshot>(std::move(snapshot));
  } catch (...) {
    ranks.put(period, nullptr);  // the next request tries again
    throw;
  }
  ranks.put(period, fresh);
  co_return fresh;
}

std::shared_ptr<const rules::CompiledProgram> active_program(const ProgramStore& store) {
  const auto active = store.for_request();
  if (!active || !active->program)
    throw ApiError(http::status::conflict, "no_program", "no program is active yet");
  return active->program;
}

}  // namespace

json member_challenges_json(soci::session& sql, const rules::CompiledProgram& program,
                            const std::string& member_id, engine::TimePoint now) {
  std::vector<std::string> ids;
  for (const auto& c : program.challenges()) ids.push_back(c.id);
  const auto states = db::gamification::load(sql, member_id, ids);
  json out = json::array();
  for (const auto& c : program.challenges()) {
    const auto it = states.find(c.id);
    long long value = 0;
    int completions = 0;
    std::optional<engine::TimePoint> completed_at;
    if (it != states.end()) {
      completions = it->second.completions;
      completed_at = it->second.completed_at;
      // Progress toward another goal (an older program version) does not count toward this one.
      if (it->second.digest == c.digest) {
        const auto window =
            c.within ? std::optional(program.window_start(*c.within, now)) : std::nullopt;
        const auto unit = c.streak_unit;
        value = engine::challenges::evaluate(
                    c.goal, it->second.contributions, window, now,
                    [&program, unit](engine::TimePoint t) { return program.period_index(unit, t); })
                    .value;
      }
    }
    const bool done_for_good = completions > 0 && !c.repeatable;
    if (!done_for_good && !active_at(c, now) && completions == 0 && value == 0) continue;
    if (done_for_good) value = c.goal.target;
    out.push_back({{"id", c.id},
                   {"name", c.name},
                   {"progress", amount_json(c, std::min<long long>(value, c.goal.target))},
                   {"goal", amount_json(c, c.goal.target)},
                   {"completed", completions > 0},
                   {"completions", completions},
                   {"completed_at",
                    completed_at ? json(engine::format_rfc3339(*completed_at)) : json(nullptr)},
                   {"repeatable", c.repeatable}});
  }
  return out;
}

json badges_json(soci::session& sql, const std::string& member_id) {
  json out = json::array();
  for (const auto& b : db::gamification::badges_of(sql, member_id))
    out.push_back({{"badge", b.badge}, {"granted_at", engine::format_rfc3339(b.granted_at)}});
  return out;
}

json tier_progress_json(soci::session& sql, const rules::CompiledProgram& program,
                        const std::optional<std::string>& tier, const std::string& member_id,
                        engine::TimePoint now) {
  const auto& tiers = program.tiers();
  if (!tier && tiers.empty()) return nullptr;  // a program without tiers: no tier to show
  json out{{"id", tier ? json(*tier) : json(nullptr)}, {"name", nullptr}, {"progress", nullptr}};
  long current = -1;
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    if (tier && tiers[i].id == *tier) {
      current = static_cast<long>(i);
      out["name"] = tiers[i].name;
    }
  }
  if (tier && current < 0) out["name"] = *tier;  // a tier the program no longer has
  const auto next = static_cast<std::size_t>(current + 1);
  if (next >= tiers.size()) return out;  // at the top
  const auto points = db::gamification::qualifying_points(
                          sql, member_id, {program.window_start(tiers[next].window, now)})
                          .at(0);
  out["progress"] = {{"points", points},
                     {"next_tier", tiers[next].id},
                     {"needed", std::max<long long>(tiers[next].threshold - points, 0)}};
  return out;
}

asio::awaitable<TierReview> review_tiers(Services& services, const ProgramStore& store,
                                         std::optional<std::string> member_id) {
  TierReview report;
  const auto active = store.for_request();
  if (!active || !active->program) co_return report;
  const auto program = active->program;
  const auto entry = engine::event::entry_tier(*program);
  constexpr int kBatch = 200;
  std::string after;
  for (;;) {
    std::vector<std::string> ids;
    if (member_id) {
      ids = {*member_id};
    } else {
      ids = co_await services.db.run([&](soci::session& sql) {
        return db::gamification::members_in_tiers(sql, entry, after, kBatch);
      });
    }
    for (const auto& id : ids) {
      const auto now = services.clock.now();
      const bool lowered = co_await services.db.run([&](soci::session& sql) {
        soci::transaction tx(sql);
        std::vector<engine::TimePoint> since;
        for (const auto& t : program->tiers())
          since.push_back(program->window_start(t.window, now));
        auto state = db::events::lock_member_state(sql, id, now, since);
        if (!state || state->member.merged_into || !state->member.tier) return false;
        // Lower only (events raise): the same standing as the event's decision.
        const auto lowered =
            engine::event::lowered_tier(*program, state->member.tier, state->qualifying);
        if (!lowered) return false;
        const auto& to = *lowered;
        db::gamification::set_tier(sql, id, to);
        const json data{{"from", *state->member.tier},
                        {"to", to ? json(*to) : json(nullptr)},
                        {"reason", "review"}};
        db::points::publish(sql, "tier.changed", id, now, data);
        db::TimelineEntry entry_row;
        entry_row.member_id = id;
        entry_row.type = "tier.changed";
        entry_row.channel = "system";
        entry_row.occurred_at = now;
        entry_row.recorded_at = now;
        entry_row.data = data;
        db::members::timeline_append(sql, entry_row);
        tx.commit();
        return true;
      });
      ++report.members;
      if (lowered) ++report.lowered;
    }
    if (member_id || ids.size() < static_cast<std::size_t>(kBatch)) break;
    after = ids.back();
  }
  if (report.lowered > 0 && services.committed) services.committed();
  co_return report;
}

asio::awaitable<long long> purge_leaderboards(Services& services, const ProgramStore& store) {
  const auto active = store.for_request();
  if (!active || !active->program) co_return 0;
  const auto program = active->program;
  const auto now = services.clock.now();
  const auto first_day =
      program->calendar_period("day", program->after({-62, rules::Unit::days, {}}, now))->key;
  const auto first_week =
      program->calendar_period("week", program->after({-53, rules::Unit::weeks, {}}, now))->key;
  co_return co_await services.db.run([&](soci::session& sql) {
    return db::gamification::purge_periods(sql, first_day, first_week);
  });
}

void register_gamification_routes(App& app, const ProgramStore& store) {
  auto& s = app.services();
  auto& r = app.router();
  auto ranks = std::make_shared<RankSnapshots>();

  r.add({http::verb::get, "/v1/challenges", kAnyone,
         [&s, &store](Request&) -> asio::awaitable<Response> {
           const auto active = store.for_request();
           const auto now = s.clock.now();
           json items = json::array();
           // Before any program is applied there are no challenges.
           const auto* all = active && active->program ? &active->program->challenges() : nullptr;
           for (const auto& c : all ? *all : std::vector<rules::CompiledProgram::Challenge>{}) {
             if (active_at(c, now)) items.push_back(challenge_json(c));
           }
           co_return json_response(http::status::ok, {{"items", items}});
         }});

  r.add({http::verb::get, "/v1/members/{id}/challenges", kAnyone,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const auto active = store.for_request();
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             require_known_member(sql, id);
             return json_response(
                 http::status::ok,
                 {{"items", active && active->program
                                ? member_challenges_json(sql, *active->program, id, now)
                                : json::array()},
                  {"badges", badges_json(sql, id)}});
           });
         }});

  r.add({http::verb::get, "/v1/leaderboards/points", kAnyone,
         [&s, &store, ranks](Request& request) -> asio::awaitable<Response> {
           const auto program = active_program(store);
           const auto now = s.clock.now();
           const std::string period = request.query("period").value_or("month");
           static const std::vector<std::string> kPeriods = {"day", "week", "month", "year", "all"};
           const auto at = std::find(kPeriods.begin(), kPeriods.end(), period);
           if (at == kPeriods.end())
             throw ApiError(http::status::bad_request, "invalid_query",
                            "period must be day, week, month, year or all");
           const int limit =
               static_cast<int>(parse_whole_query(request.query("limit"), "limit", 1, 100, 10));
           auto member = request.query("member");
           const auto& caller = request.caller();
           if (caller.role == Role::member) {
             if (member && *member != caller.member_id)
               throw ApiError(http::status::forbidden, "forbidden",
                              "a member token may only ask for its own member's rank");
             member = caller.member_id;
           }
           // The period's name and bounds in the program's time zone.
           std::string key = "all";
           json from = nullptr, until = nullptr;
           if (const auto p = program->calendar_period(period, now)) {
             key = p->key;
             from = engine::format_rfc3339(p->from);
             until = engine::format_rfc3339(p->until);
           }
           // The board and the member's rank: from the snapshot, refreshed in the background
           // when older than a second.
           std::shared_ptr<const RankSnapshots::Snapshot> snapshot;
           {
             const auto got = ranks->get(key);
             snapshot = got.first;
             if (!snapshot && !got.second) {
               // Another request is reading the board: wait for its copy (a burst of requests on
               // a cold board reads it once), or read it here if that read failed.
               asio::steady_timer pause(co_await asio::this_coro::executor);
               for (int waited = 0; !snapshot && waited < 500; ++waited) {
                 pause.expires_after(std::chrono::milliseconds(10));
                 co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
                 const auto [copy, loading] = ranks->peek(key);
                 snapshot = copy;
                 if (!loading) break;
               }
             }
             if (!snapshot) {
               // None yet: read it now.
               snapshot = co_await load_snapshot(s, *ranks, key);
             } else if (got.second) {
               const auto executor = co_await asio::this_coro::executor;
               asio::co_spawn(
                   executor,
                   [&s, ranks, key]() -> asio::awaitable<void> {
                     try {
                       co_await load_snapshot(s, *ranks, key);
                     } catch (const std::exception& e) {
                       spdlog::warn("leaderboard snapshot of {} failed: {}", key, e.what());
                     }
                   },
                   asio::detached);
             }
           }
           co_return co_await s.db.run([&](soci::session& sql) {
             if (member) require_known_member(sql, *member);

             // Listed or not and names as they stand now (for the first leaders, more only when
             // that many opted out); points as of the snapshot.
             const std::span<const engine::leaderboard::Leader> leaders = snapshot->leaders;
             std::map<std::string, db::gamification::Listing> listings;
             const auto listed = [&](const std::string& id) {
               const auto it = listings.find(id);
               return it != listings.end() && it->second.listed;
             };
             std::size_t read = 0;
             for (auto chunk = static_cast<std::size_t>(limit) + 10; read < leaders.size();
                  chunk = leaders.size()) {
               std::vector<std::string> ids;
               for (const auto& l : leaders.subspan(read, std::min(chunk, leaders.size() - read)))
                 ids.push_back(l.member_id);
               listings.merge(db::gamification::listings(sql, ids));
               read += ids.size();
               if (std::count_if(leaders.begin(), leaders.begin() + read,
                                 [&](const auto& l) { return listed(l.member_id); }) >= limit)
                 break;
             }
             const auto shown = engine::leaderboard::top_shown(
                 leaders.first(read),
                 read == leaders.size() && static_cast<int>(leaders.size()) < kLeaders, limit,
                 listed);
             json entries = json::array();
             if (shown) {
               for (const auto& e : *shown)
                 entries.push_back({{"rank", e.rank},
                                    {"member_id", e.member_id},
                                    {"name", listings.at(e.member_id).name.value_or("-")},
                                    {"points", e.points}});
             } else {  // too many of the leaders opted out: the board as it stands
               for (const auto& e : db::gamification::top(sql, key, limit))
                 entries.push_back({{"rank", e.rank},
                                    {"member_id", e.member_id},
                                    {"name", e.name.value_or("-")},
                                    {"points", e.points}});
             }
             json out{{"period", period},
                      {"from", from},
                      {"until", until},
                      {"entries", entries},
                      {"member", nullptr}};
             if (member) {
               const auto points = db::gamification::points_of(sql, key, *member);
               // With no points it ranks after everyone who earned some.
               const auto rank = points > 0
                                     ? engine::leaderboard::rank_of(snapshot->descending, points)
                                     : static_cast<long long>(snapshot->descending.size()) + 1;
               out["member"] = {{"member_id", *member}, {"rank", rank}, {"points", points}};
             }
             return json_response(http::status::ok, out);
           });
         }});

  r.add({http::verb::post, "/v1/admin/tiers/review", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto member = request.query("member");
           if (member) {
             co_await s.db.run([&](soci::session& sql) { require_known_member(sql, *member); });
           }
           const auto report = co_await review_tiers(s, store, member);
           co_return json_response(http::status::ok,
                                   {{"members", report.members}, {"lowered", report.lowered}});
         }});
}

}  // namespace circolo::api
