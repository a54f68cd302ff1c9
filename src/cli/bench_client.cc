#include "cli/bench_client.h"

#include <netinet/in.h>
#include <poll.h>

#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "session/asio.h"

namespace herald::cli::bench {
namespace {

// One read drains up to this much; events of all connections share it.
constexpr std::size_t kReadBufferBytes = 256 * 1024;
// An HTTP answer to the upgrade longer than this is not Herald's.
constexpr std::size_t kMaxUpgradeAnswerBytes = 16 * 1024;
constexpr std::string_view kEventPrefix = "{\"event\":\"";

enum class Phase { kIdle, kConnecting, kUpgrading, kSubscribing, kReady, kClosing, kDone, kFailed };

// Errors that the next connection attempt would hit again.
bool IsFatal(const boost::system::error_code& ec) {
  return ec.value() == EMFILE || ec.value() == ENFILE || ec.value() == EADDRNOTAVAIL ||
         ec.value() == ENOBUFS;
}

std::string Explain(const boost::system::error_code& ec) {
  std::string text = ec.message();
  switch (ec.value()) {
    case EMFILE:
      text += " (EMFILE: the bench's RLIMIT_NOFILE is full; raise `ulimit -n`)";
      break;
    case ENFILE:
      text += " (ENFILE: the system-wide file table is full; raise fs.file-max)";
      break;
    case EADDRNOTAVAIL:
      text += " (EADDRNOTAVAIL: no local port left; use more --source-addresses)";
      break;
    case ECONNREFUSED:
      text += " (ECONNREFUSED: is the server running, is its listen backlog full?)";
      break;
    default:
      break;
  }
  return text;
}

struct Conn {
  explicit Conn(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  const ConnSpec* spec = nullptr;
  std::uint32_t index = 0;
  std::uint32_t generation = 0;  // bumped per attempt: stale handlers return at once
  Phase phase = Phase::kIdle;
  std::string carry;  // an incomplete HTTP answer or frame
  std::int64_t started_ns = 0;
  ConnCounters counters;
};

}  // namespace

struct ClientPool::Impl {
  Impl(ClientPool& o, Target t, int sources, bool latency)
      : owner(o),
        target(std::move(t)),
        source_addresses(std::max(1, std::min(sources, 254))),
        measure_latency(latency),
        work(asio::make_work_guard(io)),
        read_buffer(kReadBufferBytes) {
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    work.reset();
    io.stop();
    thread.join();
    boost::system::error_code ignored;
    for (auto& c : conns) c->socket.close(ignored);
  }

  // Runs f on the I/O thread and returns its result to the caller.
  template <typename F>
  auto RunOnIo(F f) {
    std::promise<decltype(f())> done;
    asio::post(io, [&] { done.set_value(f()); });
    return done.get_future().get();
  }

  void Setup(std::vector<ConnSpec> new_specs) {
    specs = std::move(new_specs);
    conns.clear();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      conns.push_back(std::make_unique<Conn>(io));
      conns.back()->spec = &specs[i];
      conns.back()->index = static_cast<std::uint32_t>(i);
    }
  }

  void NoteError(const std::string& text) {
    std::lock_guard lock(mutex);
    if (first_error.empty()) first_error = text;
  }

  void NoteComplaint(const std::string& text) {
    std::lock_guard lock(mutex);
    if (first_complaint.empty()) first_complaint = text;
  }

  // ---- Connecting ----

  void StartMore() {
    while (!stop_connecting && pending < max_pending && next_to_start < conns.size()) {
      ++pending;
      StartConnect(*conns[next_to_start++]);
    }
    if (stop_connecting && next_to_start < conns.size()) {
      failed += conns.size() - next_to_start;
      next_to_start = conns.size();
    }
  }

