#include "session/ws_frame.h"

#include <simdjson.h>

namespace herald::session {
namespace {

constexpr std::uint8_t kFinBit = 0x80;
constexpr std::uint8_t kReservedBits = 0x70;
constexpr std::uint8_t kMaskBit = 0x80;
constexpr std::size_t kMaxControlPayload = 125;  // RFC 6455 section 5.5

bool IsControl(Opcode opcode) { return static_cast<std::uint8_t>(opcode) >= 0x8; }

bool IsKnown(std::uint8_t opcode) { return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA); }

void AppendHeader(std::string& out, Opcode opcode, std::size_t length) {
  out += static_cast<char>(kFinBit | static_cast<std::uint8_t>(opcode));
  if (length < 126) {
    out += static_cast<char>(length);
  } else if (length <= 0xFFFF) {
    out += static_cast<char>(126);
    out += static_cast<char>(length >> 8);
    out += static_cast<char>(length & 0xFF);
  } else {
    out += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(length >> shift);
  }
}

}  // namespace

std::string EncodeFrame(Opcode opcode, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  AppendHeader(out, opcode, payload.size());
  out += payload;
  return out;
}

std::string EncodeCloseFrame(protocol::CloseCode code, std::string_view reason) {
  auto value = static_cast<std::uint16_t>(code);
  std::string payload;
  payload += static_cast<char>(value >> 8);
  payload += static_cast<char>(value & 0xFF);
  payload += reason.substr(0, kMaxControlPayload - 2);
  return EncodeFrame(Opcode::kClose, payload);
}

protocol::CloseCode CloseCodeFor(FrameError error) {
  switch (error) {
    case FrameError::kTooBig:
      return protocol::CloseCode::kMessageTooBig;
    case FrameError::kInvalidUtf8:
      return protocol::CloseCode::kInvalidPayload;
    default:
      return protocol::CloseCode::kProtocolError;
  }
}

bool FrameReader::ParseHeader(std::string_view bytes, Header& header, FrameError& error) {
  if (bytes.size() < 2) return false;
  auto b0 = static_cast<std::uint8_t>(bytes[0]);
  auto b1 = static_cast<std::uint8_t>(bytes[1]);
  if ((b0 & kReservedBits) || !IsKnown(b0 & 0x0F) || !(b1 & kMaskBit)) {
    error = FrameError::kProtocol;  // RFC 6455 5.1 (mask) and 5.2 (RSV, opcode)
    return false;
  }
  header.fin = b0 & kFinBit;
  header.opcode = static_cast<Opcode>(b0 & 0x0F);
  std::size_t length_bytes = (b1 & 0x7F) == 126 ? 2 : (b1 & 0x7F) == 127 ? 8 : 0;
  header.header_bytes = 2 + length_bytes + 4;
  if (bytes.size() < header.header_bytes) return false;
  header.payload_bytes = b1 & 0x7F;
  if (length_bytes > 0) {
    header.payload_bytes = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) {
      header.payload_bytes = (header.payload_bytes << 8) | static_cast<std::uint8_t>(bytes[2 + i]);
    }
  }
  header.mask = bytes.data() + 2 + length_bytes;
  return true;
}

FrameError FrameReader::CheckHeader(const Header& header) const {
  if (IsControl(header.opcode)) {
    // RFC 6455 5.5: control frames are short and never fragmented.
    if (!header.fin || header.payload_bytes > kMaxControlPayload) return FrameError::kProtocol;
    return FrameError::kNone;
  }
  bool continuation = header.opcode == Opcode::kContinuation;
  if (continuation != in_message_) return FrameError::kProtocol;  // RFC 6455 5.4
  std::uint64_t so_far = continuation ? message_.size() : 0;
  if (header.payload_bytes > max_message_bytes_ - so_far) return FrameError::kTooBig;
  return FrameError::kNone;
}

bool FrameReader::Next(Message& out, FrameError& error) {
  error = FrameError::kNone;
  while (true) {
    std::string_view rest(buffer_.data() + offset_, buffer_.size() - offset_);
    Header header;
    if (!ParseHeader(rest, header, error)) break;
    if ((error = CheckHeader(header)) != FrameError::kNone) return false;
    if (rest.size() - header.header_bytes < header.payload_bytes) break;

    std::string_view masked = rest.substr(header.header_bytes, header.payload_bytes);
    std::string payload(masked);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] ^= header.mask[i & 3];
    offset_ += header.header_bytes + header.payload_bytes;

    if (IsControl(header.opcode)) {
      out.opcode = header.opcode;
      out.payload = std::move(payload);
      return true;
    }
    if (header.opcode != Opcode::kContinuation) {
      message_opcode_ = header.opcode;
      message_.clear();
    }
    message_ += payload;
    in_message_ = !header.fin;
    if (in_message_) continue;

    if (message_opcode_ == Opcode::kText && !simdjson::validate_utf8(message_)) {
      error = FrameError::kInvalidUtf8;
      return false;
    }
    out.opcode = message_opcode_;
    out.payload = std::move(message_);
    message_.clear();
    return true;
  }
  if (error != FrameError::kNone) return false;
  // Drop parsed bytes once in a while rather than after every frame. When
  // all are parsed, free the buffer too: most connections send a few
  // commands and then only listen, and each would keep its largest read.
  if (offset_ > 0 && offset_ == buffer_.size()) {
    std::string().swap(buffer_);
    offset_ = 0;
  } else if (offset_ > 4096) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return false;
}

}  // namespace herald::session
