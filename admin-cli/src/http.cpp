#include "http.hpp"

#include <boost/beast/websocket.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

namespace circolo::cli {

namespace beast = boost::beast;
namespace http = beast::http;

Client::Client(std::string url, std::string key) : url_(std::move(url)), key_(std::move(key)) {
  auto parsed = boost::urls::parse_uri(url_);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
    throw ConnectionError("the server URL must look like http://host:port, got '" + url_ + "'");
  }
  host_ = parsed->host();
  port_ = parsed->has_port() ? std::string(parsed->port()) : "80";
  base_path_ = parsed->path();
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
}

HttpAnswer Client::request(const std::string& method, const std::string& target,
                           const std::string& body, const std::string& idempotency_key,
                           const std::string& content_type, const std::string& accept) const {
  try {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(60));
    stream.connect(resolver.resolve(host_, port_));
    http::request<http::string_body> req{http::string_to_verb(method), base_path_ + target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "circolo-cli/0.1");
    if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
    if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
    if (!accept.empty()) req.set(http::field::accept, accept);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    http::read(stream, buffer, parser);
    auto res = parser.release();
    return {static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
            res.body()};
  } catch (const boost::system::system_error& e) {
    throw ConnectionError("cannot reach " + url_ + ": " + e.code().message());
  }
}

bool Client::stream(const std::string& target,
                    const std::function<void(const std::string&)>& on_message,
                    HttpAnswer& refusal) const {
  namespace websocket = beast::websocket;
  try {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::resolver resolver(ioc);
    websocket::stream<beast::tcp_stream> ws(ioc);
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ws).connect(resolver.resolve(host_, port_));
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      req.set(http::field::user_agent, "circolo-cli/0.1");
      if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
    }));
    websocket::response_type response;
    beast::error_code ec;
    ws.handshake(response, host_, base_path_ + target, ec);
    if (ec) {
      if (response.result_int() >= 400) {
        refusal = {static_cast<int>(response.result_int()),
                   std::string(response[http::field::content_type]), response.body()};
        return false;
      }
      throw boost::system::system_error(ec);
    }
    beast::flat_buffer buffer;
    for (;;) {
      ws.read(buffer, ec);
      if (ec == websocket::error::closed) return true;
      if (ec) throw boost::system::system_error(ec);
      on_message(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
    }
  } catch (const boost::system::system_error& e) {
    throw ConnectionError("the event stream of " + url_ + " ended: " + e.code().message());
  }
}

std::string describe_refusal(const HttpAnswer& answer) {
  const auto body = nlohmann::json::parse(answer.body, nullptr, false);
  if (!body.is_object() || !body.contains("code")) {
    return "error: the server answered " + std::to_string(answer.status);
  }
  std::string out = "error: " + body.value("detail", std::string("refused")) + " (" +
                    body.value("code", "") + ")\n";
  if (body.contains("errors") && body["errors"].is_array()) {
    for (const auto& e : body["errors"]) {
      if (e.contains("field"))
        out += "  " + e.value("field", std::string()) + ": " + e.value("message", "") + "\n";
      else if (e.contains("line"))
        out += "  " + std::to_string(e.value("line", 0)) + ":" +
               std::to_string(e.value("column", 0)) + ": " + e.value("message", "") + "\n";
    }
  }
  if (body.contains("request_id"))
    out += "  request id: " + body["request_id"].get<std::string>() + "\n";
  return out;
}

}  // namespace circolo::cli
