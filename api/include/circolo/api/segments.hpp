#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

namespace circolo::api {

class App;
class ProgramStore;
struct Services;

// What a run of the segment job did (ran false: nothing was due, or another instance runs it).
struct SegmentRunReport {
  bool ran = false;
  std::string reason;  // "program" (segments added, changed or dropped) or "schedule"
  long long members = 0, entered = 0, left = 0;
};

// The segment job, for one instance among many (a lease): when the program's segments differ
// from what memberships were evaluated against, every member is evaluated again for those (and
// taken out of segments no longer declared); otherwise every `refresh` all dynamic segments are
// (what time alone changes, and changes made outside events). Members are locked in batches, as
// events lock them, and each change publishes segment.entered / segment.left.
boost::asio::awaitable<SegmentRunReport> run_segment_job(Services& services,
                                                         const ProgramStore& store,
                                                         const std::string& holder,
                                                         std::chrono::seconds refresh);

// GET /v1/segments, /v1/segments/{id}, /v1/segments/{id}/members (JSON pages or CSV),
// PUT /v1/segments/{id}/members (a static segment's list, CSV), GET /v1/members/{id}/segments.
void register_segment_routes(App& app, const ProgramStore& store);

}  // namespace circolo::api
