#include "session/ws_frame.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::session {
namespace {

using namespace std::string_literals;

constexpr char kMaskKey[4] = {'\x37', '\xfa', '\x21', '\x3d'};

struct FrameSpec {
  bool fin = true;
  std::uint8_t opcode = 0x1;
  std::uint8_t rsv = 0;  // already shifted into bits 4-6
  bool masked = true;
};

// The header of a client frame (RFC 6455 section 5.2) announcing length
// payload bytes, with the shortest length encoding and kMaskKey.
std::string ClientHeader(const FrameSpec& spec, std::uint64_t length) {
  std::string out;
  out += static_cast<char>((spec.fin ? 0x80 : 0) | spec.rsv | spec.opcode);
  char mask_bit = spec.masked ? '\x80' : '\0';
  if (length < 126) {
    out += static_cast<char>(mask_bit | static_cast<char>(length));
  } else if (length <= 0xFFFF) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(length >> 8);
    out += static_cast<char>(length & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(length >> shift);
  }
  if (spec.masked) out.append(kMaskKey, 4);
  return out;
}

// A whole client frame: header plus payload masked with kMaskKey.
std::string ClientFrame(const FrameSpec& spec, std::string_view payload) {
  std::string out = ClientHeader(spec, payload.size());
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out += spec.masked ? static_cast<char>(payload[i] ^ kMaskKey[i & 3]) : payload[i];
  }
  return out;
}

std::string Text(std::string_view payload, bool fin = true) {
  return ClientFrame({.fin = fin, .opcode = 0x1}, payload);
}

std::string Continuation(std::string_view payload, bool fin) {
  return ClientFrame({.fin = fin, .opcode = 0x0}, payload);
}

// A payload of n bytes that is valid UTF-8 and not all one byte value.
std::string Payload(std::size_t n) {
  std::string out(n, 'a');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + i % 26);
  return out;
}

// Feeds bytes and reads every message until Next() returns false.
struct ReadAll {
  std::vector<Message> messages;
  FrameError error = FrameError::kNone;
};

ReadAll Feed(FrameReader& reader, std::string_view bytes) {
  reader.Append(bytes);
  ReadAll result;
  Message message;
  while (reader.Next(message, result.error)) result.messages.push_back(message);
  return result;
}

ReadAll FeedOne(std::string_view bytes, std::size_t limit = 1 << 20) {
  FrameReader reader(limit);
  return Feed(reader, bytes);
}

TEST(FrameReaderTest, ReadsMaskedFramesOfEveryLengthEncoding) {
  for (std::size_t length : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 70000u}) {
    std::string payload = Payload(length);
    ReadAll result = FeedOne(Text(payload));
    EXPECT_EQ(result.error, FrameError::kNone) << length;
    ASSERT_EQ(result.messages.size(), 1u) << length;
    EXPECT_EQ(result.messages[0].opcode, Opcode::kText);
    EXPECT_EQ(result.messages[0].payload, payload) << length;
  }
}

TEST(FrameReaderTest, ReadsBinaryFrames) {
  std::string payload = "\x00\xff\xfe\x80"s;
  ReadAll result = FeedOne(ClientFrame({.opcode = 0x2}, payload));
  EXPECT_EQ(result.error, FrameError::kNone);
  ASSERT_EQ(result.messages.size(), 1u);
  EXPECT_EQ(result.messages[0].opcode, Opcode::kBinary);
  EXPECT_EQ(result.messages[0].payload, payload);
}

TEST(FrameReaderTest, ReadsSeveralFramesFromOneAppend) {
  ReadAll result = FeedOne(Text("one") + Text("two") + Text("three"));
  EXPECT_EQ(result.error, FrameError::kNone);
  ASSERT_EQ(result.messages.size(), 3u);
  EXPECT_EQ(result.messages[0].payload, "one");
  EXPECT_EQ(result.messages[1].payload, "two");
  EXPECT_EQ(result.messages[2].payload, "three");
}

TEST(FrameReaderTest, ReassemblesFragmentedText) {
  ReadAll result =
      FeedOne(Text("Hel", false) + Continuation("lo, ", false) + Continuation("world", true));
  EXPECT_EQ(result.error, FrameError::kNone);
  ASSERT_EQ(result.messages.size(), 1u);
  EXPECT_EQ(result.messages[0].opcode, Opcode::kText);
  EXPECT_EQ(result.messages[0].payload, "Hello, world");
}

