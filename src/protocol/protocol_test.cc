#include "protocol/protocol.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <string_view>

#include "core/pattern_vectors_for_test.h"

namespace herald::protocol {
namespace {

// Parses s and expects an error of the given kind.
void ExpectError(std::string_view message, ClientError expected) {
  ParseResult result = ParseCommand(message);
  EXPECT_FALSE(result.ok) << message;
  EXPECT_EQ(result.error, expected) << message << " -> " << result.message;
  EXPECT_FALSE(result.message.empty()) << message;
}

// The "message" field of an encoded error, read back with a JSON parser.
std::string MessageOf(const std::string& encoded) {
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(encoded);
  return std::string(std::string_view(root["data"]["message"]));
}

TEST(ParseCommandTest, SubscribeCarriesItsPattern) {
  ParseResult result = ParseCommand(R"({"event":"subscribe","data":"users.*.created"})");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(result.command.kind, CommandKind::kSubscribe);
  EXPECT_EQ(result.command.pattern, "users.*.created");
}

TEST(ParseCommandTest, UnsubscribeCarriesItsPattern) {
  ParseResult result = ParseCommand(R"({"event":"unsubscribe","data":"groups.>"})");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(result.command.kind, CommandKind::kUnsubscribe);
  EXPECT_EQ(result.command.pattern, "groups.>");
}

TEST(ParseCommandTest, FieldOrderAndWhitespaceDoNotMatter) {
  ParseResult result = ParseCommand(" {\n \"data\" : \"a.b\" ,\t\"event\": \"subscribe\" } ");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(result.command.kind, CommandKind::kSubscribe);
  EXPECT_EQ(result.command.pattern, "a.b");
}

TEST(ParseCommandTest, PingWithoutDataIsAccepted) {
  ParseResult result = ParseCommand(R"({"event":"ping"})");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(result.command.kind, CommandKind::kPing);
}

TEST(ParseCommandTest, PingWithAnyDataIsAccepted) {
  for (std::string_view message :
       {R"({"event":"ping","data":"hello"})",
        R"({"event":"ping","data":{"nested":[1,2,{"x":null}]}})", R"({"event":"ping","data":null})",
        R"({"event":"ping","data":42})"}) {
    ParseResult result = ParseCommand(message);
    ASSERT_TRUE(result.ok) << message << " -> " << result.message;
    EXPECT_EQ(result.command.kind, CommandKind::kPing) << message;
  }
}

TEST(ParseCommandTest, InvalidJsonIsRejected) {
  ExpectError("", ClientError::kInvalidJson);
  ExpectError("{", ClientError::kInvalidJson);
  ExpectError(R"({"event":"ping",})", ClientError::kInvalidJson);
  ExpectError(R"({event:"ping"})", ClientError::kInvalidJson);
  ExpectError("not json", ClientError::kInvalidJson);
}

TEST(ParseCommandTest, TrailingGarbageIsInvalidJson) {
  ExpectError(R"({"event":"ping"}x)", ClientError::kInvalidJson);
  ExpectError(R"({"event":"ping"}{"event":"ping"})", ClientError::kInvalidJson);
  ExpectError(R"({"event":"ping"}})", ClientError::kInvalidJson);
}

TEST(ParseCommandTest, NonObjectIsRejected) {
  ExpectError(R"(["subscribe","a.b"])", ClientError::kNotAnObject);
  ExpectError(R"("ping")", ClientError::kNotAnObject);
  ExpectError("42", ClientError::kNotAnObject);
  ExpectError("null", ClientError::kNotAnObject);
}

TEST(ParseCommandTest, MissingEventIsRejected) {
  ExpectError(R"({"data":"a.b"})", ClientError::kBadEventField);
  ExpectError("{}", ClientError::kBadEventField);
}

TEST(ParseCommandTest, NonStringEventIsRejected) {
  ExpectError(R"({"event":1,"data":"a.b"})", ClientError::kBadEventField);
  ExpectError(R"({"event":null})", ClientError::kBadEventField);
  ExpectError(R"({"event":["subscribe"]})", ClientError::kBadEventField);
}

TEST(ParseCommandTest, UnknownCommandIsRejectedAndNamed) {
  ParseResult result = ParseCommand(R"({"event":"publish","data":"a.b"})");
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, ClientError::kUnknownCommand);
  EXPECT_NE(result.message.find("publish"), std::string::npos) << result.message;
}

TEST(ParseCommandTest, CommandNamesAreCaseSensitive) {
  ExpectError(R"({"event":"Subscribe","data":"a.b"})", ClientError::kUnknownCommand);
  ExpectError(R"({"event":"PING"})", ClientError::kUnknownCommand);
}

TEST(ParseCommandTest, NonStringPatternIsRejected) {
  for (std::string_view command : {"subscribe", "unsubscribe"}) {
    std::string prefix = R"({"event":")" + std::string(command) + "\"";
    ExpectError(prefix + "}", ClientError::kBadPatternType);
    ExpectError(prefix + R"(,"data":null})", ClientError::kBadPatternType);
    ExpectError(prefix + R"(,"data":42})", ClientError::kBadPatternType);
    ExpectError(prefix + R"(,"data":["a.b"]})", ClientError::kBadPatternType);
    ExpectError(prefix + R"(,"data":{"pattern":"a.b"}})", ClientError::kBadPatternType);
  }
}

