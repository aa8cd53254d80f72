#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace circolo::test {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Asserts an application/problem+json answer with this status and stable code.
void expect_problem(const HttpResult& r, int status, const std::string& code);

// A blocking HTTP/1.1 client for tests: one connection, kept alive, reopened when closed.
class HttpClient {
 public:
  explicit HttpClient(unsigned short port) : port_(port) {}

  HttpResult request(const std::string& method, const std::string& target,
                     const std::string& body = "",
                     const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResult get(const std::string& target, const std::string& key = "");
  HttpResult post_json(const std::string& target, const nlohmann::json& body,
                       const std::string& key = "", const std::string& idempotency_key = "");

 private:
  unsigned short port_;
};

// A raw TCP connection: write bytes in pieces, then read one response.
class RawConnection {
 public:
  // `from`: the local address to connect from ("127.0.0.2": another client on this machine).
  explicit RawConnection(unsigned short port, const std::string& from = "");
  void send(const std::string& bytes);
  HttpResult read_response(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True once the server has closed the connection (reads EOF within the timeout).
  bool closed_by_server(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  std::string pending_;
};

}  // namespace circolo::test
