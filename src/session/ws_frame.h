// WebSocket framing (RFC 6455 section 5) for the server side.
//
// Herald frames its own messages instead of going through a WebSocket
// library's per-message write: a server frame is unmasked, so the bytes of
// an event frame are the same for every receiver. The router encodes each
// event once into a shared buffer and every session writes those same bytes,
// several queued frames per system call (DESIGN.md section 4, "Writes").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/protocol.h"

namespace herald::session {

enum class Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Encodes one final, unmasked frame carrying payload.
std::string EncodeFrame(Opcode opcode, std::string_view payload);

// Encodes a close frame with a status code and a short reason (RFC 6455
// section 5.5.1: at most 123 bytes of reason fit in a control frame).
std::string EncodeCloseFrame(protocol::CloseCode code, std::string_view reason);

// What went wrong in the inbound byte stream; each maps to a close code.
enum class FrameError { kNone, kProtocol, kTooBig, kInvalidUtf8 };

protocol::CloseCode CloseCodeFor(FrameError error);

// One complete data message (kText or kBinary) or one control frame.
struct Message {
  Opcode opcode = Opcode::kText;
  std::string payload;
};

// Reassembles client frames into messages. Thread-confined to its session.
//
// Enforces the rules a server must (RFC 6455 section 5.1: client frames are
// masked; 5.2: reserved bits clear; 5.4: control frames are not fragmented
// and carry at most 125 bytes; 5.6 and 8.1: text is UTF-8) and the
// configured message size limit, which is checked from the frame header
// before the payload is buffered, so a peer cannot make the server hold more
// than about max_message_bytes for one message.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  void Append(std::string_view bytes) { buffer_.append(bytes); }

  // Takes the next complete message out of the appended bytes. Returns false
  // when more bytes are needed or on error (error != kNone). After an error
  // the reader must not be used again.
  bool Next(Message& out, FrameError& error);

 private:
  struct Header {
    bool fin = false;
    Opcode opcode = Opcode::kText;
    std::size_t header_bytes = 0;
    std::uint64_t payload_bytes = 0;
    const char* mask = nullptr;
  };

  // Parses the frame header at the front of bytes; false if incomplete.
  static bool ParseHeader(std::string_view bytes, Header& header, FrameError& error);
  FrameError CheckHeader(const Header& header) const;

  std::size_t max_message_bytes_;
  std::string buffer_;  // bytes not yet parsed
  std::size_t offset_ = 0;
  std::string message_;  // data message being reassembled
  Opcode message_opcode_ = Opcode::kText;
  bool in_message_ = false;
};

}  // namespace herald::session
