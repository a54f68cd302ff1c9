// The WebSocket clients of `herald bench`: many connections on one thread.
//
// A minimal client (RFC 6455 on a raw Asio socket, no Beast): it sends the
// upgrade request with a bearer token, then masked subscribe commands and a
// `ping` command, and counts the connection ready at the `pong` (DESIGN.md
// section 1: every earlier command is then in force). After that it counts
// event frames, sums a hash of their names, answers WebSocket pings and, if
// asked, reads the publisher's timestamp out of each event for latency.
//
// Connections are spread over source addresses 127.0.0.1..127.0.0.N, each
// bound before connect with IP_BIND_ADDRESS_NO_PORT, so that more than the
// ~28k local ports of one address can reach one server port.
//
// Threads: the pool runs its own I/O thread. Its public methods are called
// from one other thread (the bench's main thread) and hand work to the I/O
// thread; total_events() may be read at any time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/bench_support.h"

namespace herald::cli::bench {

struct Target {
  std::string host = "127.0.0.1";  // IPv4 address
  int port = 0;
  std::string ws_path;  // /ws/v4/events
};

// One connection to make: who it is and what it subscribes to.
struct ConnSpec {
  std::string user;
  std::string token;
  std::vector<std::string> patterns;
};

struct ConnectResult {
  std::size_t ready = 0;
  std::size_t failed = 0;
  std::string first_error;  // the first failure, said plainly (EMFILE, EADDRNOTAVAIL, 401...)
  double seconds = 0;
};

struct ChurnResult {
  std::uint64_t cycles = 0;  // connect + upgrade + auth + subscribe + pong + close, completed
  std::uint64_t failed = 0;
  std::string first_error;
  Histogram cycle_ns;  // one cycle, from connect() to the server's close frame
};

// What one connection received.
struct ConnCounters {
  std::uint64_t events = 0;
  std::uint64_t name_hash_sum = 0;
  bool open = false;
  int close_code = 0;  // sent by the server, 0 if none
};

class ClientPool {
 public:
  ClientPool(Target target, int source_addresses, bool measure_latency);
  ~ClientPool();
  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  // Opens every connection, at most max_pending handshakes at a time, and
  // returns once each is ready or failed, or at the timeout. A failure that
  // will repeat (EMFILE, ENFILE, EADDRNOTAVAIL) stops further attempts.
  ConnectResult ConnectAll(std::vector<ConnSpec> specs, std::size_t max_pending, double timeout_s);

  // Runs connect-subscribe-close cycles on `concurrency` slots for duration_s;
  // each slot reuses its spec (user, token, patterns).
  ChurnResult Churn(std::vector<ConnSpec> specs, double duration_s);

  // Events received by all connections so far. Any thread.
  std::uint64_t total_events() const { return total_events_.load(std::memory_order_relaxed); }
  // Error events received.
  std::uint64_t error_events() const { return error_events_.load(std::memory_order_relaxed); }
  // Ready connections the server ended, with a close frame or without one.
  std::uint64_t server_closes() const { return server_closes_.load(std::memory_order_relaxed); }

  // Latency samples since the last call, taken from the I/O thread.
  Histogram TakeLatency();
  // Per-connection counters, in the order of ConnectAll's specs.
  std::vector<ConnCounters> Counters();
  // The first error event or close frame a server sent, for messages.
  std::string FirstServerComplaint();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<std::uint64_t> total_events_{0};
  std::atomic<std::uint64_t> error_events_{0};
  std::atomic<std::uint64_t> server_closes_{0};
};

}  // namespace herald::cli::bench
