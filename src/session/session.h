// One authenticated WebSocket connection: its commands, its subscriptions
// and its queue of outgoing frames.
//
// Owner: the shard thread that accepted the socket. Every method runs on
// that thread; nothing here is locked. The session is held by shared_ptr
// from its own pending operations; the shard keeps a raw pointer in its
// subscription index until SessionHost::SessionClosed, which is the last
// call a session makes to its host.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "protocol/protocol.h"
#include "session/asio.h"
#include "session/frame_queue.h"
#include "session/stats.h"
#include "session/subscriber.h"
#include "session/ws_frame.h"

namespace herald::session {

// Builds a shared text frame holding message.
FramePtr MakeTextFrame(std::string_view message);

// Per-connection limits (DESIGN.md section 1, "Limits"); config fills them.
struct SessionLimits {
  std::size_t max_message_bytes = 4096;
  std::size_t max_subscriptions = 512;
  double commands_per_s = 100;
  double command_burst = 200;
  // Commands refused for rate before the connection is closed with 1008;
  // the count starts over once the client lets its bucket fill up again.
  int rate_abuse_limit = 100;
  std::size_t max_queue_bytes = 4 << 20;
  std::chrono::milliseconds ping_interval{30000};
  std::chrono::milliseconds ping_timeout{10000};
  // How long a closing session waits for the peer's close frame (or for a
  // stuck write) before it drops the socket.
  std::chrono::milliseconds close_timeout{2000};
};

class Session;

// What a session needs from the shard that owns it.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual void AddSubscription(Subscriber& session, const std::string& pattern) = 0;
  virtual void RemoveSubscription(Subscriber& session, const std::string& pattern) = 0;
  // Last call: the host forgets the session (and its subscriptions).
  virtual void SessionClosed(Subscriber& session) = 0;
};

class Session : public Subscriber, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, SessionHost& host, SessionStats& stats, const SessionLimits& limits,
          std::uint64_t id, std::string user);
  ~Session();

  // Starts reading. leftover holds bytes read past the upgrade request.
  // exp_deadline, when set, is when the token stops being valid.
  void Start(std::string_view leftover,
             std::optional<std::chrono::steady_clock::time_point> exp_deadline);

  // Sends one error event and then closes; used for refusals at connect.
  void Refuse(protocol::ClientError error, std::string_view message, protocol::CloseCode code);

  // Queues a shared frame without writing it yet; Flush() starts the write.
  // A session whose queue would pass the limit is closed with 1013 instead
  // (the frame is dropped and counted).
  void Deliver(const FramePtr& frame) override;
  void Flush() override;

  // Starts the closing handshake; the session ends when the peer answers or
  // after close_timeout. Further deliveries are dropped.
  void Close(protocol::CloseCode code, std::string_view reason);

  std::uint64_t id() const { return id_; }
  bool open() const { return state_ == State::kOpen; }

 private:
  enum class State { kOpen, kClosing, kClosed };

  void DoRead();
  void OnReadable(const boost::system::error_code& ec);
  bool Consume(std::string_view bytes);
  bool HandleMessage(Message& message);
  void HandleCommand(std::string_view text);
  void AnswerPing(std::string_view payload);
  static std::string EchoClose(std::string_view payload);
  bool TakeCommandToken();
  void Subscribe(std::string pattern);
  void Unsubscribe(const std::string& pattern);
  void SendError(protocol::ClientError error, std::string_view message);

  // Queues a frame; write_now starts the write at once (replies, control
  // frames) instead of waiting for the shard's Flush (events).
  void Enqueue(FramePtr frame, bool write_now = true);
  void DoWrite();
  void OnWrite(const boost::system::error_code& ec);

  void ArmKeepalive(std::chrono::steady_clock::duration delay);
  void OnKeepalive();
  void OnTokenExpired();
  void Finish();

  tcp::socket socket_;
  SessionHost& host_;
  SessionStats& stats_;
  const SessionLimits& limits_;
  const std::uint64_t id_;
  State state_ = State::kOpen;

  FrameReader reader_;
  bool discard_input_ = false;
  std::chrono::steady_clock::time_point last_read_;

  double command_tokens_;
  std::chrono::steady_clock::time_point last_refill_;
  int rate_refusals_ = 0;

  FrameQueue queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t in_flight_ = 0;  // frames at the front of queue_ being written
  std::vector<asio::const_buffer> gather_;
  bool finish_after_write_ = false;
  std::optional<std::string> pending_pong_;  // latest ping's payload, unanswered

  asio::steady_timer keepalive_timer_;
  asio::steady_timer expiry_timer_;
  asio::steady_timer close_timer_;
  bool awaiting_pong_ = false;
  std::chrono::steady_clock::time_point ping_sent_;
};

}  // namespace herald::session
