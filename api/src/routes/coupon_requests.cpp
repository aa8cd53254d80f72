#include "coupon_requests.hpp"

#include "circolo/api/auth.hpp"
#include "circolo/db/api_keys.hpp"
#include "circolo/db/members.hpp"

namespace circolo::api::coupon_requests {

using nlohmann::json;

std::shared_ptr<const ProgramStore::Active> active_program(const ProgramStore& store) {
  auto active = store.for_request();
  if (!active || !active->program)
    throw ApiError(http::status::conflict, "no_program", "no program is active: apply one first");
  return active;
}

std::string resolve_member(soci::session& sql, const Request& request, const MemberRef& ref) {
  std::string id;
  const auto& caller = request.caller();
  if (ref.id) {
    id = *ref.id;
  } else if (auto found = db::members::find_by_identifier(sql, *ref.identifier)) {
    id = *found;
  } else if (caller.role == Role::member) {
    // A member token names its own member or none: an unknown identifier is answered as
    // another member's, so that a token cannot learn who is enrolled.
    check_scope(caller, "");
  } else {
    throw ApiError(http::status::not_found, "unknown_member",
                   "no member has the " + ref.identifier->type + " identifier given");
  }
  check_scope(request.caller(), id);
  const auto member = db::members::find(sql, id);
  if (!member) throw ApiError(http::status::not_found, "unknown_member", "no member " + id);
  if (member->merged_into)
    throw ApiError(http::status::gone, "member_merged",
                   "member " + id + " was merged into " + *member->merged_into, {},
                   {{"merged_into", *member->merged_into}});
  return id;
}

std::string use_channel(soci::session& sql, const Request& request, const json& body) {
  const auto& caller = request.caller();
  std::optional<std::string> channel = caller.channel;
  if (caller.role == Role::member) {
    if (caller.issuer_key_id) {
      if (auto issuer = db::api_keys::channel_of(sql, *caller.issuer_key_id)) channel = issuer;
    }
    // A member never chooses where it is: its touchpoint says so.
    if (!channel)
      throw_validation({{"channel",
                         "this member token was minted by a key without a channel; "
                         "mint it with the touchpoint's key"}});
  }
  if (channel) {
    if (body.contains("channel") &&
        (!body["channel"].is_string() || body["channel"].get<std::string>() != *channel))
      throw_validation({{"channel", "is set by your key: '" + *channel + "'"}});
    return *channel;
  }
  if (body.contains("channel") && body["channel"].is_string() &&
      !body["channel"].get<std::string>().empty() &&
      body["channel"].get<std::string>().size() <= 64)
    return body["channel"].get<std::string>();
  throw_validation({{"channel", "is required with an admin key (store, app, web...)"}});
}

}  // namespace circolo::api::coupon_requests
