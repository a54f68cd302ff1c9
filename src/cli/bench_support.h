// The parts of `herald bench` that need no Asio: the server it starts, the
// HTTP publisher, readings from /proc, latency histograms and the report.
//
// Threads: nothing here is shared between threads unless its comment says
// so; the bench's main thread publishes and reports, one client thread
// receives (bench_client.h).
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::cli::bench {

// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the
// machine, so a timestamp written by the publisher can be compared with the
// time a client reads the event.
std::int64_t NowNs();

void SleepNs(std::int64_t ns);

// A latency histogram with log-linear buckets: exact below 32 ns, then 32
// buckets per power of two (at most ~3% error), up to 2^63 ns.
class Histogram {
 public:
  void Record(std::int64_t ns);
  void Merge(const Histogram& other);
  std::uint64_t count() const { return count_; }
  std::int64_t max_ns() const { return max_ns_; }
  // The upper bound of the bucket holding quantile q (0..1); 0 if empty.
  std::int64_t Quantile(double q) const;

 private:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static int BucketOf(std::int64_t ns);
  static std::int64_t UpperBound(int bucket);

  std::array<std::uint64_t, 64 * kSub> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t max_ns_ = 0;
};

// CPU time (user + system) of a process from /proc/<pid>/stat, in
// nanoseconds; -1 if unreadable.
std::int64_t ProcessCpuNs(pid_t pid);

// Resident set size of a process from /proc/<pid>/status (VmRSS), in KiB;
// -1 if unreadable.
std::int64_t ProcessRssKiB(pid_t pid);

// Kernel slab memory of the whole machine from /proc/meminfo (Slab), in KiB;
// -1 if unreadable. Sockets, their inodes, files and epoll entries live there.
std::int64_t SystemSlabKiB();

// CPU time of this process (all threads), from getrusage.
std::int64_t SelfCpuNs();

// Raises RLIMIT_NOFILE so that `needed` descriptors fit: the soft limit to
// the hard one, and the hard one too when the process may (CAP_SYS_RESOURCE).
// Returns the soft limit in force afterwards.
std::int64_t RaiseFileLimit(std::int64_t needed);

// The number of local ports the kernel hands out per source address
// (net.ipv4.ip_local_port_range); 28,232 on a default Linux.
std::int64_t LocalPortCount();

// A blocking HTTP/1.1 client on one keep-alive connection; enough for
// POST /publish and GET /readyz against Herald.
class HttpClient {
 public:
  HttpClient(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the whole response. Returns the status code,
  // or -1 with *error set when the server cannot be reached. Reconnects once
  // if the kept-alive connection was closed.
  int Request(std::string_view method, std::string_view path, std::string_view bearer,
              std::string_view body, std::string* response_body, std::string* error);

 private:
  bool Connect(std::string* error);
  int RoundTrip(const std::string& request, std::string* response_body, std::string* error);
  void Disconnect();

  std::string host_;
  int port_;
  int fd_ = -1;
  std::string buffer_;  // bytes read past the last response
};

// A `herald serve` started by the bench: this same binary, on its own port
// and temporary data directory, with secrets passed in its environment.
// Stopped (SIGTERM, then SIGKILL) and cleaned up by the destructor.
class ServerProcess {
 public:
  // args: the flags after `serve`. Waits until GET /readyz answers 200.
  static std::unique_ptr<ServerProcess> Start(const std::vector<std::string>& args, int port,
                                              const std::string& data_dir,
                                              const std::map<std::string, std::string>& env,
                                              std::string* error);
  ~ServerProcess();

  pid_t pid() const { return pid_; }
  // The last lines the server wrote to stderr, for error messages.
  std::string LogTail() const;

 private:
  ServerProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  bool Exited();

  pid_t pid_;
  std::string log_path_;
};

// Makes a fresh directory under $TMPDIR (or /tmp); empty on failure.
std::string MakeTempDir();
void RemoveTree(const std::string& path);

// A port nobody listens on now (bound and released at once).
int FreePort();

// One scenario's result: named values printed as a table or as one JSON
// object. Keys are snake_case and stable: scripts read the JSON.
class Report {
 public:
  explicit Report(std::string scenario);

  void Number(std::string key, double value, std::string unit = "", int decimals = 0);
  void Text(std::string key, std::string value);
  // A row of a sub-table (e.g. one rate step of `fanout`).
  void Row(std::string table, std::vector<std::pair<std::string, std::string>> cells);

  void Print(bool json) const;

 private:
  struct Value {
    std::string key;
    std::string text;  // as printed in the table
    std::string json;  // JSON literal
    std::string unit;
  };
  std::string scenario_;
  std::vector<Value> values_;
  std::vector<std::pair<std::string, std::vector<std::vector<std::pair<std::string, std::string>>>>>
      tables_;
};

// Human units: "1.23 M", "456.7 k".
std::string Si(double value, int decimals = 2);

// Nanoseconds as milliseconds with three decimals.
double Ms(std::int64_t ns);

// 64-bit FNV-1a of an event name, summed per connection to compare the set
// of events received with the set expected (order aside).
inline std::uint64_t NameHash(std::string_view name) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace herald::cli::bench
