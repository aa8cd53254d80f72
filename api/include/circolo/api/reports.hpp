#pragma once

#include <optional>
#include <string>

#include "circolo/engine/clock.hpp"
#include "circolo/rules/evaluate.hpp"

// What the report routes share.
namespace circolo::api {

// A report's period bound from the query: a date (midnight in the program's time zone, UTC
// without a program) or an RFC 3339 time; `fallback` when absent. 400 invalid_query otherwise.
engine::TimePoint report_bound(const std::optional<std::string>& text, engine::TimePoint fallback,
                               const rules::CompiledProgram* program, const char* name);

}  // namespace circolo::api
