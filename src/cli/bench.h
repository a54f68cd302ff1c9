// `herald bench`: a load generator that measures a running Herald the way
// its users will (issue 4; docs/PERFORMANCE.md says what each scenario
// means and how the numbers in it were measured).
#pragma once

#include <cstdint>
#include <string>

#include "config/config.h"

namespace herald::cli {

struct BenchArgs {
  // fanout, stp, latency, idle, churn, or all (each in turn).
  std::string scenario;
  // ws://host:port of a running server; empty: start `herald serve`.
  std::string url;
  int server_pid = 0;     // with --url: the server's pid, for its CPU and RSS
  int connections = 0;    // 0: the scenario's default
  double duration_s = 0;  // 0: the scenario's default
  double rate = 0;        // events per second; 0: the scenario decides
  int concurrency = 0;    // churn: cycles in flight
  int subscriptions = 0;  // patterns per synthetic connection (1..9)
  int events = 0;         // stp: measured events
  std::uint64_t seed = 1;
  int batch = 200;  // most events per POST /publish
  // fanout/latency: least time between two POSTs; events due meanwhile go
  // in one batch (a publisher that batches, as a NATS client does).
  double publish_interval_ms = 0;
  int payload_bytes = 64;    // fanout/latency: bytes of padding in each event
  int source_addresses = 0;  // 127.0.0.1..N; 0: enough for the local port range
  bool smoke = false;        // tiny sizes, a few seconds per scenario
  bool json = false;
};

// Runs the scenario. flags are the configuration flags given to `bench`;
// they are passed on to the `herald serve` it starts. Returns 0 when every
// expected event arrived, 1 when one did not (or, for stp, any user's count
// differs from the reference model), 2 when the bench could not run.
int Bench(config::Config config, const config::FlagValues& flags, const BenchArgs& args);

}  // namespace herald::cli
