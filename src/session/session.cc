#include "session/session.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/name.h"

namespace herald::session {
namespace {

using Clock = std::chrono::steady_clock;
using protocol::ClientError;
using protocol::CloseCode;

// Frames handed to the kernel in one gathered write: enough to amortize the
// system call (DESIGN.md section 4 measured 16 per write at ~3M/s), well
// under IOV_MAX (1024).
constexpr std::size_t kMaxGather = 256;

// Expected endings of a socket operation that need no log line.
bool IsQuietEnding(const boost::system::error_code& ec) {
  return ec == asio::error::operation_aborted || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::bad_descriptor;
}

// What one queued frame costs besides its bytes (queue slot, shared
// pointer, allocation), so that many tiny frames count for what they hold.
constexpr std::size_t kQueueOverheadBytes = 64;

std::size_t QueueCost(const std::string& frame) { return frame.size() + kQueueOverheadBytes; }

}  // namespace

std::string_view MetricLabel(DropReason reason) {
  switch (reason) {
    case DropReason::kSlowConsumer:
      return "slow_consumer";
    case DropReason::kPingTimeout:
      return "ping_timeout";
    case DropReason::kRateAbuse:
      return "rate_abuse";
    case DropReason::kFrameTooBig:
      return "frame_too_big";
    case DropReason::kInvalidUtf8:
      return "invalid_utf8";
    case DropReason::kProtocolError:
      return "protocol_error";
    case DropReason::kTokenExpired:
      return "token_expired";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

FramePtr MakeTextFrame(std::string_view message) {
  return std::make_shared<const std::string>(EncodeFrame(Opcode::kText, message));
}

Session::Session(tcp::socket socket, SessionHost& host, SessionStats& stats,
                 const SessionLimits& limits, std::uint64_t id, std::string user)
    : Subscriber(std::move(user)),
      socket_(std::move(socket)),
      host_(host),
      stats_(stats),
      limits_(limits),
      id_(id),
      reader_(limits.max_message_bytes),
      command_tokens_(limits.command_burst),
      last_refill_(Clock::now()),
      keepalive_timer_(socket_.get_executor()),
      expiry_timer_(socket_.get_executor()),
      close_timer_(socket_.get_executor()) {
  stats_.connections.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() { stats_.connections.fetch_sub(1, std::memory_order_relaxed); }

void Session::Start(std::string_view leftover, std::optional<Clock::time_point> exp_deadline) {
  last_read_ = Clock::now();
  ArmKeepalive(limits_.ping_interval);
  if (exp_deadline) {
    expiry_timer_.expires_at(*exp_deadline);
    expiry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->OnTokenExpired();
    });
  }
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
  if (!leftover.empty() && !Consume(leftover)) return;
  DoRead();
}

void Session::Refuse(ClientError error, std::string_view message, CloseCode code) {
  last_read_ = Clock::now();
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
  SendError(error, message);
  Close(code, message);
  DoRead();
}

// Waits for the socket to become readable instead of reading into a buffer
// of the session's own: an idle connection then holds no read buffer, and
// all sessions of a shard share one (idle memory per connection, issue 4).
void Session::DoRead() {
  socket_.async_wait(
      tcp::socket::wait_read,
      [self = shared_from_this()](const boost::system::error_code& ec) { self->OnReadable(ec); });
}

void Session::OnReadable(const boost::system::error_code& wait_error) {
  if (state_ == State::kClosed) return;
  // One buffer per shard thread; its contents are consumed before returning.
  thread_local std::array<char, 64 * 1024> buffer;
  boost::system::error_code ec = wait_error;
  std::size_t bytes = 0;
  if (!ec) bytes = socket_.read_some(asio::buffer(buffer), ec);
  if (ec == asio::error::would_block) return DoRead();
  if (ec) {
    if (!IsQuietEnding(ec)) spdlog::debug("conn={} read error={}", id_, ec.message());
    Finish();
    return;
  }
  last_read_ = Clock::now();
  if (discard_input_) return DoRead();
  if (Consume(std::string_view(buffer.data(), bytes))) DoRead();
}

// Feeds bytes to the frame reader and handles every complete message.
// Returns false when the session has finished and must stop reading.
bool Session::Consume(std::string_view bytes) {
  reader_.Append(bytes);
  Message message;
  FrameError error;
  while (reader_.Next(message, error)) {
    if (!HandleMessage(message)) return false;
  }
  if (error == FrameError::kNone) return true;

  DropReason reason = error == FrameError::kTooBig        ? DropReason::kFrameTooBig
                      : error == FrameError::kInvalidUtf8 ? DropReason::kInvalidUtf8
                                                          : DropReason::kProtocolError;
  stats_.Count(reason);
  spdlog::debug("conn={} closing reason={}", id_, MetricLabel(reason));
  // The rest of the stream cannot be parsed: send the close frame, ignore
  // what the peer still sends (a too-big frame's payload), and end the TCP
  // connection once the close frame is out (RFC 6455 section 7.1.7).
  discard_input_ = true;
  reader_ = FrameReader(0);
  Close(CloseCodeFor(error), MetricLabel(reason));
  finish_after_write_ = true;
  return state_ != State::kClosed;
}

// Returns false when the session has finished and must stop reading.
bool Session::HandleMessage(Message& message) {
  switch (message.opcode) {
    case Opcode::kPing:
      if (state_ == State::kOpen) AnswerPing(message.payload);
      return true;
    case Opcode::kPong:
      return true;
    case Opcode::kClose:
      if (state_ == State::kClosing) {
        Finish();
        return false;
      }
      // RFC 6455 5.5.1: echo the peer's close, then end the connection.
      state_ = State::kClosing;
      Enqueue(std::make_shared<const std::string>(EchoClose(message.payload)));
      close_timer_.expires_after(limits_.close_timeout);
      close_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->Finish();
      });
      finish_after_write_ = true;
      return true;
    default:
      if (state_ == State::kOpen) HandleCommand(message.payload);
      return true;
  }
}

