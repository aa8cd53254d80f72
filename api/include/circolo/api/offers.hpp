#pragma once

#include <cstddef>
#include <memory>
#include <mutex>

#include <boost/asio/awaitable.hpp>

#include "circolo/engine/recommend.hpp"

namespace circolo::api {

class App;
class ProgramStore;
struct Services;

// The recommendation model in use (engine::recommend::CoOccurrence over the categories members
// bought): rebuilt in the background and swapped whole, so a request keeps the model it started
// with and never waits for a rebuild. Null until the first build.
class RecommendationStore {
 public:
  std::shared_ptr<const engine::recommend::CoOccurrence> get() const {
    std::lock_guard lock(mutex_);
    return model_;
  }
  void set(std::shared_ptr<const engine::recommend::CoOccurrence> model) {
    std::lock_guard lock(mutex_);
    model_ = std::move(model);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const engine::recommend::CoOccurrence> model_;
};

// Builds a model from the categories of every member who consented to profiling
// (db::offers::member_categories, page by page) and puts it in `store`. Returns the members it
// learnt from.
boost::asio::awaitable<std::size_t> rebuild_recommendations(Services& services,
                                                            RecommendationStore& store);

// GET /v1/members/{id}/offers: the next best offers (engine::offers).
void register_offer_routes(App& app, const ProgramStore& programs,
                           const RecommendationStore& models);

}  // namespace circolo::api