TEST(FrameReaderTest, ReassemblesFragmentedBinaryAsBinary) {
  ReadAll result = FeedOne(ClientFrame({.fin = false, .opcode = 0x2}, "ab") +
                           Continuation("cd", true) + Text("next"));
  ASSERT_EQ(result.messages.size(), 2u);
  EXPECT_EQ(result.messages[0].opcode, Opcode::kBinary);
  EXPECT_EQ(result.messages[0].payload, "abcd");
  EXPECT_EQ(result.messages[1].opcode, Opcode::kText);
  EXPECT_EQ(result.messages[1].payload, "next");
}

TEST(FrameReaderTest, ControlFrameBetweenFragmentsComesOutFirst) {
  ReadAll result = FeedOne(Text("frag", false) + ClientFrame({.opcode = 0x9}, "are you there") +
                           Continuation("ment", true));
  EXPECT_EQ(result.error, FrameError::kNone);
  ASSERT_EQ(result.messages.size(), 2u);
  EXPECT_EQ(result.messages[0].opcode, Opcode::kPing);
  EXPECT_EQ(result.messages[0].payload, "are you there");
  EXPECT_EQ(result.messages[1].opcode, Opcode::kText);
  EXPECT_EQ(result.messages[1].payload, "fragment");
}

TEST(FrameReaderTest, ReadsPongAndCloseFrames) {
  std::string close_payload = "\x03\xe8"s + "bye";
  ReadAll result =
      FeedOne(ClientFrame({.opcode = 0xA}, "") + ClientFrame({.opcode = 0x8}, close_payload));
  ASSERT_EQ(result.messages.size(), 2u);
  EXPECT_EQ(result.messages[0].opcode, Opcode::kPong);
  EXPECT_EQ(result.messages[1].opcode, Opcode::kClose);
  EXPECT_EQ(result.messages[1].payload, close_payload);
}

TEST(FrameReaderTest, UnmaskedClientFrameIsAProtocolError) {
  ReadAll result = FeedOne(ClientFrame({.masked = false}, "hello"));
  EXPECT_TRUE(result.messages.empty());
  EXPECT_EQ(result.error, FrameError::kProtocol);
}

TEST(FrameReaderTest, ReservedBitsAreAProtocolError) {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    ReadAll result = FeedOne(ClientFrame({.rsv = rsv}, "hello"));
    EXPECT_TRUE(result.messages.empty()) << int(rsv);
    EXPECT_EQ(result.error, FrameError::kProtocol) << int(rsv);
  }
}

TEST(FrameReaderTest, UnknownOpcodesAreAProtocolError) {
  for (std::uint8_t opcode : {0x3, 0x4, 0x7, 0xB, 0xF}) {
    ReadAll result = FeedOne(ClientFrame({.opcode = opcode}, "x"));
    EXPECT_TRUE(result.messages.empty()) << int(opcode);
    EXPECT_EQ(result.error, FrameError::kProtocol) << int(opcode);
  }
}

TEST(FrameReaderTest, ControlFrameOver125BytesIsAProtocolError) {
  EXPECT_EQ(FeedOne(ClientFrame({.opcode = 0x9}, Payload(125))).error, FrameError::kNone);
  for (std::uint8_t opcode : {0x8, 0x9, 0xA}) {
    ReadAll result = FeedOne(ClientFrame({.opcode = opcode}, Payload(126)));
    EXPECT_TRUE(result.messages.empty()) << int(opcode);
    EXPECT_EQ(result.error, FrameError::kProtocol) << int(opcode);
  }
}

TEST(FrameReaderTest, FragmentedControlFrameIsAProtocolError) {
  for (std::uint8_t opcode : {0x8, 0x9, 0xA}) {
    ReadAll result = FeedOne(ClientFrame({.fin = false, .opcode = opcode}, "x"));
    EXPECT_TRUE(result.messages.empty()) << int(opcode);
    EXPECT_EQ(result.error, FrameError::kProtocol) << int(opcode);
  }
}

TEST(FrameReaderTest, ContinuationWithoutStartIsAProtocolError) {
  EXPECT_EQ(FeedOne(Continuation("x", true)).error, FrameError::kProtocol);
  EXPECT_EQ(FeedOne(Continuation("x", false)).error, FrameError::kProtocol);
  // And after a complete message, too.
  ReadAll result = FeedOne(Text("done") + Continuation("x", true));
  EXPECT_EQ(result.messages.size(), 1u);
  EXPECT_EQ(result.error, FrameError::kProtocol);
}

