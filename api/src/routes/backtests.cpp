// Backtests: POST /v1/admin/backtests starts one as a background job (a draft program replayed
// on the recorded events of a period), GET /v1/admin/backtests/{id} follows it, DELETE cancels
// it. The replay is engine::backtest; the events come from db::backtests; here only the job.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <atomic>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include "circolo/api/app.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/api/reports.hpp"
#include "circolo/db/backtests.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const Access kAdmin = Access::only({Role::admin});

// The jobs running on this instance: their progress and cancellation.
struct Running {
  std::atomic<long long> done{0}, total{-1};
  std::atomic<bool> cancel{false};
};
class Jobs {
 public:
  std::shared_ptr<Running> start(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto job = std::make_shared<Running>();
    jobs_[id] = job;
    return job;
  }
  std::shared_ptr<Running> find(const std::string& id) {
    std::lock_guard lock(mutex_);
    const auto it = jobs_.find(id);
    return it == jobs_.end() ? nullptr : it->second;
  }
  void end(const std::string& id) {
    std::lock_guard lock(mutex_);
    jobs_.erase(id);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Running>> jobs_;
};

json figures_json(const engine::backtest::Figures& f) {
  return {{"firings", f.firings},
          {"members", static_cast<long long>(f.members.size())},
          {"points_awarded", f.points},
          {"coupons_issued", f.coupons},
          {"limit_refusals", f.limit_refusals},
          {"budget_refusals", f.budget_refusals}};
}

// Draft beside actual, for every key either side has.
json side_by_side(const std::map<std::string, engine::backtest::Figures>& draft,
                  const std::map<std::string, engine::backtest::Figures>& actual, const char* key) {
  std::set<std::string> keys;
  for (const auto& [k, _] : draft) keys.insert(k);
  for (const auto& [k, _] : actual) keys.insert(k);
  json out = json::array();
  const engine::backtest::Figures none;
  for (const auto& k : keys) {
    const auto d = draft.find(k), a = actual.find(k);
    out.push_back({{key, k},
                   {"draft", figures_json(d == draft.end() ? none : d->second)},
                   {"actual", figures_json(a == actual.end() ? none : a->second)}});
  }
  return out;
}

json result_json(const engine::backtest::Result& r) {
  auto campaigns = side_by_side(r.draft.campaigns, r.actual.campaigns, "campaign");
  for (auto& c : campaigns) {
    const std::string id = c["campaign"];
    const auto ran_out = r.draft.budget_ran_out.find(id);
    c["draft"]["budget_ran_out_on"] =
        ran_out == r.draft.budget_ran_out.end() ? json(nullptr) : json(ran_out->second);
    const auto budget = r.budgets.find(id);
    c["draft"]["budget"] = budget == r.budgets.end() ? json(nullptr) : json(budget->second);
    json used = json::array();
    if (const auto days = r.draft.budget_used.find(id); days != r.draft.budget_used.end()) {
      for (const auto& [day, n] : days->second) used.push_back({{"date", day}, {"used", n}});
    }
    c["draft"]["budget_used_by_day"] = std::move(used);
  }
  auto rules = side_by_side(r.draft.rules, r.actual.rules, "rule");
  for (auto& rule : rules) {
    const std::string key = rule["rule"];
    const auto slash = key.find('/');
    rule["campaign"] = key.substr(0, slash);
    rule["rule"] = key.substr(slash + 1);
  }
  json tiers = json::object();
  for (const auto& [tier, n] : r.tiers) tiers[tier.empty() ? "(none)" : tier] = n;
  return {
      {"events", r.events},
      {"replayed_before", r.replayed_before},
      {"refused", r.refused},
      {"total", {{"draft", figures_json(r.draft.total)}, {"actual", figures_json(r.actual.total)}}},
      {"campaigns", campaigns},
      {"rules", rules},
      {"days", side_by_side(r.draft.days, r.actual.days, "date")},
      {"channels", side_by_side(r.draft.channels, r.actual.channels, "channel")},
      {"draft_tiers", tiers},
      {"draft_liability", r.liability}};
}

json job_json(const db::backtests::Job& j, const std::shared_ptr<Running>& running) {
  long long done = j.events_done;
  std::optional<long long> total = j.events_total;
  if (running) {
    done = running->done.load();
    if (const auto t = running->total.load(); t >= 0) total = t;
  }
  json out{
      {"id", j.id},
      {"status", j.status},
      {"from", engine::format_rfc3339(j.from)},
      {"until", engine::format_rfc3339(j.until)},
      {"created_at", engine::format_rfc3339(j.created_at)},
      {"finished_at", j.finished_at ? json(engine::format_rfc3339(*j.finished_at)) : json(nullptr)},
      {"events_done", done},
      {"events_total", total ? json(*total) : json(nullptr)},
      {"progress", total && *total > 0 ? json(static_cast<double>(done) / *total)
                                       : json(j.status == "running" ? 0.0 : 1.0)},
      {"result", j.result ? *j.result : json(nullptr)},
      {"error", j.error ? json(*j.error) : json(nullptr)}};
  return out;
}

// The job itself, on a database thread for its whole run (one long read-only transaction).
asio::awaitable<void> run_job(Services& s, std::shared_ptr<Jobs> jobs,
                              std::shared_ptr<const rules::CompiledProgram> draft,
                              db::backtests::Job job, std::shared_ptr<Running> running) {
  std::string status = "done";
  std::optional<json> result;
  std::optional<std::string> error;
  try {
    const bool completed = co_await s.db.run([&](soci::session& sql) {
      engine::backtest::Replay replay(*draft, job.from, job.until);
      const bool finished = db::backtests::replay(
          sql, replay, job.until,
          [&](long long done, long long total) {
            running->done = done;
            running->total = total;
          },
          [&] { return running->cancel.load(); },
          [&s] { return s.metrics.in_flight() > 0; });  // live traffic (a poll is brief)
      if (finished) result = result_json(replay.result());
      return finished;
    });
    if (!completed) status = "cancelled";
  } catch (const std::exception& e) {
    spdlog::error("backtest {} failed: {}", job.id, e.what());
    status = "failed";
    error = "the backtest failed; see the server log";
  }
  try {
    const auto now = s.clock.now();
    co_await s.db.run([&](soci::session& sql) {
      return db::backtests::finish(sql, job.id, status, result, error, running->done.load(),
                                   running->total.load() >= 0
                                       ? std::optional<long long>(running->total.load())
                                       : std::nullopt,
                                   now);
    });
  } catch (const std::exception& e) {
    spdlog::error("backtest {} could not be recorded as {}: {}", job.id, status, e.what());
  }
  jobs->end(job.id);
}

}  // namespace