// RFC 6455 5.5.3: a pong may answer only the latest of several pings. At
// most one pong waits for the next write, so a peer that floods pings and
// never reads cannot grow the queue with them.
void Session::AnswerPing(std::string_view payload) {
  pending_pong_ = std::string(payload);
  if (in_flight_ == 0) DoWrite();
}

// The close frame that answers the peer's (RFC 6455 5.5.1 and 7.4): its
// code when it is one an endpoint may send, 1002 for a malformed payload,
// 1007 for a reason that is not UTF-8.
std::string Session::EchoClose(std::string_view payload) {
  if (payload.empty()) return EncodeFrame(Opcode::kClose, {});
  if (payload.size() == 1) return EncodeCloseFrame(CloseCode::kProtocolError, "bad close frame");
  unsigned code =
      (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
  bool sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                  (code >= 3000 && code <= 4999);
  if (!sendable) return EncodeCloseFrame(CloseCode::kProtocolError, "bad close code");
  if (!simdjson::validate_utf8(payload.substr(2))) {
    return EncodeCloseFrame(CloseCode::kInvalidPayload, "close reason is not UTF-8");
  }
  return EncodeFrame(Opcode::kClose, payload.substr(0, 2));
}

void Session::HandleCommand(std::string_view text) {
  stats_.commands_in.fetch_add(1, std::memory_order_relaxed);
  if (!TakeCommandToken()) return;

  protocol::ParseResult parsed = protocol::ParseCommand(text);
  if (!parsed.ok) {
    SendError(parsed.error, parsed.message);
    return;
  }
  switch (parsed.command.kind) {
    case protocol::CommandKind::kSubscribe:
      Subscribe(std::move(parsed.command.pattern));
      break;
    case protocol::CommandKind::kUnsubscribe:
      Unsubscribe(parsed.command.pattern);
      break;
    case protocol::CommandKind::kPing:
      Enqueue(MakeTextFrame(protocol::PongMessage()));
      break;
  }
}

// Token bucket: commands_per_s refill, command_burst capacity. A refused
// command gets a 429; a client that keeps going past rate_abuse_limit
// refusals without letting the bucket fill is closed with 1008.
bool Session::TakeCommandToken() {
  auto now = Clock::now();
  std::chrono::duration<double> elapsed = now - last_refill_;
  last_refill_ = now;
  command_tokens_ =
      std::min(limits_.command_burst, command_tokens_ + elapsed.count() * limits_.commands_per_s);
  if (command_tokens_ >= limits_.command_burst) rate_refusals_ = 0;
  if (command_tokens_ >= 1) {
    command_tokens_ -= 1;
    return true;
  }
  if (++rate_refusals_ > limits_.rate_abuse_limit) {
    stats_.Count(DropReason::kRateAbuse);
    spdlog::debug("conn={} closing reason=rate_abuse", id_);
    Close(CloseCode::kPolicyViolation, "command rate limit exceeded repeatedly");
    return false;
  }
  SendError(ClientError::kRateLimited, "command rate limit exceeded; slow down");
  return false;
}

void Session::Subscribe(std::string pattern) {
  if (patterns_.contains(pattern)) return;  // idempotent (DESIGN.md section 1)
  if (patterns_.size() >= limits_.max_subscriptions) {
    SendError(ClientError::kTooManySubscriptions,
              "subscription limit of " + std::to_string(limits_.max_subscriptions) + " reached");
    return;
  }
  auto [it, inserted] = patterns_.insert(std::move(pattern));
  host_.AddSubscription(*this, *it);
}

void Session::Unsubscribe(const std::string& pattern) {
  auto it = patterns_.find(pattern);
  if (it == patterns_.end()) return;  // exact pattern only; unknown is a no-op
  host_.RemoveSubscription(*this, *it);
  patterns_.erase(it);
}

void Session::SendError(ClientError error, std::string_view message) {
  stats_.command_errors.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("conn={} error={} message=\"{}\"", id_, protocol::MetricLabel(error), message);
  Enqueue(MakeTextFrame(protocol::EncodeError(error, message)));
}

void Session::Deliver(const FramePtr& frame) {
  if (state_ != State::kOpen) return;
  Enqueue(frame, /*write_now=*/false);
}

void Session::Flush() {
  if (state_ != State::kClosed && in_flight_ == 0 && !queue_.empty()) DoWrite();
}

void Session::Enqueue(FramePtr frame, bool write_now) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kOpen && queued_bytes_ + QueueCost(*frame) > limits_.max_queue_bytes) {
    stats_.Count(DropReason::kSlowConsumer);
    spdlog::debug("conn={} closing reason=slow_consumer queued_bytes={}", id_, queued_bytes_);
    // Keep only what the kernel is already writing, so that memory is freed
    // at once; the close frame goes after it.
    while (queue_.size() > in_flight_) {
      queued_bytes_ -= QueueCost(*queue_.Back());
      queue_.PopBack();
    }
    Close(CloseCode::kTryAgainLater, "slow consumer");
    return;
  }
  queued_bytes_ += QueueCost(*frame);
  queue_.Push(std::move(frame));
  if (write_now && in_flight_ == 0) DoWrite();
}