  void StartConnect(Conn& c) {
    ++c.generation;
    c.phase = Phase::kConnecting;
    c.carry.clear();
    c.started_ns = NowNs();
    boost::system::error_code ec;
    c.socket.open(tcp::v4(), ec);
    if (ec) return Fail(c, "socket(): " + Explain(ec), IsFatal(ec));
    // Leave the port choice to connect(), which may then reuse a port for
    // another destination: bind() alone would reserve it for every one.
    int one = 1;
    setsockopt(c.socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    auto source = asio::ip::address_v4(0x7F000001u + c.index % source_addresses);
    c.socket.bind(tcp::endpoint(source, 0), ec);
    if (ec) return Fail(c, "bind " + source.to_string() + ": " + Explain(ec), IsFatal(ec));
    tcp::endpoint server(asio::ip::make_address_v4(target.host),
                         static_cast<unsigned short>(target.port));
    c.socket.async_connect(
        server, [this, &c, generation = c.generation](const boost::system::error_code& ec) {
          if (generation == c.generation) OnConnected(c, ec);
        });
  }

  void OnConnected(Conn& c, const boost::system::error_code& ec) {
    if (ec) return Fail(c, "connect from 127.0.0.x: " + Explain(ec), IsFatal(ec));
    boost::system::error_code ignored;
    c.socket.set_option(tcp::no_delay(true), ignored);
    c.socket.non_blocking(true, ignored);
    std::string request = "GET " + target.ws_path + " HTTP/1.1\r\nHost: " + target.host + ":" +
                          std::to_string(target.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: aGVyYWxkLWJlbmNoLWtleQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " +
                          c.spec->token + "\r\n\r\n";
    if (!Send(c, request)) return;
    c.phase = Phase::kUpgrading;
    WaitRead(c);
  }

  // Subscribes, then sends the `ping` command whose `pong` says that every
  // subscription is in force.
  void OnUpgraded(Conn& c) {
    std::string frames;
    for (const std::string& pattern : c.spec->patterns) {
      AppendMaskedFrame(frames, 0x1, "{\"event\":\"subscribe\",\"data\":\"" + pattern + "\"}");
    }
    AppendMaskedFrame(frames, 0x1, "{\"event\":\"ping\"}");
    c.phase = Phase::kSubscribing;
    Send(c, frames);
  }

  void OnReady(Conn& c) {
    if (churn) {
      std::string close;
      AppendMaskedFrame(close, 0x8, std::string("\x03\xE8", 2));  // 1000, normal closure
      c.phase = Phase::kClosing;
      Send(c, close);
      return;
    }
    c.phase = Phase::kReady;
    c.counters.open = true;
    --pending;
    ++ready;
    StartMore();
  }

  // Ends an attempt that went wrong. During ConnectAll a fatal error stops
  // the attempts not yet started; during churn the slot starts over.
  void Fail(Conn& c, const std::string& why, bool fatal = false) {
    bool connecting = c.phase != Phase::kReady && c.phase != Phase::kClosing;
    CloseSocket(c);
    c.phase = Phase::kFailed;
    c.counters.open = false;
    NoteError(why);
    if (churn) {
      ++churn_result.failed;
      if (fatal) churn_stop = true;
      NextCycle(c);
      return;
    }
    if (!connecting) return;
    --pending;
    ++failed;
    if (fatal) stop_connecting = true;
    StartMore();
  }

  void CloseSocket(Conn& c) {
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.carry.clear();
  }

  // ---- Churn ----

  void NextCycle(Conn& c) {
    if (!churn_stop && NowNs() < churn_deadline_ns) return StartConnect(c);
    c.phase = Phase::kDone;
    --churn_active;
  }

  // ---- Reading ----

  void WaitRead(Conn& c) {
    c.socket.async_wait(tcp::socket::wait_read,
                        [this, &c, generation = c.generation](const boost::system::error_code& ec) {
                          if (!ec && generation == c.generation) OnReadable(c);
                        });
  }

  void OnReadable(Conn& c) {
    std::int64_t now_ns = NowNs();
    for (int round = 0; round < 4; ++round) {
      boost::system::error_code ec;
      std::size_t n = c.socket.read_some(asio::buffer(read_buffer), ec);
      if (ec == asio::error::would_block) break;
      if (ec) return OnEnd(c, ec);
      if (!Consume(c, std::string_view(read_buffer.data(), n), now_ns)) return;
      if (n < read_buffer.size()) break;
    }
    WaitRead(c);
  }

  void OnEnd(Conn& c, const boost::system::error_code& ec) {
    if (c.phase == Phase::kReady) {
      CloseSocket(c);
      c.phase = Phase::kFailed;
      c.counters.open = false;
      owner.server_closes_.fetch_add(1, std::memory_order_relaxed);
      NoteComplaint("server ended a connection without a close frame: " + ec.message());
      return;
    }
    Fail(c, "connection ended during the handshake: " + ec.message() +
                " (server at its file limit or connection limit?)");
  }

  // Returns false when the connection ended while consuming.
  bool Consume(Conn& c, std::string_view bytes, std::int64_t now_ns) {
    if (c.phase != Phase::kUpgrading) return ParseFrames(c, bytes, now_ns);
    c.carry.append(bytes);
    auto end = c.carry.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.carry.size() <= kMaxUpgradeAnswerBytes) return true;
      Fail(c, "upgrade answer too long");
      return false;
    }
    if (c.carry.compare(0, 12, "HTTP/1.1 101") != 0) {
      Fail(c, "upgrade refused: " + c.carry.substr(0, c.carry.find('\r')));
      return false;
    }
    std::string rest = c.carry.substr(end + 4);
    c.carry.clear();
    OnUpgraded(c);
    if (c.phase != Phase::kSubscribing) return false;
    return rest.empty() || ParseFrames(c, rest, now_ns);
  }