TEST(ParseCommandTest, InvalidPatternsFromTestdataAreRejected) {
  core::testing::PatternVectors vectors = core::testing::LoadPatternVectors();
  ASSERT_FALSE(vectors.invalid_patterns.empty());
  for (const std::string& pattern : vectors.invalid_patterns) {
    for (std::string_view command : {"subscribe", "unsubscribe"}) {
      std::string message = R"({"event":")" + std::string(command) + R"(","data":")";
      AppendJsonEscaped(message, pattern);
      message += "\"}";
      ExpectError(message, ClientError::kInvalidPattern);
    }
  }
}

TEST(ParseCommandTest, ValidPatternsFromTestdataAreAccepted) {
  for (const core::testing::PatternCase& c : core::testing::LoadPatternVectors().cases) {
    ParseResult result = ParseCommand(R"({"event":"subscribe","data":")" + c.pattern + "\"}");
    ASSERT_TRUE(result.ok) << c.pattern << " -> " << result.message;
    EXPECT_EQ(result.command.pattern, c.pattern);
  }
}

TEST(ParseCommandTest, EscapedPatternIsUnescaped) {
  ParseResult result = ParseCommand(R"({"event":"subscribe","data":"users\u002e*"})");
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(result.command.pattern, "users.*");
}

TEST(ParseCommandTest, LongInvalidPatternIsTruncatedInTheMessage) {
  std::string pattern(1000, 'x');
  pattern += "..";
  ParseResult result = ParseCommand(R"({"event":"subscribe","data":")" + pattern + "\"}");
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, ClientError::kInvalidPattern);
  EXPECT_LT(result.message.size(), 120u) << result.message;
  EXPECT_NE(result.message.find("..."), std::string::npos) << result.message;
  EXPECT_NE(result.message.find(std::string(64, 'x')), std::string::npos);
  EXPECT_EQ(result.message.find(std::string(65, 'x')), std::string::npos);
}

TEST(ParseCommandTest, LongUnknownCommandIsTruncatedInTheMessage) {
  std::string name(500, 'q');
  ParseResult result = ParseCommand(R"({"event":")" + name + "\"}");
  EXPECT_EQ(result.error, ClientError::kUnknownCommand);
  EXPECT_LT(result.message.size(), 120u) << result.message;
  EXPECT_EQ(result.message.find(std::string(65, 'q')), std::string::npos);
}

TEST(ParseCommandTest, ShortValuesAreEchoedWhole) {
  ParseResult result = ParseCommand(R"({"event":"subscribe","data":"a..b"})");
  EXPECT_EQ(result.error, ClientError::kInvalidPattern);
  EXPECT_EQ(result.message, "invalid pattern \"a..b\"");
}

// Disabled: echo truncation cuts a multi-byte UTF-8 sequence in half, so the
// error event (a text frame) is not valid UTF-8 and RFC 6455 8.1 makes the
// client fail the connection. Reported to the owner of protocol.cc (Quoted).
TEST(ParseCommandTest, TruncatedEchoStaysValidUtf8) {
  std::string name(63, 'a');
  name += "\xC3\xA9";  // 'é' straddles byte 64
  name += std::string(10, 'b');
  ParseResult result = ParseCommand(R"({"event":")" + name + "\"}");
  ASSERT_EQ(result.error, ClientError::kUnknownCommand);
  EXPECT_TRUE(simdjson::validate_utf8(result.message)) << result.message;
  EXPECT_TRUE(simdjson::validate_utf8(EncodeError(result.error, result.message)));
}

