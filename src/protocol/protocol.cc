#include "protocol/protocol.h"

#include <simdjson.h>

#include <algorithm>
#include <array>

#include "core/name.h"

namespace herald::protocol {
namespace {

struct ErrorInfo {
  int status;
  std::string_view label;
};

ErrorInfo Info(ClientError error) {
  switch (error) {
    case ClientError::kInvalidJson:
      return {400, "invalid_json"};
    case ClientError::kNotAnObject:
      return {400, "not_an_object"};
    case ClientError::kBadEventField:
      return {400, "bad_event_field"};
    case ClientError::kUnknownCommand:
      return {400, "unknown_command"};
    case ClientError::kBadPatternType:
      return {400, "bad_pattern_type"};
    case ClientError::kInvalidPattern:
      return {400, "invalid_pattern"};
    case ClientError::kTooManySubscriptions:
      return {429, "too_many_subscriptions"};
    case ClientError::kRateLimited:
      return {429, "rate_limited"};
    case ClientError::kUnauthorized:
      return {401, "unauthorized"};
    case ClientError::kTooManyConnections:
      return {429, "too_many_connections"};
  }
  return {400, "unknown"};
}

ParseResult Fail(ClientError error, std::string message) {
  ParseResult result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

// Quotes a client-supplied value for an error message, cut to a readable
// length so that an error never echoes a whole frame back.
std::string Quoted(std::string_view s) {
  constexpr std::size_t kMaxEcho = 64;
  std::size_t cut = std::min(s.size(), kMaxEcho);
  // Back off to a character boundary: the message goes out in a text frame,
  // which must stay valid UTF-8 (RFC 6455 section 8.1).
  while (cut < s.size() && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::string out = "\"";
  out += s.substr(0, cut);
  if (cut < s.size()) out += "...";
  out += "\"";
  return out;
}

ParseResult ParsePatternCommand(CommandKind kind, std::string_view name,
                                simdjson::dom::object object) {
  std::string_view pattern;
  if (object["data"].get_string().get(pattern)) {
    return Fail(ClientError::kBadPatternType,
                std::string(name) + " needs a pattern string in \"data\"");
  }
  if (!core::IsValidPattern(pattern)) {
    return Fail(ClientError::kInvalidPattern, "invalid pattern " + Quoted(pattern));
  }
  ParseResult result;
  result.ok = true;
  result.command = Command{kind, std::string(pattern)};
  return result;
}

}  // namespace

int StatusCode(ClientError error) { return Info(error).status; }

std::string_view MetricLabel(ClientError error) { return Info(error).label; }

std::string_view ReasonPhrase(int status_code) {
  switch (status_code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 413:
      return "Payload Too Large";
    case 405:
      return "Method Not Allowed";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    case 429:
      return "Too Many Requests";
    default:
      return "Error";
  }
}

void AppendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
}

std::string EncodeError(ClientError error, std::string_view message) {
  int status = StatusCode(error);
  std::string out = R"({"event":"error","data":{"statusCode":)";
  out += std::to_string(status);
  out += R"(,"error":")";
  out += ReasonPhrase(status);
  out += R"(","message":")";
  AppendJsonEscaped(out, message);
  out += "\"}}";
  return out;
}

std::string EncodeEvent(std::string_view name, std::string_view data_json) {
  std::string out;
  out.reserve(name.size() + data_json.size() + 22);
  out += R"({"event":")";
  out += name;
  if (data_json.empty()) {
    out += "\"}";
    return out;
  }
  out += R"(","data":)";
  out += data_json;
  out += '}';
  return out;
}

std::string_view PongMessage() { return R"({"event":"pong"})"; }

ParseResult ParseCommand(std::string_view message) {
  // Note: the DOM parser validates the whole message, so trailing garbage
  // after a well-formed command is still "invalid JSON". One parser per
  // thread: parsers are not thread-safe but are cheap to reuse.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(message.data(), message.size()).get(root)) {
    return Fail(ClientError::kInvalidJson, "invalid JSON");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    return Fail(ClientError::kNotAnObject, "a command must be a JSON object");
  }
  simdjson::dom::element event_field;
  if (object["event"].get(event_field)) {
    return Fail(ClientError::kBadEventField, "missing \"event\"");
  }
  std::string_view name;
  if (event_field.get_string().get(name)) {
    return Fail(ClientError::kBadEventField, "\"event\" must be a string");
  }
  if (name == "subscribe") return ParsePatternCommand(CommandKind::kSubscribe, name, object);
  if (name == "unsubscribe") return ParsePatternCommand(CommandKind::kUnsubscribe, name, object);
  if (name == "ping") {
    ParseResult result;
    result.ok = true;
    return result;
  }
  return Fail(ClientError::kUnknownCommand, "unknown command " + Quoted(name));
}

}  // namespace herald::protocol
