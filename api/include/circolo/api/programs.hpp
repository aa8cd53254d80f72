#pragma once

#include <boost/asio/awaitable.hpp>

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
  std::shared_ptr<const Active> current() const;
  // false (and nothing changes) if `active` was read at an older revision than the current.
  bool set(std::shared_ptr<const Active> active);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Active> active_;
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

// {"id","name","progress"} of a member's tier in the active program, or null.
nlohmann::json tier_json(const ProgramStore& store, const std::optional<std::string>& tier);

}  // namespace circolo::api