  // Server frames are unmasked and, from Herald, never fragmented.
  bool ParseFrames(Conn& c, std::string_view bytes, std::int64_t now_ns) {
    std::string_view input = bytes;
    if (!c.carry.empty()) {
      c.carry.append(bytes);
      input = c.carry;
    }
    std::size_t pos = 0;
    std::uint64_t events_before = c.counters.events;
    std::uint32_t generation = c.generation;
    bool alive = true;
    while (alive && input.size() - pos >= 2) {
      auto b0 = static_cast<std::uint8_t>(input[pos]);
      auto b1 = static_cast<std::uint8_t>(input[pos + 1]);
      std::size_t header = 2;
      std::uint64_t length = b1 & 0x7F;
      if (length == 126 || length == 127) {
        std::size_t bytes_of_length = length == 126 ? 2 : 8;
        if (input.size() - pos < 2 + bytes_of_length) break;
        length = 0;
        for (std::size_t i = 0; i < bytes_of_length; ++i) {
          length = (length << 8) | static_cast<std::uint8_t>(input[pos + 2 + i]);
        }
        header += bytes_of_length;
      }
      if (b1 & 0x80) {  // RFC 6455 5.1: a server must not mask
        Fail(c, "server sent a masked frame");
        return false;
      }
      if (input.size() - pos - header < length) break;
      std::string_view payload = input.substr(pos + header, length);
      pos += header + length;
      // A handler may end or restart the connection, which frees `input`.
      alive = HandleFrame(c, b0 & 0x0F, payload, now_ns) && generation == c.generation &&
              c.phase != Phase::kFailed && c.phase != Phase::kDone;
    }
    owner.total_events_.fetch_add(c.counters.events - events_before, std::memory_order_relaxed);
    if (!alive) return false;
    if (input.data() == c.carry.data()) {
      c.carry.erase(0, pos);
    } else {
      c.carry.assign(input.substr(pos));
    }
    return true;
  }

  bool HandleFrame(Conn& c, int opcode, std::string_view payload, std::int64_t now_ns) {
    switch (opcode) {
      case 0x1:
      case 0x2:
        OnText(c, payload, now_ns);
        return true;
      case 0x9: {  // RFC 6455 5.5.2: answer with the same payload
        std::string pong;
        AppendMaskedFrame(pong, 0xA, payload);
        return Send(c, pong);
      }
      case 0xA:
        return true;
      case 0x8:
        OnClose(c, payload);
        return false;
      default:
        Fail(c, "server sent opcode " + std::to_string(opcode));
        return false;
    }
  }

  void OnText(Conn& c, std::string_view payload, std::int64_t now_ns) {
    if (!payload.starts_with(kEventPrefix)) {
      owner.error_events_.fetch_add(1, std::memory_order_relaxed);
      NoteComplaint("unexpected message: " + std::string(payload.substr(0, 200)));
      return;
    }
    std::size_t name_end = payload.find('"', kEventPrefix.size());
    std::string_view name = payload.substr(kEventPrefix.size(), name_end - kEventPrefix.size());
    if (name == "pong") {
      if (c.phase == Phase::kSubscribing) OnReady(c);
      return;
    }
    if (name == "error") {
      owner.error_events_.fetch_add(1, std::memory_order_relaxed);
      NoteComplaint("user " + c.spec->user + " got " + std::string(payload.substr(0, 300)));
      return;
    }
    ++c.counters.events;
    c.counters.name_hash_sum += NameHash(name);
    if (measure_latency) RecordLatency(payload, name_end, now_ns);
  }

