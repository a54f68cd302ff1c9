#include "ingress/http_server.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

#include "ingress/publish.h"
#include "session/asio.h"

namespace herald::ingress {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// The GUID of RFC 6455 section 1.3, appended to the client's key.
constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// How long a client has to send its request headers and body, or to read
// the response.
constexpr auto kRequestTimeout = std::chrono::seconds(30);

// Body accepted on paths other than publish: they need none.
constexpr std::uint64_t kMaxOtherBodyBytes = 4096;
// How long and how much a refused client may keep sending before we close.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::size_t kMaxLingerBytes = 8 * 1024 * 1024;

// Pause before accepting again after an accept error such as EMFILE, which
// would otherwise fire again at once and spin the shard's thread.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// A token's session deadline is capped at this far ahead: far-future exp
// values would overflow the steady clock.
constexpr std::int64_t kMaxSessionSeconds = 10LL * 365 * 86400;

std::int64_t NowSeconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// RFC 6455 section 4.2.2: base64(SHA-1(key + GUID)).
std::string WebSocketAccept(std::string_view key) {
  std::string input(key);
  input += kWebSocketGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), n);
}

// Boost 1.74's beast::string_view is boost::string_view.
std::string_view Std(beast::string_view s) { return {s.data(), s.size()}; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The decoded value of query parameter name, if present.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    std::string_view key = pair.substr(0, pair.find('='));
    if (UrlDecode(key) != name) continue;
    return UrlDecode(pair.size() > key.size() ? pair.substr(key.size() + 1) : "");
  }
  return std::nullopt;
}

std::string_view StripBearer(std::string_view value) {
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() >= kBearer.size() &&
      beast::iequals(beast::string_view(value.data(), kBearer.size()),
                     beast::string_view(kBearer.data(), kBearer.size()))) {
    value.remove_prefix(kBearer.size());
  }
  return value;
}

// DESIGN.md section 1: Authorization header, then authHeader (with or
// without "Bearer "), then authToken. Empty if none holds a token.
std::string FindToken(const Request& request, std::string_view query) {
  auto header = request.find(http::field::authorization);
  if (header != request.end()) return std::string(StripBearer(Std(header->value())));
  if (auto value = QueryParam(query, "authHeader")) return std::string(StripBearer(*value));
  if (auto value = QueryParam(query, "authToken")) return *value;
  return {};
}

