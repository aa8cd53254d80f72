#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

// What to suggest to a member from what members with similar purchases bought: co-occurrence of
// categories (or products) across members' purchase histories, explainable ("bought by members
// who bought shoes"), computed from recorded purchases without any external service.
namespace circolo::engine::recommend {

struct Suggestion {
  std::string key;
  double score = 0;
  std::optional<std::string> because;  // the member's own key that contributed most
};

class CoOccurrence {
 public:
  // One member's history: the distinct keys (categories) it bought. Co-occurrence counts
  // members, not baskets: a member buying shoes every week is one vote for shoes-with-socks.
  void add_member(std::vector<std::string> bought);
  std::size_t members() const { return members_; }

  // The `n` best keys for a member with these interests (key: weight, such as the affinities of
  // its interest profile): Σ weight(a) · P(c | a), where P(c | a) is the share of the members who
  // bought `a` who also bought `c`. Keys the member already likes count too, by their weight
  // (people buy again what they like); `exclude` keys are left out (not for sale, say).
  std::vector<Suggestion> suggest(const std::map<std::string, double>& interests, std::size_t n,
                                  const std::vector<std::string>& exclude = {}) const;
  // The baseline: the keys most members bought.
  std::vector<Suggestion> popular(std::size_t n) const;

 private:
  std::size_t members_ = 0;
  std::unordered_map<std::string, std::int64_t> bought_by_;  // members who bought the key
  std::unordered_map<std::string, std::unordered_map<std::string, std::int64_t>> together_;
};

}  // namespace circolo::engine::recommend
