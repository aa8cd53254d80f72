#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "circolo/db/api_keys.hpp"

namespace circolo::api {

struct NewKeyRequest {
  std::string role;
  std::optional<std::string> channel;
  std::string name;
};

// Validates the body of POST /v1/admin/keys; throws ApiError 422 listing every bad field.
NewKeyRequest parse_new_key_request(const nlohmann::json& body);

// Channel names: 1..64 of [a-z0-9_-], as touchpoints report them on events.
bool valid_channel_name(const std::string& channel);

nlohmann::json key_to_json(const db::ApiKeyRecord& key);

}  // namespace circolo::api