bool SameKey(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // constant time: the key is a secret
  for (std::size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

std::string JsonError(int status, std::string_view message) {
  std::string out = "{\"statusCode\":" + std::to_string(status) + ",\"error\":\"";
  out += protocol::ReasonPhrase(status);
  out += "\",\"message\":\"";
  protocol::AppendJsonEscaped(out, message);
  out += "\"}";
  return out;
}

// Logs at most a few lines a second for things any client can trigger.
bool LogAllowed() {
  static std::atomic<std::int64_t> window{0};
  static std::atomic<int> count{0};
  std::int64_t now = NowSeconds();
  if (window.exchange(now) != now) count = 0;
  return ++count <= 5;
}

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket socket, fanout::Shard& shard, ServerContext& context)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        shard_(shard),
        context_(context) {}

  void Start() { ReadRequest(); }

 private:
  // Reads the header first: the publisher key is checked before a body is
  // read, and only the publish endpoint may send a large one.
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(context_.config->max_request_header_bytes));
    // Beast compares Content-Length with the body limit as the header
    // completes; OnHeader sets the limit once it knows the path and key.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    ArmTimer();
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Reply(http::status::request_header_fields_too_large,
                   JsonError(431, "request headers too large"), false);
    }
    if (ec == http::error::body_limit) return ReplyBodyTooLarge();  // from Content-Length
    if (ec) return;  // peer went away or sent garbage: nothing to answer
    const Request& request = parser_->get();
    std::string_view target = Std(request.target());
    bool publish = target.substr(0, target.find('?')) == context_.config->publish_path &&
                   request.method() == http::verb::post;
    if (publish && !PublisherAuthorized(request)) {
      context_.publish_requests.fetch_add(1, std::memory_order_relaxed);
      context_.publish_rejected.fetch_add(1, std::memory_order_relaxed);
      return Reply(http::status::unauthorized,
                   JsonError(401, "missing or wrong publisher key (Authorization: Bearer <key>)"),
                   false);
    }
    auto length = parser_->content_length();
    if (!publish && (parser_->chunked() || (length && *length > kMaxOtherBodyBytes))) {
      return Reply(http::status::payload_too_large,
                   JsonError(413, "this path takes no request body"), false);
    }
    auto limit = publish ? static_cast<std::uint64_t>(context_.config->max_publish_bytes)
                         : kMaxOtherBodyBytes;
    if (length && *length > limit) return ReplyBodyTooLarge();
    parser_->body_limit(limit);  // still needed for chunked bodies
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRequest(ec); });
  }

  void OnRequest(beast::error_code ec) {
    timer_.cancel();
    if (ec == http::error::body_limit) return ReplyBodyTooLarge();  // chunked body grew too big
    if (ec) return;
    Route(parser_->get());
  }

  void ReplyBodyTooLarge() {
    Reply(http::status::payload_too_large,
          JsonError(413, "body larger than " + std::to_string(context_.config->max_publish_bytes) +
                             " bytes"),
          false);
  }

  // Closes the socket if the request (or the response write) takes longer
  // than kRequestTimeout.
  void ArmTimer() {
    timer_.expires_after(kRequestTimeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->socket_.close();
    });
  }

  bool PublisherAuthorized(const Request& request) const {
    auto auth = request.find(http::field::authorization);
    return auth != request.end() &&
           SameKey(StripBearer(Std(auth->value())), context_.config->publish_key);
  }

  void Route(Request& request) {
    std::string_view target = Std(request.target());
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : "";
    bool get = request.method() == http::verb::get;

    if (path == context_.endpoint_path && get && beast::websocket::is_upgrade(request)) {
      return Upgrade(request, query);
    }
    if (path == context_.config->publish_path) {
      if (request.method() != http::verb::post) {
        return Reply(http::status::method_not_allowed, JsonError(405, "use POST"), true);
      }
      return Publish(request);
    }
    if (path == "/healthz" && get) return Reply(http::status::ok, "ok\n", true, "text/plain");
    if (path == "/readyz" && get) {
      bool ready = context_.ready.load();
      return Reply(ready ? http::status::ok : http::status::service_unavailable,
                   ready ? "ready\n" : "not ready\n", true, "text/plain");
    }
    if (path == "/metrics" && get) {
      return Reply(http::status::ok, RenderMetrics(context_), true, "text/plain; version=0.0.4");
    }
    if (path == context_.endpoint_path) {
      return Reply(http::status::bad_request, JsonError(400, "expected a WebSocket upgrade"),
                   false);
    }
    Reply(http::status::not_found, JsonError(404, "not found"), false);
  }

  void Publish(Request& request) {
    context_.publish_requests.fetch_add(1, std::memory_order_relaxed);
    PublishParse parsed = ParsePublishBody(request.body());
    if (!parsed.problems.empty()) {
      context_.publish_rejected.fetch_add(1, std::memory_order_relaxed);
      std::string body = JsonError(400, "nothing was published");
      body.pop_back();
      body += ",\"problems\":[";
      for (std::size_t i = 0; i < parsed.problems.size(); ++i) {
        body += i ? ",\"" : "\"";
        protocol::AppendJsonEscaped(body, parsed.problems[i]);
        body += "\"";
      }
      body += "]}";
      return Reply(http::status::bad_request, std::move(body), true);
    }
    std::size_t count = parsed.items.size();
    context_.router->Publish(std::move(parsed.items));
    Reply(http::status::accepted, "{\"accepted\":" + std::to_string(count) + "}", true);
  }

  void Reply(http::status status, std::string body, bool keep_alive,
             std::string_view content_type = "application/json", bool name_version = false) {
    auto response = std::make_shared<Response>(status, 11);
    if (name_version) response->set(http::field::sec_websocket_version, "13");
    response->set(http::field::server, "herald");
    response->set(http::field::content_type,
                  beast::string_view(content_type.data(), content_type.size()));
    response->keep_alive(keep_alive && parser_->get().keep_alive());
    response->body() = std::move(body);
    response->prepare_payload();
    ArmTimer();
    http::async_write(socket_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
                        self->timer_.cancel();
                        if (ec) return;
                        if (!response->keep_alive()) return self->CloseAfterReply();
                        self->ReadRequest();
                      });
  }

  // Refusals (401, 413, ...) may come before the client has sent its whole
  // body. Closing with unread bytes would reset the connection and the
  // client could lose the answer, so stop sending and discard what still
  // arrives until the peer closes, a cap, or a short timeout.
  void CloseAfterReply() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    timer_.expires_after(kLingerTimeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->socket_.close();
    });
    Discard(0);
  }

  void Discard(std::size_t discarded) {
    if (discarded > kMaxLingerBytes) {
      timer_.cancel();
      return;
    }
    buffer_.consume(buffer_.size());
    socket_.async_read_some(buffer_.prepare(16 * 1024), [self = shared_from_this(), discarded](
                                                            beast::error_code ec, std::size_t n) {
      if (ec) {  // EOF: the peer read our answer
        self->timer_.cancel();
        return;
      }
      self->buffer_.commit(n);
      self->Discard(discarded + n);
    });
  }

  // RFC 6455 section 4.2: answer the handshake, then hand the socket to the
  // shard. Authentication failures complete the upgrade first so that the
  // client reads an error event and close code 4401 (DESIGN.md section 1).
  void Upgrade(Request& request, std::string_view query) {
    auto key = request.find(http::field::sec_websocket_key);
    auto version = request.find(http::field::sec_websocket_version);
    if (version != request.end() && version->value() != "13") {
      return Reply(http::status::upgrade_required,
                   JsonError(426, "only WebSocket version 13 is supported"), false,
                   "application/json", true);
    }
    if (key == request.end() || version == request.end()) {
      return Reply(http::status::bad_request,
                   JsonError(400, "bad WebSocket handshake (key and version 13 required)"), false);
    }
    std::string token = FindToken(request, query);
    auto response =
        std::make_shared<http::response<http::empty_body>>(http::status::switching_protocols, 11);
    response->set(http::field::upgrade, "websocket");
    response->set(http::field::connection, "Upgrade");
    response->set(http::field::sec_websocket_accept, WebSocketAccept(Std(key->value())));
    response->set(http::field::server, "herald");
    http::async_write(socket_, *response,
                      [self = shared_from_this(), response, token = std::move(token)](
                          beast::error_code ec, std::size_t) {
                        if (!ec) self->StartSession(token);
                      });
  }

  void StartSession(const std::string& token) {
    std::string leftover = beast::buffers_to_string(buffer_.data());
    std::variant<auth::Claims, auth::AuthError> verified = auth::AuthError::kMissingToken;
    if (!token.empty()) verified = context_.verifier->Verify(token, NowSeconds());

    if (auto* error = std::get_if<auth::AuthError>(&verified)) {
      context_.auth_stats.failures[static_cast<std::size_t>(*error)].fetch_add(1);
      if (LogAllowed()) {
        spdlog::info("auth failure reason={} peer={}", auth::MetricLabel(*error), Peer());
      }
      auto session = shard_.AdoptForRefusal(std::move(socket_));
      session->Refuse(protocol::ClientError::kUnauthorized, auth::Describe(*error),
                      protocol::CloseCode::kUnauthorized);
      return;
    }
    auto& claims = std::get<auth::Claims>(verified);
    bool admitted = false;
    std::string peer = Peer();
    auto session = shard_.Adopt(std::move(socket_), claims.sub, &admitted);
    if (!admitted) {
      session->Refuse(protocol::ClientError::kTooManyConnections,
                      "too many connections for this user (limit " +
                          std::to_string(context_.config->max_connections_per_user) + ")",
                      protocol::CloseCode::kPolicyViolation);
      return;
    }
    spdlog::debug("conn={} open user={} peer={}", session->id(), claims.sub, peer);
    session->Start(leftover, ExpiryDeadline(claims));
  }

  // When the session must end for its token: exp plus the same leeway the
  // check at connect allowed, so a token accepted now is not dropped at once.
  std::optional<std::chrono::steady_clock::time_point> ExpiryDeadline(const auth::Claims& claims) {
    if (!claims.exp) return std::nullopt;
    std::int64_t left_s = std::clamp<std::int64_t>(*claims.exp - NowSeconds(), -kMaxSessionSeconds,
                                                   kMaxSessionSeconds) +
                          context_.config->auth_leeway_s;
    return std::chrono::steady_clock::now() +
           std::chrono::seconds(std::max<std::int64_t>(0, left_s));
  }

  std::string Peer() const {
    boost::system::error_code ec;
    auto endpoint = socket_.remote_endpoint(ec);
    return ec ? "?" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  fanout::Shard& shard_;
  ServerContext& context_;
};

}  // namespace