TEST(FrameReaderTest, NewDataFrameInsideAFragmentedMessageIsAProtocolError) {
  ReadAll result = FeedOne(Text("a", false) + Text("b"));
  EXPECT_TRUE(result.messages.empty());
  EXPECT_EQ(result.error, FrameError::kProtocol);
}

TEST(FrameReaderTest, MessageAtTheLimitIsAccepted) {
  ReadAll result = FeedOne(Text(Payload(4096)), 4096);
  EXPECT_EQ(result.error, FrameError::kNone);
  EXPECT_EQ(result.messages.size(), 1u);
}

TEST(FrameReaderTest, OversizedFrameIsRefusedFromTheHeaderAlone) {
  for (std::uint64_t length : {4097ull, 65536ull, 1ull << 40, ~0ull}) {
    FrameReader reader(4096);
    ReadAll result = Feed(reader, ClientHeader({}, length));  // no payload byte sent
    EXPECT_TRUE(result.messages.empty()) << length;
    EXPECT_EQ(result.error, FrameError::kTooBig) << length;
  }
}

TEST(FrameReaderTest, IncompleteHeaderWaitsForMoreBytes) {
  std::string header = ClientHeader({}, 70000);
  FrameReader reader(4096);
  ReadAll partial = Feed(reader, header.substr(0, header.size() - 1));
  EXPECT_EQ(partial.error, FrameError::kNone);
  EXPECT_EQ(Feed(reader, header.substr(header.size() - 1)).error, FrameError::kTooBig);
}

TEST(FrameReaderTest, FragmentsAddingUpOverTheLimitAreTooBig) {
  FrameReader reader(100);
  ReadAll first = Feed(reader, Text(Payload(60), false));
  EXPECT_EQ(first.error, FrameError::kNone);
  ReadAll second = Feed(reader, ClientHeader({.fin = true, .opcode = 0x0}, 41));
  EXPECT_TRUE(second.messages.empty());
  EXPECT_EQ(second.error, FrameError::kTooBig);
}

TEST(FrameReaderTest, FragmentsAddingUpToTheLimitAreAccepted) {
  ReadAll result = FeedOne(Text(Payload(60), false) + Continuation(Payload(40), true), 100);
  EXPECT_EQ(result.error, FrameError::kNone);
  ASSERT_EQ(result.messages.size(), 1u);
  EXPECT_EQ(result.messages[0].payload.size(), 100u);
}

TEST(FrameReaderTest, ControlFramesDoNotCountTowardsTheMessageLimit) {
  ReadAll result = FeedOne(Text(Payload(90), false) + ClientFrame({.opcode = 0x9}, Payload(100)) +
                               Continuation(Payload(10), true),
                           100);
  EXPECT_EQ(result.error, FrameError::kNone);
  EXPECT_EQ(result.messages.size(), 2u);
}

TEST(FrameReaderTest, InvalidUtf8TextIsRefused) {
  for (std::string_view bad : {std::string_view("\xff"), std::string_view("a\xc3"),
                               std::string_view("\xed\xa0\x80"),  // UTF-16 surrogate
                               std::string_view("\xc0\xaf")}) {   // overlong '/'
    ReadAll result = FeedOne(Text(bad));
    EXPECT_TRUE(result.messages.empty());
    EXPECT_EQ(result.error, FrameError::kInvalidUtf8);
  }
}

TEST(FrameReaderTest, Utf8IsCheckedOnTheWholeMessageNotPerFragment) {
  // "é" split across two fragments is valid once reassembled.
  ReadAll result = FeedOne(Text("caf\xc3", false) + Continuation("\xa9", true));
  EXPECT_EQ(result.error, FrameError::kNone);
  ASSERT_EQ(result.messages.size(), 1u);
  EXPECT_EQ(result.messages[0].payload, "caf\xc3\xa9");

  ReadAll truncated = FeedOne(Text("ok", false) + Continuation("caf\xc3", true));
  EXPECT_EQ(truncated.error, FrameError::kInvalidUtf8);
}

TEST(FrameReaderTest, BinaryIsNotCheckedForUtf8) {
  ReadAll result = FeedOne(ClientFrame({.opcode = 0x2}, "\xff\xfe"));
  EXPECT_EQ(result.error, FrameError::kNone);
  EXPECT_EQ(result.messages.size(), 1u);
}

