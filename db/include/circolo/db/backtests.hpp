#pragma once

#include <functional>
#include <optional>
#include <string>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/db/events.hpp"
#include "circolo/engine/backtest.hpp"

// Backtests in the database: the recorded events streamed into a replay from one consistent
// snapshot, and the job's row.
namespace circolo::db::backtests {

// Feeds every event recorded before the replay's `until` into `replay`, in recorded order, from
// one REPEATABLE READ snapshot (run it on a session of its own: it is one long transaction).
// Reads and parses on the calling thread while another replays (the replay is touched by that
// thread only until this returns). `progress(done, total)` after each page; stops early (false)
// when `cancelled()` says so.
// While `live()` says live requests are in flight, the database's share is kept to a twentieth:
// the reader rests nineteen times as long as its last page took the database (the backtest's
// own threads run at idle priority, the database's work for it does not).
bool replay(soci::session& sql, engine::backtest::Replay& replay, engine::TimePoint until,
            const std::function<void(long long, long long)>& progress,
            const std::function<bool()>& cancelled, const std::function<bool()>& live = {});

struct Job {
  std::string id, status, source, created_by;
  engine::TimePoint from{}, until{}, created_at{};
  std::optional<engine::TimePoint> finished_at;
  std::optional<long long> events_total;
  long long events_done = 0;
  std::optional<nlohmann::json> result;
  std::optional<std::string> error;
};
// Records a running job (and forgets those finished more than 30 days ago).
void create(soci::session& sql, const Job& job);
std::optional<Job> find(soci::session& sql, const std::string& id);
// Ends a running job: done (with its result), failed (with an error) or cancelled. False when
// it was not running (cancelled meanwhile).
bool finish(soci::session& sql, const std::string& id, const std::string& status,
            const std::optional<nlohmann::json>& result, const std::optional<std::string>& error,
            long long events_done, std::optional<long long> events_total, engine::TimePoint now);

}  // namespace circolo::db::backtests