  // The publisher puts its send time first in the data: {"t":<ns>,...}.
  void RecordLatency(std::string_view payload, std::size_t from, std::int64_t now_ns) {
    std::size_t at = payload.find("\"t\":", from);
    if (at == std::string_view::npos) return;
    std::int64_t sent_ns = 0;
    for (at += 4; at < payload.size() && payload[at] >= '0' && payload[at] <= '9'; ++at) {
      sent_ns = sent_ns * 10 + (payload[at] - '0');
    }
    latency.Record(now_ns - sent_ns);
  }

  void OnClose(Conn& c, std::string_view payload) {
    int code = payload.size() >= 2 ? (static_cast<std::uint8_t>(payload[0]) << 8) |
                                         static_cast<std::uint8_t>(payload[1])
                                   : 1005;
    if (c.phase == Phase::kClosing) {  // the server's answer to our close
      std::int64_t took_ns = NowNs() - c.started_ns;
      CloseSocket(c);
      churn_result.cycle_ns.Record(took_ns);
      ++churn_result.cycles;
      NextCycle(c);
      return;
    }
    owner.server_closes_.fetch_add(1, std::memory_order_relaxed);
    c.counters.close_code = code;
    std::string reason(payload.size() > 2 ? payload.substr(2) : std::string_view());
    std::string text = "server closed user " + c.spec->user + " with code " + std::to_string(code) +
                       (reason.empty() ? "" : " (" + reason + ")");
    NoteComplaint(text);
    std::string answer;
    AppendMaskedFrame(answer, 0x8, payload.substr(0, 2));
    if (!Send(c, answer)) return;
    if (c.phase != Phase::kReady) return Fail(c, text);
    CloseSocket(c);
    c.phase = Phase::kFailed;
    c.counters.open = false;
  }

  // ---- Writing ----

  // RFC 6455 5.3: every client frame is masked. The key only has to be
  // unpredictable to scripts in a browser; a cheap generator does here.
  void AppendMaskedFrame(std::string& out, int opcode, std::string_view payload) {
    out += static_cast<char>(0x80 | opcode);
    std::size_t length = payload.size();
    if (length < 126) {
      out += static_cast<char>(0x80 | length);
    } else if (length <= 0xFFFF) {
      out += static_cast<char>(0x80 | 126);
      out += static_cast<char>(length >> 8);
      out += static_cast<char>(length & 0xFF);
    } else {
      out += static_cast<char>(0x80 | 127);
      for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(length >> shift);
    }
    mask_state ^= mask_state << 13;
    mask_state ^= mask_state >> 17;
    mask_state ^= mask_state << 5;
    char mask[4];
    std::memcpy(mask, &mask_state, 4);
    out.append(mask, 4);
    for (std::size_t i = 0; i < length; ++i) out += static_cast<char>(payload[i] ^ mask[i & 3]);
  }

  // Writes a few small frames on a non-blocking socket, waiting briefly if
  // its buffer is full. Returns false if the connection failed.
  bool Send(Conn& c, std::string_view bytes) {
    while (!bytes.empty()) {
      boost::system::error_code ec;
      std::size_t n = c.socket.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
      if (ec == asio::error::would_block) {
        pollfd fd{c.socket.native_handle(), POLLOUT, 0};
        poll(&fd, 1, 1000);
        continue;
      }
      if (ec) {
        Fail(c, "write: " + ec.message());
        return false;
      }
      bytes.remove_prefix(n);
    }
    return true;
  }

  ClientPool& owner;
  const Target target;
  const int source_addresses;
  const bool measure_latency;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  std::vector<char> read_buffer;
  std::vector<ConnSpec> specs;
  std::vector<std::unique_ptr<Conn>> conns;
  std::uint32_t mask_state = 0x9E3779B9u;

