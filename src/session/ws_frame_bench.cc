// What framing costs on both paths of a connection: encoding an outgoing
// event once per event (DESIGN.md section 4: the router builds the shared
// frame, never a session), and unmasking and checking an inbound command.
#include <benchmark/benchmark.h>

#include <string>

#include "protocol/protocol.h"
#include "session/session.h"
#include "session/ws_frame.h"

namespace herald::session {
namespace {

const std::string kEventName =
    "groups.64d63e71a429af2721a16d70.messages.64d63e71a429af2721a16d71.created";

std::string Payload(std::size_t bytes) {
  std::string data = R"({"sender":"64d63e71a429af2721a16d72","body":")";
  data.append(bytes > data.size() + 2 ? bytes - data.size() - 2 : 0, 'x');
  return data + "\"}";
}

// A masked client frame (RFC 6455 5.3) carrying message.
std::string ClientFrame(std::string_view message) {
  std::string frame;
  frame += static_cast<char>(0x81);
  if (message.size() < 126) {
    frame += static_cast<char>(0x80 | message.size());
  } else {
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(message.size() >> 8);
    frame += static_cast<char>(message.size() & 0xFF);
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  frame.append(mask, 4);
  for (std::size_t i = 0; i < message.size(); ++i) frame += message[i] ^ mask[i & 3];
  return frame;
}

// The router's work per event: the event JSON, then the frame, in a shared
// buffer that every receiver writes.
void BM_EncodeSharedEventFrame(benchmark::State& state) {
  std::string data = Payload(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    FramePtr frame = MakeTextFrame(protocol::EncodeEvent(kEventName, data));
    benchmark::DoNotOptimize(frame.get());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(data.size() + kEventName.size()));
}
BENCHMARK(BM_EncodeSharedEventFrame)->Arg(64)->Arg(512)->Arg(4096);

// Only the frame header and copy, for a message already encoded.
void BM_EncodeFrame(benchmark::State& state) {
  std::string message =
      protocol::EncodeEvent(kEventName, Payload(static_cast<std::size_t>(state.range(0))));
  for (auto _ : state) {
    std::string frame = EncodeFrame(Opcode::kText, message);
    benchmark::DoNotOptimize(frame.data());
  }
}
BENCHMARK(BM_EncodeFrame)->Arg(64)->Arg(512)->Arg(4096);

// A session's inbound path for one subscribe command: unmask, check the
// header and UTF-8, hand out the message. Several commands arrive per read.
void BM_ReadCommandFrames(benchmark::State& state) {
  std::string bytes;
  for (int i = 0; i < 16; ++i) {
    bytes += ClientFrame(R"({"event":"subscribe","data":"groups.64d63e71a429af2721a16d70.*"})");
  }
  FrameReader reader(4096);
  Message message;
  FrameError error;
  for (auto _ : state) {
    reader.Append(bytes);
    int count = 0;
    while (reader.Next(message, error)) ++count;
    if (count != 16 || error != FrameError::kNone) state.SkipWithError("frames not read back");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 16);
}
BENCHMARK(BM_ReadCommandFrames);

}  // namespace
}  // namespace herald::session
