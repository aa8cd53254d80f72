// Counters the decision asks for, and the evaluation that reads them until it knows them all.
#include <algorithm>
#include <stdexcept>

#include "work.hpp"

namespace circolo::engine::event {

std::string limit_counter(const std::string& key) {
  return "limit:" + key;
}
std::string budget_counter(const std::string& campaign) {
  return "budget:" + campaign;
}

std::map<std::string, std::int64_t> MapCounters::read(const std::vector<std::string>& keys) {
  std::map<std::string, std::int64_t> out;
  for (const auto& key : keys) {
    asked.push_back(key);
    if (const auto it = values_.find(key); it != values_.end()) out[key] = it->second;
  }
  return out;
}

namespace detail {

rules::Evaluation evaluate_counted(Work& w, const rules::Event& event) {
  for (int round = 0;; ++round) {
    auto evaluation = w.program.evaluate(event, w.snapshot, w.counters, w.request.with_trace);
    std::vector<std::string> missing;
    for (const auto& [key, n] : evaluation.firings_added) {
      if (!w.known_counters.count(limit_counter(key))) missing.push_back(limit_counter(key));
    }
    for (const auto& [campaign, n] : evaluation.budget_added) {
      if (!w.known_counters.count(budget_counter(campaign)))
        missing.push_back(budget_counter(campaign));
    }
    for (const auto& campaign : evaluation.budgets_read) {
      if (!w.known_counters.count(budget_counter(campaign)) &&
          !evaluation.budget_added.count(campaign))
        missing.push_back(budget_counter(campaign));
    }
    if (missing.empty()) return evaluation;
    // Each round reads at least one more counter of a finite set; a bound guards against bugs.
    if (round > 64) throw std::logic_error("counter reading did not settle");
    std::sort(missing.begin(), missing.end());
    const auto values = w.source.read(missing);
    for (const auto& key : missing) {
      w.known_counters.insert(key);
      const auto it = values.find(key);
      const std::int64_t value = it == values.end() ? 0 : it->second;
      if (key.rfind("limit:", 0) == 0)
        w.counters.firings[key.substr(6)] = value;
      else
        w.counters.budget_used[key.substr(7)] = value;
    }
  }
}

}  // namespace detail
}  // namespace circolo::engine::event
