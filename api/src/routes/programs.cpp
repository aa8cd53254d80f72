// The program: POST/GET /v1/admin/program, versions, campaign pause/resume, and simulate.
#include "circolo/api/programs.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/events.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/programs.hpp"
#include "circolo/engine/digest.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/rules/diff.hpp"
#include "circolo/rules/parser.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const Access kAdmin = Access::only({Role::admin});

}  // namespace

Response program_invalid(const Request& request, const std::vector<rules::Diagnostic>& diagnostics,
                         const std::string& detail) {
  Response response = json_response(http::status::unprocessable_entity,
                                    {{"type", "https://circolo.dev/problems/program_invalid"},
                                     {"title", "Unprocessable Entity"},
                                     {"status", 422},
                                     {"code", "program_invalid"},
                                     {"detail", detail},
                                     {"errors", diagnostics_json(diagnostics)},
                                     {"request_id", request.request_id}});
  response.content_type = "application/problem+json";
  return response;
}

std::shared_ptr<const ProgramStore::Active> ProgramStore::current() const {
  std::lock_guard lock(mutex_);
  return active_;
}

std::shared_ptr<const ProgramStore::Active> ProgramStore::for_request() const {
  std::lock_guard lock(mutex_);
  if (!loaded_)
    throw ApiError(http::status::service_unavailable, "not_ready",
                   "this instance is loading the active program; retry shortly");
  return active_;
}

bool ProgramStore::loaded() const {
  std::lock_guard lock(mutex_);
  return loaded_;
}

std::uint64_t ProgramStore::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

void ProgramStore::mark_loaded(std::uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (generation == generation_) loaded_ = true;
}

void ProgramStore::invalidate() {
  std::lock_guard lock(mutex_);
  ++generation_;
  loaded_ = false;
}

bool ProgramStore::set(std::shared_ptr<const Active> active) {
  std::lock_guard lock(mutex_);
  // Reloads run concurrently (a notification, the backstop poll, the apply itself): a slower one
  // must not put an older version back.
  if (active_ && active && active->revision < active_->revision) return false;
  active_ = std::move(active);
  return true;
}

json diagnostics_json(const std::vector<rules::Diagnostic>& ds) {
  json out = json::array();
  for (const auto& d : ds) {
    json item{{"line", d.range.begin.line},
              {"column", d.range.begin.column},
              {"severity", d.severity == rules::Severity::error ? "error" : "warning"},
              {"message", d.message}};
    if (!d.suggestion.empty()) item["suggestion"] = d.suggestion;
    out.push_back(std::move(item));
  }
  return out;
}

namespace {

// What a read found: whether it changed the store, and whether it was complete (false: the stored
// version did not compile, and this instance must not claim to have the program).
struct ReadResult {
  bool changed = false;
  bool complete = true;
};

asio::awaitable<ReadResult> read_program(Services& services, ProgramStore& store) {
  struct Read {
    db::programs::State state;
    std::optional<db::programs::Version> full;
    std::vector<std::string> paused;
  };
  const auto current = store.current();  // not for_request: this is the load
  const long long have = current ? current->version : 0;
  auto read = co_await services.db.run([have](soci::session& sql) {
    Read r;
    // The revision first: what is read after it is at least as new, never older.
    r.state = db::programs::state(sql);
    if (r.state.version && *r.state.version != have) r.full = db::programs::active(sql);
    r.paused = db::programs::paused(sql);
    return r;
  });
  const std::set<std::string> paused(read.paused.begin(), read.paused.end());
  const auto& version = read.state.version;
  if (!version) co_return ReadResult{};
  if (current && *version == current->version && current->paused == paused &&
      current->revision >= read.state.revision)
    co_return ReadResult{};
  auto next = std::make_shared<ProgramStore::Active>();
  // The version number comes with the source it was read with (a newer apply may have come
  // between the two reads).
  next->version = read.full ? read.full->version : *version;
  next->revision = read.state.revision;
  next->paused = paused;
  if (current && current->version == next->version) {
    next->program = current->program;
  } else if (read.full) {
    auto compiled = rules::compile(
        {"program-v" + std::to_string(read.full->version) + ".rules", read.full->source});
    // Stored versions were checked on apply; an older binary during a rolling upgrade may not
    // know a newer construct: not loaded, so it answers 503 rather than no_program.
    if (!compiled.program) {
      spdlog::error("program version {} does not compile with this circolod", read.full->version);
      co_return ReadResult{false, false};
    }
    next->program = compiled.program;
  } else {
    co_return ReadResult{false, false};  // a new version, but its source was not read
  }
  co_return ReadResult{store.set(std::move(next)), true};
}

}  // namespace