  // ConnectAll, on the I/O thread except the atomics.
  std::size_t max_pending = 1;
  std::size_t pending = 0;
  std::size_t next_to_start = 0;
  bool stop_connecting = false;
  std::atomic<std::size_t> ready{0};
  std::atomic<std::size_t> failed{0};

  // Churn.
  bool churn = false;
  bool churn_stop = false;
  std::int64_t churn_deadline_ns = 0;
  std::atomic<std::size_t> churn_active{0};
  ChurnResult churn_result;

  Histogram latency;
  std::mutex mutex;  // guards the two strings below
  std::string first_error;
  std::string first_complaint;
};

ClientPool::ClientPool(Target target, int source_addresses, bool measure_latency)
    : impl_(std::make_unique<Impl>(*this, std::move(target), source_addresses, measure_latency)) {}

ClientPool::~ClientPool() = default;

ConnectResult ClientPool::ConnectAll(std::vector<ConnSpec> specs, std::size_t max_pending,
                                     double timeout_s) {
  Impl& impl = *impl_;
  std::int64_t start_ns = NowNs();
  std::size_t total = specs.size();
  impl.RunOnIo([&] {
    impl.Setup(std::move(specs));
    impl.max_pending = std::max<std::size_t>(1, max_pending);
    impl.StartMore();
    return 0;
  });
  std::int64_t deadline_ns = start_ns + static_cast<std::int64_t>(timeout_s * 1e9);
  while (impl.ready + impl.failed < total && NowNs() < deadline_ns) SleepNs(5'000'000);

  ConnectResult result;
  impl.RunOnIo([&] {
    std::size_t stuck = 0;
    for (auto& c : impl.conns) {
      if (c->phase == Phase::kConnecting || c->phase == Phase::kUpgrading ||
          c->phase == Phase::kSubscribing) {
        impl.CloseSocket(*c);
        c->phase = Phase::kFailed;
        ++stuck;
      }
    }
    std::size_t never_started = total - impl.next_to_start;
    impl.next_to_start = total;
    impl.failed += stuck + never_started;
    if (stuck > 0) {
      impl.NoteError(std::to_string(stuck) + " connections had no answer within " +
                     std::to_string(static_cast<int>(timeout_s)) +
                     " s (is the server at its file limit? see its log)");
    }
    return 0;
  });
  result.ready = impl.ready;
  result.failed = impl.failed;
  result.seconds = static_cast<double>(NowNs() - start_ns) / 1e9;
  std::lock_guard lock(impl.mutex);
  result.first_error = impl.first_error;
  return result;
}

ChurnResult ClientPool::Churn(std::vector<ConnSpec> specs, double duration_s) {
  Impl& impl = *impl_;
  std::int64_t deadline_ns = NowNs() + static_cast<std::int64_t>(duration_s * 1e9);
  impl.RunOnIo([&] {
    impl.Setup(std::move(specs));
    impl.churn = true;
    impl.churn_deadline_ns = deadline_ns;
    impl.churn_active = impl.conns.size();
    for (auto& c : impl.conns) impl.StartConnect(*c);
    return 0;
  });
  // Cycles under way at the deadline may finish; give them a bounded while.
  while (impl.churn_active > 0 && NowNs() < deadline_ns + 10'000'000'000) SleepNs(5'000'000);
  return impl.RunOnIo([&] {
    for (auto& c : impl.conns) {
      if (c->phase != Phase::kDone) impl.CloseSocket(*c);
    }
    ChurnResult result = std::move(impl.churn_result);
    std::lock_guard lock(impl.mutex);
    result.first_error = impl.first_error;
    return result;
  });
}

Histogram ClientPool::TakeLatency() {
  return impl_->RunOnIo([this] {
    Histogram taken = impl_->latency;
    impl_->latency = Histogram();
    return taken;
  });
}

std::vector<ConnCounters> ClientPool::Counters() {
  return impl_->RunOnIo([this] {
    std::vector<ConnCounters> out;
    out.reserve(impl_->conns.size());
    for (auto& c : impl_->conns) out.push_back(c->counters);
    return out;
  });
}

std::string ClientPool::FirstServerComplaint() {
  std::lock_guard lock(impl_->mutex);
  return impl_->first_complaint;
}

}  // namespace herald::cli::bench