struct Listener::Impl {
  Impl(fanout::Shard& s, ServerContext& c)
      : shard(s), context(c), acceptor(s.io()), retry(s.io()) {}

  void Accept() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        std::make_shared<HttpConnection>(std::move(socket), shard, context)->Start();
      } else {
        if (LogAllowed()) spdlog::warn("accept failed error={}", ec.message());
        retry.expires_after(kAcceptRetryDelay);
        retry.async_wait([this](const boost::system::error_code& ec) {
          if (!ec) Accept();
        });
        return;
      }
      Accept();
    });
  }

  fanout::Shard& shard;
  ServerContext& context;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
};

Listener::Listener(fanout::Shard& shard, ServerContext& context)
    : impl_(std::make_unique<Impl>(shard, context)) {}

Listener::~Listener() = default;

bool Listener::Open(std::string* error) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(impl_->context.config->host, ec);
  if (ec) {
    *error = "invalid host '" + impl_->context.config->host + "'";
    return false;
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->context.config->port));
  tcp::acceptor& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) {
    // Each shard listens on its own socket; the kernel balances new
    // connections across them (DESIGN.md section 4).
    int one = 1;
    if (setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen on " + impl_->context.config->host + ":" +
             std::to_string(impl_->context.config->port) + ": " + ec.message();
    return false;
  }
  return true;
}

void Listener::Start() { impl_->Accept(); }

void Listener::Stop() {
  boost::system::error_code ignored;
  impl_->retry.cancel();
  impl_->acceptor.close(ignored);
}

}  // namespace herald::ingress