TEST(ClientErrorTest, EveryKindHasItsStatusCode) {
  struct Case {
    ClientError error;
    int status;
    std::string_view label;
  };
  const Case cases[] = {
      {ClientError::kInvalidJson, 400, "invalid_json"},
      {ClientError::kNotAnObject, 400, "not_an_object"},
      {ClientError::kBadEventField, 400, "bad_event_field"},
      {ClientError::kUnknownCommand, 400, "unknown_command"},
      {ClientError::kBadPatternType, 400, "bad_pattern_type"},
      {ClientError::kInvalidPattern, 400, "invalid_pattern"},
      {ClientError::kTooManySubscriptions, 429, "too_many_subscriptions"},
      {ClientError::kRateLimited, 429, "rate_limited"},
      {ClientError::kUnauthorized, 401, "unauthorized"},
      {ClientError::kTooManyConnections, 429, "too_many_connections"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(StatusCode(c.error), c.status) << c.label;
    EXPECT_EQ(MetricLabel(c.error), c.label);
  }
}

TEST(ClientErrorTest, ReasonPhrasesFollowHttp) {
  EXPECT_EQ(ReasonPhrase(400), "Bad Request");
  EXPECT_EQ(ReasonPhrase(401), "Unauthorized");
  EXPECT_EQ(ReasonPhrase(404), "Not Found");
  EXPECT_EQ(ReasonPhrase(413), "Payload Too Large");
  EXPECT_EQ(ReasonPhrase(429), "Too Many Requests");
}

TEST(EncodeErrorTest, MatchesTheErrorResponseShapeByteForByte) {
  EXPECT_EQ(EncodeError(ClientError::kInvalidJson, "invalid JSON"),
            R"({"event":"error","data":{"statusCode":400,"error":"Bad Request",)"
            R"("message":"invalid JSON"}})");
  EXPECT_EQ(EncodeError(ClientError::kRateLimited, "slow down"),
            R"({"event":"error","data":{"statusCode":429,"error":"Too Many Requests",)"
            R"("message":"slow down"}})");
  EXPECT_EQ(EncodeError(ClientError::kUnauthorized, "token expired"),
            R"({"event":"error","data":{"statusCode":401,"error":"Unauthorized",)"
            R"("message":"token expired"}})");
}

TEST(EncodeErrorTest, EscapesQuotesBackslashesAndControlCharacters) {
  std::string message = "say \"hi\" \\ now\n\t";
  message += '\0';
  message += '\x1f';
  std::string encoded = EncodeError(ClientError::kUnknownCommand, message);
  EXPECT_NE(encoded.find(R"(say \"hi\" \\ now\u000a\u0009\u0000\u001f)"), std::string::npos)
      << encoded;
  EXPECT_EQ(MessageOf(encoded), message);
}

TEST(EncodeErrorTest, ParseErrorMessagesRoundTripThroughJson) {
  ParseResult result = ParseCommand(R"({"event":"subscribe","data":"a\"b\\c\nd"})");
  ASSERT_FALSE(result.ok);
  std::string encoded = EncodeError(result.error, result.message);
  EXPECT_EQ(MessageOf(encoded), result.message);
}

TEST(EncodeErrorTest, KeepsNonAsciiTextAsIs) {
  EXPECT_EQ(MessageOf(EncodeError(ClientError::kInvalidPattern, "caf\xC3\xA9")), "caf\xC3\xA9");
}

TEST(AppendJsonEscapedTest, AppendsWithoutQuotes) {
  std::string out = "x";
  AppendJsonEscaped(out, "a\"b");
  EXPECT_EQ(out, R"(xa\"b)");
  AppendJsonEscaped(out, "\x7f");
  EXPECT_EQ(out, "xa\\\"b\x7f");  // DEL is not a JSON control character
}

TEST(EncodeEventTest, WithDataCopiesItByteForByte) {
  EXPECT_EQ(EncodeEvent("users.u1.created", R"({ "name" : "Ash",  "n": 1.50e+3 })"),
            R"({"event":"users.u1.created","data":{ "name" : "Ash",  "n": 1.50e+3 }})");
  EXPECT_EQ(EncodeEvent("a.b", "null"), R"({"event":"a.b","data":null})");
  EXPECT_EQ(EncodeEvent("a.b", R"("\u00e9")"), R"({"event":"a.b","data":"\u00e9"})");
}

TEST(EncodeEventTest, WithoutDataOmitsTheField) {
  EXPECT_EQ(EncodeEvent("groups.g1.deleted", ""), R"({"event":"groups.g1.deleted"})");
}

TEST(PongMessageTest, IsThePongEvent) { EXPECT_EQ(PongMessage(), R"({"event":"pong"})"); }

}  // namespace
}  // namespace herald::protocol
