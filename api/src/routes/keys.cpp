// API keys: POST /v1/admin/keys, GET /v1/admin/keys, DELETE /v1/admin/keys/{id}.
#include "circolo/api/keys.hpp"

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/engine/digest.hpp"

namespace circolo::api {

bool valid_channel_name(const std::string& channel) {
  if (channel.empty() || channel.size() > 64) return false;
  for (char c : channel) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

NewKeyRequest parse_new_key_request(const nlohmann::json& body) {
  if (!body.is_object()) throw_validation({{"", "the body must be a JSON object"}});
  std::vector<FieldError> errors;
  NewKeyRequest out;
  for (const auto& [field, value] : body.items()) {
    if (field != "role" && field != "channel" && field != "name")
      errors.push_back({field, "is not a known field"});
  }
  if (!body.contains("role") || !body["role"].is_string()) {
    errors.push_back({"role", "is required: \"admin\" or \"touchpoint\""});
  } else {
    out.role = body["role"].get<std::string>();
    if (out.role == "member") {
      errors.push_back({"role", "member tokens are minted with POST /v1/members/{id}/tokens"});
    } else if (out.role != "admin" && out.role != "touchpoint") {
      errors.push_back({"role", "must be \"admin\" or \"touchpoint\""});
    }
  }
  if (!body.contains("name") || !body["name"].is_string() ||
      body["name"].get<std::string>().empty()) {
    errors.push_back({"name", "is required: a non-empty string saying who uses the key"});
  } else if (body["name"].get<std::string>().size() > 200) {
    errors.push_back({"name", "is longer than 200 characters"});
  } else {
    out.name = body["name"].get<std::string>();
  }
  if (body.contains("channel") && !body["channel"].is_null()) {
    if (!body["channel"].is_string() || !valid_channel_name(body["channel"].get<std::string>())) {
      errors.push_back({"channel", "must be 1 to 64 characters of a-z, 0-9, '_' or '-'"});
    } else {
      out.channel = body["channel"].get<std::string>();
    }
  } else if (out.role == "touchpoint") {
    errors.push_back({"channel", "is required for a touchpoint key (store, app, web, ...)"});
  }
  if (!errors.empty()) throw_validation(std::move(errors));
  return out;
}

nlohmann::json key_to_json(const db::ApiKeyRecord& key) {
  return {
      {"id", key.id},
      {"role", key.role},
      {"channel", key.channel ? nlohmann::json(*key.channel) : nlohmann::json(nullptr)},
      {"name", key.name},
      {"created_at", engine::format_rfc3339(key.created_at)},
      {"revoked_at", key.revoked_at ? nlohmann::json(engine::format_rfc3339(*key.revoked_at))
                                    : nlohmann::json(nullptr)},
  };
}

void register_key_routes(App& app) {
  auto& services = app.services();
  const auto admin = Access::only({Role::admin});

  app.router().add({http::verb::post, "/v1/admin/keys", admin,
                    [&services](Request& request) -> asio::awaitable<Response> {
                      const auto parsed = parse_new_key_request(request.json_body());
                      db::ApiKeyRecord record{new_id("key"), parsed.role,          parsed.channel,
                                              parsed.name,   services.clock.now(), std::nullopt};
                      const std::string secret = new_key_secret();
                      co_return co_await transact(services, request, [&](soci::session& sql) {
                        db::api_keys::insert(sql, record, engine::sha256_hex(secret));
                        audit(sql, request, record.created_at, "key.created", record.id,
                              {{"role", record.role},
                               {"channel", record.channel ? nlohmann::json(*record.channel)
                                                          : nlohmann::json(nullptr)},
                               {"name", record.name}});
                        auto body = key_to_json(record);
                        body["key"] = secret;
                        auto response = json_response(http::status::created, body);
                        response.headers.emplace_back("Location", "/v1/admin/keys/" + record.id);
                        // The secret is shown once: a replay answers everything but the secret.
                        body["key"] = nullptr;
                        response.replay_body = body.dump();
                        return response;
                      });
                    }});

  app.router().add(
      {http::verb::get, "/v1/admin/keys", admin,
       [&services](Request&) -> asio::awaitable<Response> {
         auto keys =
             co_await services.db.run([](soci::session& sql) { return db::api_keys::list(sql); });
         nlohmann::json items = nlohmann::json::array();
         for (const auto& key : keys) items.push_back(key_to_json(key));
         co_return json_response(http::status::ok, {{"items", items}, {"next_cursor", nullptr}});
       }});

  app.router().add(
      {http::verb::delete_, "/v1/admin/keys/{id}", admin,
       [&services, &app](Request& request) -> asio::awaitable<Response> {
         const std::string id = request.param("id");
         const auto now = services.clock.now();
         auto response = co_await transact(services, request, [&](soci::session& sql) {
           if (db::api_keys::revoke(sql, id, now) == db::api_keys::RevokeResult::not_found) {
             throw ApiError(http::status::not_found, "unknown_key", "no API key " + id);
           }
           audit(sql, request, now, "key.revoked", id);
           return empty_response(http::status::no_content);
         });
         app.forget_cached_keys();  // refused here at once; elsewhere within kKeyCacheTtl
         co_return response;
       }});
}

}  // namespace circolo::api
