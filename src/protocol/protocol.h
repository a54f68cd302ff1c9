// Herald's client protocol: commands in, events and errors out.
//
// Everything here is pure: no I/O, no threads. The session layer calls
// ParseCommand for each inbound text message and sends what the Encode*
// functions return. See DESIGN.md section 1 and spec/websocket-api.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::protocol {

// WebSocket close codes Herald sends (RFC 6455 section 7.4.1 and the
// application range 4000-4999 for 4401).
enum class CloseCode : std::uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,        // server shutdown
  kProtocolError = 1002,    // malformed WebSocket framing
  kInvalidPayload = 1007,   // text frame that is not UTF-8
  kPolicyViolation = 1008,  // repeated abuse (rate limit kept exceeded)
  kMessageTooBig = 1009,    // inbound frame over the configured limit
  kTryAgainLater = 1013,    // slow consumer: send queue over the limit
  kUnauthorized = 4401,     // missing, invalid or expired token
};

// Every error a client can be sent. One enum so that status codes, reason
// phrases and metric labels stay in one place (STYLE.md habit 6).
enum class ClientError {
  kInvalidJson,
  kNotAnObject,
  kBadEventField,
  kUnknownCommand,
  kBadPatternType,
  kInvalidPattern,
  kTooManySubscriptions,
  kRateLimited,
  kUnauthorized,
  kTooManyConnections,
};

// HTTP-like status carried in the error event: 400, 401 or 429.
int StatusCode(ClientError error);

// Reason phrase matching StatusCode: "Bad Request", "Unauthorized", ...
std::string_view ReasonPhrase(int status_code);

// Stable label for metrics, e.g. "invalid_json".
std::string_view MetricLabel(ClientError error);

// Builds `{"event":"error","data":{"statusCode":N,"error":"...","message":"..."}}`.
// The message is JSON-escaped here; callers pass plain text.
std::string EncodeError(ClientError error, std::string_view message);

// Builds `{"event":"<name>","data":<data_json>}`, or `{"event":"<name>"}` when
// data_json is empty. name must be a valid event name (no escaping needed);
// data_json must be valid JSON and is copied byte for byte.
std::string EncodeEvent(std::string_view name, std::string_view data_json);

// `{"event":"pong"}`.
std::string_view PongMessage();

// Appends s to out as the body of a JSON string (without the quotes),
// escaping quotes, backslashes and control characters.
void AppendJsonEscaped(std::string& out, std::string_view s);

enum class CommandKind { kSubscribe, kUnsubscribe, kPing };

struct Command {
  CommandKind kind;
  std::string pattern;  // subscribe/unsubscribe only; validated
};

struct ParseResult {
  bool ok = false;
  Command command{CommandKind::kPing, {}};
  ClientError error = ClientError::kInvalidJson;
  std::string message;  // for the error event when !ok
};

// Parses one inbound message `{"event":..., "data":...}`. Never throws.
ParseResult ParseCommand(std::string_view message);

}  // namespace herald::protocol