void Session::DoWrite() {
  if (pending_pong_) {
    auto pong = std::make_shared<const std::string>(EncodeFrame(Opcode::kPong, *pending_pong_));
    pending_pong_.reset();
    queued_bytes_ += QueueCost(*pong);
    queue_.Push(std::move(pong));
  }
  if (queue_.empty()) return;
  gather_.clear();
  std::size_t count = std::min(queue_.size(), kMaxGather);
  for (std::size_t i = 0; i < count; ++i) gather_.push_back(asio::buffer(*queue_[i]));
  in_flight_ = count;
  asio::async_write(socket_, gather_,
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->OnWrite(ec);
                    });
}

void Session::OnWrite(const boost::system::error_code& ec) {
  if (state_ == State::kClosed) return;
  if (ec) {
    if (!IsQuietEnding(ec)) spdlog::debug("conn={} write error={}", id_, ec.message());
    Finish();
    return;
  }
  stats_.frames_out.fetch_add(in_flight_, std::memory_order_relaxed);
  for (std::size_t i = 0; i < in_flight_; ++i) queued_bytes_ -= QueueCost(*queue_[i]);
  queue_.PopFront(in_flight_);
  in_flight_ = 0;
  if (!queue_.empty() || pending_pong_) {
    DoWrite();
  } else if (finish_after_write_) {
    Finish();
  }
}

void Session::Close(CloseCode code, std::string_view reason) {
  if (state_ != State::kOpen) return;
  // Closing first: the close frame itself is never refused by the limit.
  state_ = State::kClosing;
  Enqueue(std::make_shared<const std::string>(EncodeCloseFrame(code, reason)));
  close_timer_.expires_after(limits_.close_timeout);
  close_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->Finish();
  });
}

void Session::ArmKeepalive(Clock::duration delay) {
  keepalive_timer_.expires_after(delay);
  keepalive_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->OnKeepalive();
  });
}

// Pings a peer that has been silent for ping_interval and drops it if it
// stays silent for ping_timeout more. Any inbound byte counts as an answer.
void Session::OnKeepalive() {
  if (state_ != State::kOpen) return;
  auto now = Clock::now();
  if (awaiting_pong_) {
    if (last_read_ < ping_sent_) {
      stats_.Count(DropReason::kPingTimeout);
      spdlog::debug("conn={} closing reason=ping_timeout", id_);
      Finish();
      return;
    }
    awaiting_pong_ = false;
  }
  auto idle = now - last_read_;
  if (idle < limits_.ping_interval) {
    ArmKeepalive(limits_.ping_interval - idle);
    return;
  }
  Enqueue(std::make_shared<const std::string>(EncodeFrame(Opcode::kPing, {})));
  awaiting_pong_ = true;
  ping_sent_ = now;
  ArmKeepalive(limits_.ping_timeout);
}

void Session::OnTokenExpired() {
  if (state_ != State::kOpen) return;
  stats_.Count(DropReason::kTokenExpired);
  spdlog::debug("conn={} closing reason=token_expired", id_);
  SendError(ClientError::kUnauthorized, "token expired");
  Close(CloseCode::kUnauthorized, "token expired");
}

void Session::Finish() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  keepalive_timer_.cancel();
  expiry_timer_.cancel();
  close_timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  queue_.Clear();
  queued_bytes_ = 0;
  spdlog::debug("conn={} closed user={}", id_, user_);
  host_.SessionClosed(*this);
  patterns_.clear();
}

}  // namespace herald::session
