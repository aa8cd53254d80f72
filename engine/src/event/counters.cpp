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

bool member_counter(std::string_view counter, std::string_view member_id) {
  // "limit:[held:]<campaign>/<rule>/member:<id>/<period>": the period is the last segment.
  if (!counter.starts_with("limit:")) return false;
  const auto slash = counter.rfind('/');
  if (slash == std::string_view::npos) return false;
  const auto scope = counter.substr(0, slash);
  constexpr std::string_view kMember = "/member:";
  return scope.size() > kMember.size() + member_id.size() && scope.ends_with(member_id) &&
         scope.substr(scope.size() - member_id.size() - kMember.size(), kMember.size()) == kMember;
}

std::map<std::string, std::int64_t> current_limits(const rules::CompiledProgram& program,
                                                   std::map<std::string, std::int64_t> limits,
                                                   TimePoint from) {
  using rules::LimitPeriod;
  // A period's name sorts with time within its kind (ISO dates): one named before the period
  // holding `from` ended before it.
  const std::pair<std::string_view, LimitPeriod> kinds[] = {
      {"day:", LimitPeriod::day}, {"week:", LimitPeriod::week}, {"month:", LimitPeriod::month}};
  std::string oldest[3];
  for (auto it = limits.begin(); it != limits.end();) {
    const std::string_view key = it->first;
    const auto period = key.substr(key.rfind('/') + 1);
    bool gone = false;
    for (std::size_t k = 0; k < 3; ++k) {
      if (!period.starts_with(kinds[k].first)) continue;
      if (oldest[k].empty()) oldest[k] = program.period(kinds[k].second, from);
      gone = period < std::string_view(oldest[k]);
    }
    it = gone ? limits.erase(it) : std::next(it);
  }
  return limits;
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

namespace {

// A counter's value as the rules see it: a limit's firings or a budget's use.
void know(Work& w, const std::string& counter, std::int64_t value) {
  w.known_counters.insert(counter);
  if (counter.rfind("limit:", 0) == 0)
    w.counters.firings[counter.substr(6)] = value;
  else
    w.counters.budget_used[counter.substr(7)] = value;
}

}  // namespace

void know_counters_up_front(Work& w) {
  for (const auto& [counter, value] : w.state.member.limits) know(w, counter, value);
  for (const auto& [counter, value] : w.source.primed()) know(w, counter, value);
}

rules::Evaluation evaluate_counted(Work& w, const rules::Event& event) {
  for (int round = 0;; ++round) {
    auto evaluation = w.program.evaluate(event, w.snapshot, w.counters, w.request.with_trace);
    std::vector<std::string> missing;
    for (const auto& [key, n] : evaluation.firings_added) {
      const auto counter = limit_counter(key);
      if (w.known_counters.count(counter)) continue;
      // The member's own limits are all known (know_counters_up_front): one it lacks counts 0, as
      // the evaluation took it.
      if (member_counter(counter, w.state.member.id)) {
        w.known_counters.insert(counter);
        continue;
      }
      missing.push_back(counter);
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
      const auto it = values.find(key);
      know(w, key, it == values.end() ? 0 : it->second);
    }
  }
}

}  // namespace detail
}  // namespace circolo::engine::event
