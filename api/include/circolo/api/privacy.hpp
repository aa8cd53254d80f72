#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>

namespace circolo::api {

class App;

// Retention: erases the personal data of every member inactive for `inactive` (see
// db::privacy::inactive_members), one transaction each, recorded in the audit trail as done by
// "retention". Returns how many. Safe on several instances at once.
boost::asio::awaitable<std::size_t> erase_inactive_members(App& app, std::chrono::days inactive);

// GET and PATCH /v1/members/{id}/consents.
void register_privacy_routes(App& app);

}  // namespace circolo::api