TEST(FrameReaderTest, ByteAtATimeFeedingGivesTheSameMessages) {
  std::string stream = Text("hello") + Text(Payload(300)) + Text("frag", false) +
                       ClientFrame({.opcode = 0x9}, "p") + Continuation("mented", true) +
                       Text(Payload(70000));
  FrameReader reader(1 << 20);
  std::vector<Message> messages;
  for (char c : stream) {
    ReadAll step = Feed(reader, std::string_view(&c, 1));
    ASSERT_EQ(step.error, FrameError::kNone);
    for (Message& m : step.messages) messages.push_back(std::move(m));
  }
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[0].payload, "hello");
  EXPECT_EQ(messages[1].payload, Payload(300));
  EXPECT_EQ(messages[2].opcode, Opcode::kPing);
  EXPECT_EQ(messages[3].payload, "fragmented");
  EXPECT_EQ(messages[4].payload, Payload(70000));
}

TEST(FrameReaderTest, ManyMessagesAcrossCompactionsStayIntact) {
  // Enough traffic to pass the reader's 4 KiB compaction threshold many times,
  // with frames split across Append calls.
  std::string stream;
  for (int i = 0; i < 500; ++i) stream += Text("message-" + std::to_string(i));
  FrameReader reader(4096);
  std::vector<std::string> payloads;
  for (std::size_t at = 0; at < stream.size(); at += 7) {
    ReadAll step = Feed(reader, std::string_view(stream).substr(at, 7));
    ASSERT_EQ(step.error, FrameError::kNone);
    for (Message& m : step.messages) payloads.push_back(m.payload);
  }
  ASSERT_EQ(payloads.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(payloads[i], "message-" + std::to_string(i));
}

TEST(CloseCodeForTest, MapsEachErrorToItsCloseCode) {
  EXPECT_EQ(CloseCodeFor(FrameError::kProtocol), protocol::CloseCode::kProtocolError);
  EXPECT_EQ(CloseCodeFor(FrameError::kTooBig), protocol::CloseCode::kMessageTooBig);
  EXPECT_EQ(CloseCodeFor(FrameError::kInvalidUtf8), protocol::CloseCode::kInvalidPayload);
}

TEST(EncodeFrameTest, UsesTheShortestLengthEncoding) {
  struct Case {
    std::size_t length;
    std::string header;
  };
  const Case cases[] = {
      {0, "\x81\x00"s},
      {125, "\x81\x7d"s},
      {126, "\x81\x7e\x00\x7e"s},
      {65535, "\x81\x7e\xff\xff"s},
      {65536, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"s},
  };
  for (const Case& c : cases) {
    std::string payload = Payload(c.length);
    std::string frame = EncodeFrame(Opcode::kText, payload);
    ASSERT_EQ(frame.size(), c.header.size() + c.length) << c.length;
    EXPECT_EQ(frame.substr(0, c.header.size()), c.header) << c.length;
    EXPECT_EQ(frame.substr(c.header.size()), payload) << c.length;
  }
}

TEST(EncodeFrameTest, SetsFinAndOpcodeAndNoMask) {
  EXPECT_EQ(EncodeFrame(Opcode::kPing, "x"), "\x89\x01x");
  EXPECT_EQ(EncodeFrame(Opcode::kBinary, "ab"),
            "\x82\x02"
            "ab");
}

TEST(EncodeCloseFrameTest, CarriesTheCodeThenTheReason) {
  EXPECT_EQ(EncodeCloseFrame(protocol::CloseCode::kUnauthorized, "token expired"),
            "\x88\x0f\x11\x31token expired");
  EXPECT_EQ(EncodeCloseFrame(protocol::CloseCode::kGoingAway, ""), "\x88\x02\x03\xe9");
}

TEST(EncodeCloseFrameTest, TruncatesTheReasonToFitAControlFrame) {
  std::string frame = EncodeCloseFrame(protocol::CloseCode::kMessageTooBig, Payload(500));
  ASSERT_EQ(frame.size(), 2u + 125u);
  EXPECT_EQ(frame.substr(0, 4), "\x88\x7d\x03\xf1");
  EXPECT_EQ(frame.substr(4), Payload(123));
}

}  // namespace
}  // namespace herald::session
