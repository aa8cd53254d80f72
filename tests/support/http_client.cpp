#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>
#include <poll.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace circolo::test {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

HttpResult convert(http::response<http::string_body>& res) {
  HttpResult out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    out.headers[name] = std::string(field.value());
  }
  out.body = res.body();
  return out;
}

// With CIRCOLO_CONTRACT_LOG set to a folder, every answer is appended to <folder>/<pid>.jsonl so
// that tests/contract/check-responses.mjs can validate it against docs/openapi.yaml afterwards.
void record_for_contract(const std::string& method, const std::string& target,
                         const HttpResult& result) {
  static const char* folder = std::getenv("CIRCOLO_CONTRACT_LOG");
  if (folder == nullptr || *folder == '\0') return;
  nlohmann::json line{{"method", method},
                      {"target", target},
                      {"status", result.status},
                      {"headers", result.headers},
                      {"body", result.body}};
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::string path = std::string(folder) + "/" + std::to_string(::getpid()) + ".jsonl";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // One write per line: O_APPEND keeps lines from concurrent clients of one process whole.
  [[maybe_unused]] auto written = ::write(fd, text.data(), text.size());
  ::close(fd);
}

}  // namespace

void expect_problem(const HttpResult& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << r.body;
  EXPECT_EQ(body["code"], code) << r.body;
  EXPECT_EQ(body["status"], status) << r.body;
  EXPECT_TRUE(body.contains("title") && body.contains("detail") && body.contains("type")) << r.body;
}

HttpResult HttpClient::request(const std::string& method, const std::string& target,
                               const std::string& body,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(stream, buffer, parser);
  auto res = parser.release();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  auto result = convert(res);
  record_for_contract(method, target, result);
  return result;
}

HttpResult HttpClient::get(const std::string& target, const std::string& key) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
  return request("GET", target, "", headers);
}

HttpResult HttpClient::post_json(const std::string& target, const nlohmann::json& body,
                                 const std::string& key, const std::string& idempotency_key) {
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"}};
  if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
  if (!idempotency_key.empty()) headers.emplace_back("Idempotency-Key", idempotency_key);
  return request("POST", target, body.dump(), headers);
}

RawConnection::RawConnection(unsigned short port, const std::string& from) : socket_(ioc_) {
  if (!from.empty()) {
    socket_.open(tcp::v4());
    socket_.bind(tcp::endpoint(boost::asio::ip::make_address(from), 0));
  }
  socket_.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
}

void RawConnection::send(const std::string& bytes) {
  boost::asio::write(socket_, boost::asio::buffer(bytes));
}

namespace {

bool wait_readable(tcp::socket& socket, std::chrono::milliseconds timeout) {
  pollfd fd{socket.native_handle(), POLLIN, 0};
  return ::poll(&fd, 1, static_cast<int>(timeout.count())) > 0;
}

}  // namespace

HttpResult RawConnection::read_response(std::chrono::milliseconds timeout) {
  if (!wait_readable(socket_, timeout)) throw std::runtime_error("no response within the timeout");
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket_, buffer, res);
  return convert(res);
}

bool RawConnection::closed_by_server(std::chrono::milliseconds timeout) {
  if (!wait_readable(socket_, timeout)) return false;
  char byte;
  boost::system::error_code ec;
  socket_.read_some(boost::asio::buffer(&byte, 1), ec);
  return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
}

}  // namespace circolo::test
