#include "cli/client.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "auth/jwt.h"
#include "cli/data_dir.h"
#include "protocol/protocol.h"
#include "session/asio.h"

namespace herald::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

std::int64_t NowSeconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  protocol::AppendJsonEscaped(out, s);
  return out + "\"";
}

// Mints a token with the configured or generated HS256 secret.
bool MintToken(config::Config& config, std::string_view sub, std::int64_t ttl_s, std::string* token,
               std::string* error) {
  if (!config.auth_public_key.empty() && config.auth_secret.empty()) {
    *error = "the server verifies tokens with a public key; mint them with its private key";
    return false;
  }
  if (!LoadSecrets(&config, /*create=*/false, error)) return false;
  *token = auth::MintHs256(config.auth_secret, sub, NowSeconds(), ttl_s, config.auth_issuer,
                           config.auth_audience);
  return true;
}

std::string PublishBody(const PublishArgs& args) {
  std::string body = "{\"event\":" + Quote(args.event);
  if (!args.data.empty()) body += ",\"data\":" + args.data;
  if (!args.users.empty()) {
    body += ",\"users\":[";
    std::stringstream list(args.users);
    bool first = true;
    for (std::string user; std::getline(list, user, ',');) {
      if (user.empty()) continue;
      body += (first ? "" : ",") + Quote(user);
      first = false;
    }
    body += "]";
  }
  return body + "}";
}

}  // namespace

int Token(config::Config config, const TokenArgs& args) {
  std::int64_t ttl_s = 0;
  if (args.sub.empty() || !ParseDuration(args.ttl, &ttl_s)) {
    std::cerr << "herald token: need --sub <userId> and a --ttl like 90s, 15m, 1h, 2d\n";
    return 2;
  }
  std::string token, error;
  if (!MintToken(config, args.sub, ttl_s, &token, &error)) {
    std::cerr << "herald token: " << error << "\n";
    return 1;
  }
  std::cout << token << "\n";
  return 0;
}

int Publish(config::Config config, const PublishArgs& args) {
  std::string error;
  if (!LoadSecrets(&config, /*create=*/false, &error)) {
    std::cerr << "herald publish: " << error << "\n";
    return 1;
  }
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.connect(resolver.resolve(ClientHost(config), std::to_string(config.port)));
    http::request<http::string_body> request(http::verb::post, config.publish_path, 11);
    request.set(http::field::host, ClientHost(config));
    request.set(http::field::authorization, "Bearer " + config.publish_key);
    request.set(http::field::content_type, "application/json");
    request.body() = PublishBody(args);
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    std::cout << response.body() << "\n";
    return response.result() == http::status::accepted ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "herald publish: cannot reach " << ClientHost(config) << ":" << config.port << ": "
              << e.what() << "\n";
    return 1;
  }
}

int Subscribe(config::Config config, const SubscribeArgs& args) {
  std::string token = args.token, error;
  if (token.empty() && !MintToken(config, args.sub, 24 * 3600, &token, &error)) {
    std::cerr << "herald subscribe: " << error << "\n";
    return 1;
  }
  unsigned ws_close_code = 0;
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    websocket::stream<tcp::socket> ws(io);
    beast::error_code ec;
    asio::connect(ws.next_layer(),
                  resolver.resolve(ClientHost(config), std::to_string(config.port)));
    ws.set_option(websocket::stream_base::decorator([&token](websocket::request_type& request) {
      request.set(http::field::authorization, "Bearer " + token);
    }));
    ws.handshake(ClientHost(config) + ":" + std::to_string(config.port),
                 "/ws/" + config.api_version + "/events");
    for (const std::string& pattern : args.patterns) {
      ws.write(asio::buffer("{\"event\":\"subscribe\",\"data\":" + Quote(pattern) + "}"));
    }
    std::cerr << "subscribed as " << args.sub << " to " << args.patterns.size()
              << " pattern(s); printing events, one per line\n";
    for (;;) {
      beast::flat_buffer buffer;
      ws.read(buffer, ec);
      if (ec == websocket::error::closed) ws_close_code = ws.reason().code;
      if (ec) throw boost::system::system_error(ec);
      std::cout << beast::buffers_to_string(buffer.data()) << std::endl;
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != websocket::error::closed) {
      std::cerr << "herald subscribe: " << e.what() << "\n";
      return 1;
    }
    // Closed by the server: fine on shutdown, an error otherwise (4401, 1013...).
    auto code = ws_close_code;
    std::cerr << "herald subscribe: connection closed with code " << code << "\n";
    return code == 1000 || code == 1001 ? 0 : 1;
  }
}

}  // namespace herald::cli
