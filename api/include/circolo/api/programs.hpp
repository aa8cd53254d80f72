#pragma once

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

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

// Request JSON → the language's event and member records; throws ApiError 422 with every bad
// field. Money is exact: a decimal string, or a JSON number of at most 15 significant digits.
rules::Event parse_event_json(const nlohmann::json& body, int currency_digits,
                              const std::string& currency, engine::TimePoint now,
                              const std::string& default_channel);
// `attributes` objects (events, items, members): scalars by type, decimals exactly.
rules::Attributes parse_attributes_json(const nlohmann::json& value, const std::string& field,
                                        std::vector<FieldError>& errors);
// A money field ("84.50" or 84.5) parsed exactly with at most the currency's digits; nullopt
// after adding the field's error.
std::optional<rules::Decimal> parse_money_field(const nlohmann::json& value, int currency_digits,
                                                const std::string& field,
                                                std::vector<FieldError>& errors);
rules::MemberSnapshot parse_member_json(const nlohmann::json& body, engine::TimePoint now);

nlohmann::json effect_json(const rules::Effect& e, int currency_digits);
nlohmann::json diagnostics_json(const std::vector<rules::Diagnostic>& ds);

void register_program_routes(App& app, ProgramStore& store);

// The tier a new member starts in: the lowest, if its threshold is 0 (else none).
std::optional<std::string> entry_tier(const rules::CompiledProgram& program);
// {"id","name","progress"} of a member's tier in the active program, or null.
nlohmann::json tier_json(const ProgramStore& store, const std::optional<std::string>& tier);

}  // namespace circolo::api
