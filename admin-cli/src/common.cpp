// The request wrapper of the online commands, percent-encoding, the pages of --html.
#include "common.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "http.hpp"

namespace circolo::cli {

std::optional<json> call(const Online& o, const std::string& method, const std::string& target,
                         const json& body, int& exit_code, const std::string& idempotency_key) {
  try {
    circolo::cli::Client client(o.url, o.key);
    const auto answer =
        client.request(method, target, body.is_null() ? "" : body.dump(), idempotency_key);
    if (answer.status >= 500) {
      std::cerr << circolo::cli::describe_refusal(answer);
      exit_code = 3;
      return std::nullopt;
    }
    if (answer.status >= 400) {
      std::cerr << circolo::cli::describe_refusal(answer);
      exit_code = 1;
      return std::nullopt;
    }
    if (answer.body.empty()) return json::object();
    auto parsed = json::parse(answer.body, nullptr, false);
    if (parsed.is_discarded()) {
      std::cerr << "error: the server answered something that is not JSON\n";
      exit_code = 3;
      return std::nullopt;
    }
    return parsed;
  } catch (const circolo::cli::ConnectionError& e) {
    std::cerr << "error: " << e.what() << "\n";
    exit_code = 3;
    return std::nullopt;
  }
}

std::string percent_encode(const std::string& v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string with_period(std::string target, const std::string& from, const std::string& until) {
  std::string sep = "?";
  if (!from.empty()) {
    target += sep + "from=" + percent_encode(from);
    sep = "&";
  }
  if (!until.empty()) target += sep + "until=" + percent_encode(until);
  return target;
}

int write_page(const std::string& path, const std::string& html) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out << html;
  if (out) out.close();
  if (!out) {
    std::cerr << "circolo: cannot write " << path << ": " << std::strerror(errno) << "\n";
    return 2;
  }
  std::cerr << "Wrote " << path << "\n";
  return 0;
}

}  // namespace circolo::cli