asio::awaitable<bool> refresh_program(Services& services, ProgramStore& store) {
  const auto generation = store.generation();
  const auto read = co_await read_program(services, store);
  if (read.complete) store.mark_loaded(generation);  // not reached when the read failed
  co_return read.changed;
}

namespace {

// After a committed change this instance picks it up at once; if that read fails, the change
// stands all the same (the notification or the backstop poll reloads it): never answer an
// error for a change that was committed, or the client's retry would apply it twice.
asio::awaitable<void> refresh_after_commit(Services& s, ProgramStore& store) {
  try {
    co_await refresh_program(s, store);
  } catch (const std::exception& e) {
    spdlog::warn("reloading the program after a change failed: {}", e.what());
  }
}

}  // namespace

json tier_json(const ProgramStore& store, const std::optional<std::string>& tier) {
  if (!tier) return nullptr;
  json out{{"id", *tier}, {"name", *tier}, {"progress", nullptr}};
  if (const auto active = store.for_request(); active && active->program) {
    for (const auto& t : active->program->tiers()) {
      if (t.id == *tier) out["name"] = t.name;
    }
  }
  return out;
}

void register_program_routes(App& app, ProgramStore& store) {
  auto& s = app.services();
  auto& r = app.router();

  r.add({http::verb::post, "/v1/admin/program", kAdmin,
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto body = request.json_body();
           std::vector<FieldError> errors;
           if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
           for (const auto& [field, value] : body.items()) {
             if (field != "source" && field != "dry_run")
               errors.push_back({field, "is not a known field"});
           }
           if (!body.contains("source") || !body["source"].is_string())
             errors.push_back({"source", "is required: the program text"});
           if (body.contains("dry_run") && !body["dry_run"].is_boolean())
             errors.push_back({"dry_run", "must be true or false"});
           if (!errors.empty()) throw_validation(std::move(errors));
           const std::string source = body["source"].get<std::string>();
           const bool dry_run = body.value("dry_run", false);
           auto compiled = rules::compile({"program.rules", source});
           if (!compiled.program) {
             co_return program_invalid(request, compiled.diagnostics,
                                       "the program has errors; nothing was applied");
           }
           const auto now = s.clock.now();
           const std::string by = request.caller().key_id;
           const auto warnings = diagnostics_json(compiled.diagnostics);
           auto response = co_await transact(s, request, [&](soci::session& sql) {
             const auto active = db::programs::active(sql);
             std::vector<rules::Change> changes;
             if (active) {
               const auto previous = rules::parse({"active.rules", active->source});
               changes = rules::diff(previous.file, compiled.program->file());
             } else {
               changes = rules::diff(rules::ProgramFile{}, compiled.program->file());
             }
             json list = json::array();
             for (const auto& c : changes) {
               list.push_back({{"change", c.kind == rules::Change::Kind::created   ? "created"
                                          : c.kind == rules::Change::Kind::changed ? "changed"
                                                                                   : "removed"},
                               {"object", c.object},
                               {"id", c.id},
                               {"before", c.before},
                               {"after", c.after}});
             }
             json out{{"dry_run", dry_run},
                      {"changes", list},
                      {"warnings", warnings},
                      {"active_version", active ? json(active->version) : json(nullptr)}};
             if (dry_run) {
               out["version"] = nullptr;
               return json_response(http::status::ok, out);
             }
             out["version"] = db::programs::apply(sql, source, by, now);
             audit(sql, request, now, "program.applied",
                   std::to_string(out["version"].get<long long>()),
                   {{"changes", list.size()}, {"source_sha256", engine::sha256_hex(source)}});
             return json_response(http::status::created, out);
           });
           if (!dry_run && response.status == http::status::created)
             co_await refresh_after_commit(s, store);
           co_return response;
         }});

  r.add({http::verb::get, "/v1/admin/program", kAdmin, [&s](Request&) -> asio::awaitable<Response> {
           auto active =
               co_await s.db.run([](soci::session& sql) { return db::programs::active(sql); });
           if (!active)
             throw ApiError(http::status::not_found, "no_program",
                            "no program has been applied yet");
           co_return json_response(http::status::ok,
                                   {{"version", active->version},
                                    {"source", active->source},
                                    {"created_by", active->created_by},
                                    {"created_at", engine::format_rfc3339(active->created_at)}});
         }});

  r.add({http::verb::get, "/v1/admin/program/versions", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const int limit = parse_limit(request.query("limit"));
           const auto before = parse_ledger_cursor(request.query("cursor"));
           auto versions = co_await s.db.run([before, limit](soci::session& sql) {
             return db::programs::list(sql, before, limit);
           });
           json items = json::array();
           for (const auto& v : versions) {
             items.push_back({{"version", v.version},
                              {"created_by", v.created_by},
                              {"created_at", engine::format_rfc3339(v.created_at)}});
           }
           const bool more = static_cast<int>(versions.size()) == limit;
           co_return json_response(
               http::status::ok,
               {{"items", items},
                {"next_cursor",
                 more ? json(std::to_string(versions.back().version)) : json(nullptr)}});
         }});

  r.add({http::verb::get, "/v1/admin/program/versions/{version}", kAdmin,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string text = request.param("version");
           long long number = 0;
           const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
           if (ec != std::errc{} || end != text.data() + text.size() || number < 1)
             throw ApiError(http::status::not_found, "unknown_version", "no version " + text);
           auto version = co_await s.db.run(
               [number](soci::session& sql) { return db::programs::find(sql, number); });
           if (!version)
             throw ApiError(http::status::not_found, "unknown_version", "no version " + text);
           co_return json_response(http::status::ok,
                                   {{"version", version->version},
                                    {"source", version->source},
                                    {"created_by", version->created_by},
                                    {"created_at", engine::format_rfc3339(version->created_at)}});
         }});

  for (const bool pause : {true, false}) {
    r.add({http::verb::post,
           pause ? "/v1/admin/campaigns/{id}/pause" : "/v1/admin/campaigns/{id}/resume", kAdmin,
           [&s, &store, pause](Request& request) -> asio::awaitable<Response> {
             const std::string id = request.param("id");
             const auto active = store.for_request();
             bool known = false;
             if (active && active->program) {
               for (const auto& c : active->program->file().campaigns) known = known || c.id == id;
             }
             if (!known)
               throw ApiError(http::status::not_found, "unknown_campaign",
                              "the active program has no campaign " + id);
             const auto now = s.clock.now();
             const std::string by = request.caller().key_id;
             auto response = co_await transact(s, request, [&](soci::session& sql) {
               if (pause)
                 db::programs::pause(sql, id, by, now);
               else
                 db::programs::resume(sql, id);
               audit(sql, request, now, pause ? "campaign.paused" : "campaign.resumed", id);
               return json_response(http::status::ok, {{"campaign", id}, {"paused", pause}});
             });
             co_await refresh_after_commit(s, store);
             co_return response;
           }});
  }

  register_simulate_route(app, store);
  register_campaign_routes(app, store);
}

}  // namespace circolo::api