void register_backtest_routes(App& app) {
  auto& s = app.services();
  auto& r = app.router();
  auto jobs = std::make_shared<Jobs>();

  r.add({http::verb::post, "/v1/admin/backtests", kAdmin,
         [&s, jobs](Request& request) -> asio::awaitable<Response> {
           const auto body = request.json_body();
           if (!body.is_object() || !body.contains("source") || !body["source"].is_string())
             throw ApiError(http::status::unprocessable_entity, "validation_failed",
                            "the body needs the draft program's source",
                            {{"source", "is required: the program's text"}});
           std::vector<FieldError> errors;
           for (const auto& [field, _] : body.items()) {
             if (field != "source" && field != "from" && field != "until")
               errors.push_back({field, "is not a known field"});
           }
           for (const char* field : {"from", "until"}) {
             if (body.contains(field) && !body[field].is_string())
               errors.push_back({field, "must be a date (2026-11-01) or an RFC 3339 time"});
           }
           if (!errors.empty()) throw_validation(std::move(errors));
           auto compiled = rules::compile({"draft.rules", body["source"].get<std::string>()});
           if (!compiled.program) {
             co_return program_invalid(request, compiled.diagnostics,
                                       "the draft program has errors; nothing was started");
           }
           const auto now = s.clock.now();
           const auto text = [&](const char* f) -> std::optional<std::string> {
             if (!body.contains(f)) return std::nullopt;
             return body[f].get<std::string>();
           };
           const auto* draft = compiled.program.get();
           db::backtests::Job job;
           job.until = report_bound(text("until"), now, draft, "until");
           job.from =
               report_bound(text("from"), job.until - std::chrono::hours(24 * 30), draft, "from");
           if (job.from >= job.until)
             throw ApiError(http::status::unprocessable_entity, "validation_failed",
                            "from must be before until", {{"from", "must be before until"}});
           job.id = new_id("bt");
           job.status = "running";
           job.source = body["source"].get<std::string>();
           job.created_by = request.caller().key_id;
           job.created_at = now;
           co_await s.db.run([&](soci::session& sql) {
             db::backtests::create(sql, job);
             return 0;
           });
           auto running = jobs->start(job.id);
           asio::co_spawn(co_await asio::this_coro::executor,
                          run_job(s, jobs, compiled.program, job, running), asio::detached);
           auto response = json_response(http::status::accepted, job_json(job, running));
           response.headers.emplace_back("Location", "/v1/admin/backtests/" + job.id);
           co_return response;
         }});

  r.add({http::verb::get, "/v1/admin/backtests/{id}", kAdmin,
         [&s, jobs](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           auto job =
               co_await s.db.run([&](soci::session& sql) { return db::backtests::find(sql, id); });
           if (!job)
             throw ApiError(http::status::not_found, "unknown_backtest", "no backtest " + id);
           co_return json_response(http::status::ok, job_json(*job, jobs->find(id)));
         }});

  r.add({http::verb::delete_, "/v1/admin/backtests/{id}", kAdmin,
         [&s, jobs](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           // Stops at once on this instance; a job running on another stops with its next
           // page of events never mattering: its row says cancelled, its result is dropped.
           auto running = jobs->find(id);
           if (running) running->cancel = true;
           const auto now = s.clock.now();
           auto job = co_await s.db.run([&](soci::session& sql) {
             auto found = db::backtests::find(sql, id);
             if (found && found->status == "running") {
               db::backtests::finish(sql, id, "cancelled", std::nullopt, std::nullopt,
                                     running ? running->done.load() : found->events_done,
                                     found->events_total, now);
               found = db::backtests::find(sql, id);
             }
             return found;
           });
           if (!job)
             throw ApiError(http::status::not_found, "unknown_backtest", "no backtest " + id);
           co_return json_response(http::status::ok, job_json(*job, nullptr));
         }});
}

}  // namespace circolo::api
