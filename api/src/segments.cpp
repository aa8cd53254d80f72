// The segment job: memberships evaluated again for everyone after a program change, and on a
// schedule for what time alone changes.
#include "circolo/api/segments.hpp"

#include <algorithm>

#include "circolo/api/app.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/segments.hpp"
#include "circolo/engine/event/decide.hpp"

namespace circolo::api {

namespace {

constexpr int kBatch = 500;
constexpr std::chrono::seconds kLease{60};

// What the next run evaluates: the segments whose digest changed (a static one only when it was
// dynamic before: a new list starts empty and its uploads must stay), and those dropped.
struct Due {
  std::string reason;
  std::vector<std::string> evaluated;          // sorted
  std::map<std::string, std::string> digests;  // of every declared segment, stored after
  std::vector<std::string> removed;
};

std::optional<Due> due(const rules::CompiledProgram& program,
                       const std::map<std::string, std::string>& stored,
                       const std::optional<db::segments::Run>& last_run, engine::TimePoint now,
                       std::chrono::seconds refresh) {
  Due d;
  d.reason = "program";
  for (const auto& s : program.segments()) {
    d.digests[s.id] = s.digest;
    const auto it = stored.find(s.id);
    if (it != stored.end() && it->second == s.digest) continue;
    if (s.is_static && it == stored.end()) continue;
    d.evaluated.push_back(s.id);
  }
  for (const auto& [id, digest] : stored) {
    if (!program.segment(id)) {
      d.removed.push_back(id);
      d.evaluated.push_back(id);
    }
  }
  const bool digests_differ = [&] {
    if (stored.size() != d.digests.size()) return true;
    return !std::equal(stored.begin(), stored.end(), d.digests.begin());
  }();
  if (d.evaluated.empty() && digests_differ) {
    // Only new static segments: nothing to evaluate, their digests to store.
    d.reason = "program";
    return d;
  }
  if (d.evaluated.empty()) {
    d.evaluated = engine::event::dynamic_segments(program);
    if (d.evaluated.empty()) return std::nullopt;
    if (last_run && now - last_run->started_at < refresh) return std::nullopt;
    d.reason = "schedule";
  }
  std::sort(d.evaluated.begin(), d.evaluated.end());
  return d;
}

}  // namespace

namespace {

asio::awaitable<SegmentRunReport> run_once(Services& services, const ProgramStore& store,
                                           const std::string& holder,
                                           std::chrono::seconds refresh) {
  SegmentRunReport report;
  const auto active = store.for_request();
  if (!active || !active->program) co_return report;
  const auto program = active->program;
  auto now = services.clock.now();
  const auto plan = co_await services.db.run([&](soci::session& sql) -> std::optional<Due> {
    // No segment declared now or evaluated before: nothing to do, and no lease to write.
    const auto stored = db::segments::definitions(sql);
    if (program->segments().empty() && stored.empty()) return std::nullopt;
    // Any run counts as a refresh: the schedule starts again after a program's run.
    auto d = due(*program, stored, db::segments::latest_run(sql), now, refresh);
    if (!d || !db::segments::take_lease(sql, holder, now, kLease)) return std::nullopt;
    return d;
  });
  if (!plan) co_return report;
  report.ran = true;
  report.reason = plan->reason;
  long long run = 0;
  if (!plan->evaluated.empty()) {
    run = co_await services.db.run([&](soci::session& sql) {
      db::segments::abandon_unfinished(sql, now);
      return db::segments::start_run(sql, plan->reason, plan->evaluated,
                                     db::segments::active_members(sql), now);
    });
  }
  std::string after;
  while (!plan->evaluated.empty()) {
    // A new program meanwhile: this run stops (its definitions unsaved), the next one starts
    // from what the new program changed.
    if (const auto current = store.for_request(); !current || current->version != active->version)
      co_return report;
    now = services.clock.now();
    const auto batch = co_await services.db.run([&](soci::session& sql) {
      soci::transaction tx(sql);
      if (!db::segments::take_lease(sql, holder, now, kLease))
        throw std::runtime_error("the segment job's lease was lost");
      const auto members = db::segments::lock_batch(sql, after, kBatch, now);
      std::vector<db::segments::Change> changes;
      long long entered = 0, left = 0;
      for (const auto& state : members) {
        // Ids the program does not declare (left by an event decided on an older program, or
        // an upload just before a drop) go too.
        auto evaluated = plan->evaluated;
        for (const auto& id : state.member.segments) {
          if (!program->segment(id)) evaluated.push_back(id);
        }
        std::sort(evaluated.begin(), evaluated.end());
        evaluated.erase(std::unique(evaluated.begin(), evaluated.end()), evaluated.end());
        const auto update = engine::event::segment_update(*program, state, evaluated, now);
        if (!update.changed()) continue;
        db::segments::Change change{state.member.id, update.after, {}};
        for (const auto* list : {&update.left, &update.entered}) {
          for (const auto& id : *list) {
            const auto* segment = program->segment(id);
            change.events.emplace_back(
                list == &update.left ? "segment.left" : "segment.entered",
                engine::segments::event_data(id, segment ? segment->name : id,
                                             state.member.consents, plan->reason));
          }
        }
        entered += static_cast<long long>(update.entered.size());
        left += static_cast<long long>(update.left.size());
        changes.push_back(std::move(change));
      }
      db::segments::save_changes(sql, changes, now);
      report.members += static_cast<long long>(members.size());
      report.entered += entered;
      report.left += left;
      const bool last = members.size() < static_cast<std::size_t>(kBatch);
      db::segments::progress_run(sql, run, report.members, report.entered, report.left,
                                 last ? std::optional(now) : std::nullopt);
      if (last) db::segments::save_definitions(sql, plan->digests, plan->removed, now);
      tx.commit();
      return std::pair{members.empty() ? std::string() : members.back().member.id, last};
    });
    if (report.entered + report.left > 0 && services.committed)
      services.committed();  // events written: the publisher sends them now
    if (batch.second) break;
    after = batch.first;
  }
  if (plan->evaluated.empty()) {
    co_await services.db.run([&](soci::session& sql) {
      db::segments::save_definitions(sql, plan->digests, plan->removed, now);
    });
  }
  co_return report;
}

}  // namespace

asio::awaitable<SegmentRunReport> run_segment_job(Services& services, const ProgramStore& store,
                                                  const std::string& holder,
                                                  std::chrono::seconds refresh) {
  std::exception_ptr failed;
  SegmentRunReport report;
  try {
    report = co_await run_once(services, store, holder, refresh);
  } catch (...) {
    failed = std::current_exception();
  }
  // The lease goes back after every run, and after a failed one (a deadlock, the database away):
  // the next tick, on any instance, starts again rather than waiting a minute.
  if (report.ran || failed) {
    try {
      co_await services.db.run(
          [&](soci::session& sql) { db::segments::release_lease(sql, holder); });
    } catch (const std::exception&) {
    }
  }
  if (failed) std::rethrow_exception(failed);
  co_return report;
}

}  // namespace circolo::api
