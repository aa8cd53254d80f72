#pragma once

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "circolo/api/http.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/rules/evaluate.hpp"

namespace circolo::api {

class App;
struct Services;

// The active program of this instance, compiled once per version. Every instance reloads it when
// PostgreSQL notifies a change (LISTEN circolo_program: an apply, pause or resume anywhere), after
// its listener (re)connects, and every 5 s as a backstop, so an apply on any instance is in use
// everywhere within milliseconds; readers keep the version they started with.
class ProgramStore {
 public:
  struct Active {
    long long version = 0;
    long long revision = 0;  // of the program state this was read at
    std::shared_ptr<const rules::CompiledProgram> program;
    std::set<std::string> paused;  // campaign ids
  };
  // What is held now, loaded or not: for the reloads themselves.
  std::shared_ptr<const Active> current() const;
  // What a request decides with: 503 not_ready (with Retry-After) until this instance has read
  // the program state since it started or since its listener last (re)connected (notifications
  // may have been missed meanwhile), so that a restart or a reconnect never answers a refusal
  // that only looks final (409 no_program). Then the current program: null when none was applied.
  std::shared_ptr<const Active> for_request() const;
  // false (and nothing changes) if `active` was read at an older revision than the current.
  bool set(std::shared_ptr<const Active> active);

  // Loading: a refresh takes the generation before it reads and marks the store loaded with it
  // after; invalidate() (the listener reconnected) starts a new generation, so a read that began
  // before it does not count.
  bool loaded() const;
  std::uint64_t generation() const;
  void mark_loaded(std::uint64_t generation);
  void invalidate();

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Active> active_;
  std::uint64_t generation_ = 0;
  bool loaded_ = false;
};

// Reads the active version and the paused campaigns, compiling the source if the version
// changed. Returns true when something changed.
boost::asio::awaitable<bool> refresh_program(Services& services, ProgramStore& store);

nlohmann::json diagnostics_json(const std::vector<rules::Diagnostic>& ds);
// 422 program_invalid: a problem document whose errors carry line and column, not fields.
Response program_invalid(const Request& request, const std::vector<rules::Diagnostic>& diagnostics,
                         const std::string& detail);

void register_program_routes(App& app, ProgramStore& store);
// POST /v1/admin/simulate (routes/simulate.cpp).
void register_simulate_route(App& app, ProgramStore& store);
// GET /v1/admin/campaigns (routes/campaigns.cpp).
void register_campaign_routes(App& app, ProgramStore& store);

// {"id","name","progress"} of a member's tier in the active program, or null.
nlohmann::json tier_json(const ProgramStore& store, const std::optional<std::string>& tier);

}  // namespace circolo::api
