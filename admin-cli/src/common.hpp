// Shared by the command groups: the server settings, the request wrapper that explains refusals,
// the percent-encoding of path and query parts, and the pages of --html written out.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace circolo::cli {

using nlohmann::json;

struct Online {
  std::string url = "http://127.0.0.1:8080";
  std::string key;
  bool json_output = false;
};

// Sends a request; on a refusal prints the server's explanation and returns nullopt with the
// exit code set.
std::optional<json> call(const Online& o, const std::string& method, const std::string& target,
                         const json& body, int& exit_code, const std::string& idempotency_key = "");

std::string percent_encode(const std::string& v);
// `target` with ?from=...&until=... for those given (report periods).
std::string with_period(std::string target, const std::string& from, const std::string& until);

// Writes the page of `--html FILE` and says so on standard error; exit code 0, or 2 (with the
// reason) when the file cannot be written.
int write_page(const std::string& path, const std::string& html);

}  // namespace circolo::cli
