#include "cli/bench.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <memory>

#include "auth/jwt.h"
#include "cli/bench_client.h"
#include "cli/bench_stp.h"
#include "cli/bench_support.h"
#include "cli/data_dir.h"

namespace herald::cli {
namespace {

using namespace bench;

// Descriptors the bench needs besides one per connection (publisher,
// epoll, eventfds, stdio, logs).
constexpr std::int64_t kSpareDescriptors = 64;
// The tombstone grace the stp scenario gives the server and its model: the
// stream's clock moves ~0.75 s per event, so a day covers 100k events.
constexpr std::int64_t kStpGraceMs = 86'400'000;
constexpr std::size_t kMaxStpStream = 100'000;
// Handshakes in flight while connecting: enough to keep both cores busy,
// few enough not to overflow the server's accept backlog.
constexpr std::size_t kMaxPendingHandshakes = 256;
// Connections per source address by default (see SetUp).
constexpr std::int64_t kConnectionsPerAddress = 2000;
// fanout: a step counts as sustained when its last delivery arrives within
// this long after the last publish (or half a step, if longer)...
constexpr double kDrainS = 0.5;
// ...and the median latency of its second half is at most twice that of its
// first half plus this much: a queue that grows shows as growing latency.
constexpr std::int64_t kLatencyGrowthSlackNs = 5'000'000;

void Progress(const char* format, auto... args) {
  std::fprintf(stderr, "[bench] ");
  std::fprintf(stderr, format, args...);
  std::fprintf(stderr, "\n");
}

std::int64_t UnixSeconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

// What every scenario runs against: a server (started here or given by
// URL) and the credentials to connect and publish.
struct Env {
  Target target;
  std::string publish_path = "/publish";
  std::string publish_key;
  std::string secret, issuer, audience;
  pid_t server_pid = 0;  // 0: unknown, no server CPU or RSS
  std::unique_ptr<ServerProcess> server;
  std::string temp_dir;
  int source_addresses = 1;

  ~Env() {
    server.reset();
    RemoveTree(temp_dir);
  }

  std::string Token(const std::string& user) const {
    return auth::MintHs256(secret, user, UnixSeconds(), 24 * 3600, issuer, audience);
  }
  std::int64_t ServerCpuNs() const { return server_pid ? ProcessCpuNs(server_pid) : -1; }
  std::int64_t ServerRssKiB() const { return server_pid ? ProcessRssKiB(server_pid) : -1; }
};

bool ParseUrl(const std::string& url, const std::string& api_version, Target* target) {
  std::string rest = url;
  if (rest.rfind("ws://", 0) == 0) rest = rest.substr(5);
  auto slash = rest.find('/');
  std::string host_port = rest.substr(0, slash);
  target->ws_path =
      slash == std::string::npos ? "/ws/" + api_version + "/events" : rest.substr(slash);
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return false;
  target->host = host_port.substr(0, colon);
  if (target->host == "localhost") target->host = "127.0.0.1";
  target->port = std::atoi(host_port.c_str() + colon + 1);
  return target->port > 0;
}

// Flags of `bench` that the started server must not take from the user:
// the bench chooses where it listens and which secrets it uses.
bool IsBenchOwned(std::string_view name) {
  return name == "host" || name == "port" || name == "data_dir" || name == "auth_secret" ||
         name == "publish_key" || name == "auth_public_key" || name == "auth_algorithms";
}

// Raises the file limit and says plainly when it cannot reach `needed`.
bool CheckFileLimit(std::int64_t connections, bool own_server, std::string* error) {
  std::int64_t needed = connections + kSpareDescriptors;
  std::int64_t limit = RaiseFileLimit(needed);
  if (limit >= needed) return true;
  *error = std::to_string(connections) + " connections need about " + std::to_string(needed) +
           " file descriptors, but RLIMIT_NOFILE stops at " + std::to_string(limit) +
           " (the hard limit; raising it needs root with CAP_SYS_RESOURCE: `ulimit -Hn`, "
           "systemd LimitNOFILE=)." +
           (own_server ? " The server the bench starts inherits the same limit." : "") +
           " Largest run that fits: --connections " + std::to_string(limit - kSpareDescriptors);
  return false;
}

std::unique_ptr<Env> SetUp(config::Config& config, const config::FlagValues& flags,
                           const BenchArgs& args, std::int64_t connections,
                           const std::vector<std::string>& server_flags, std::string* error) {
  if (!CheckFileLimit(connections, args.url.empty(), error)) return nullptr;
  auto env = std::make_unique<Env>();
  env->publish_path = config.publish_path;
  env->issuer = config.auth_issuer;
  env->audience = config.auth_audience;
  // connect() searches longer for a free port as an address fills up: at
  // 20k connections on one address it ran at a fifth of the speed of 2k.
  std::int64_t per_address = std::min<std::int64_t>(kConnectionsPerAddress, LocalPortCount());
  env->source_addresses = args.source_addresses > 0
                              ? args.source_addresses
                              : static_cast<int>(std::max<std::int64_t>(
                                    1, (connections + per_address - 1) / per_address));

  if (!args.url.empty()) {
    if (!ParseUrl(args.url, config.api_version, &env->target)) {
      *error = "--url must look like ws://127.0.0.1:3000";
      return nullptr;
    }
    config.auth_public_key.clear();
    if ((config.auth_secret.empty() || config.publish_key.empty()) &&
        !LoadSecrets(&config, /*create=*/false, error)) {
      *error = "with --url, give --auth-secret and --publish-key (" + *error + ")";
      return nullptr;
    }
    env->secret = config.auth_secret;
    env->publish_key = config.publish_key;
    env->server_pid = args.server_pid;
    return env;
  }

  env->temp_dir = MakeTempDir();
  int port = FreePort();
  if (env->temp_dir.empty() || port <= 0) {
    *error = "cannot make a temporary directory or find a free port";
    return nullptr;
  }
  env->secret = auth::RandomToken(32);
  env->publish_key = auth::RandomToken(32);
  env->target.port = port;
  env->target.ws_path = "/ws/" + config.api_version + "/events";
  std::vector<std::string> serve = {
      "--host",     "127.0.0.1",   "--port",      std::to_string(port),
      "--data-dir", env->temp_dir, "--log-level", "warn"};
  if (!flags.config_file.empty()) serve.insert(serve.end(), {"--config", flags.config_file});
  for (const auto& [name, value] : flags.values) {
    if (IsBenchOwned(name)) continue;
    std::string flag = "--" + std::string(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    serve.insert(serve.end(), {flag, value});
  }
  serve.insert(serve.end(), server_flags.begin(), server_flags.end());
  std::map<std::string, std::string> variables = {{"HERALD_AUTH_SECRET", env->secret},
                                                  {"HERALD_PUBLISH_KEY", env->publish_key}};
  env->server = ServerProcess::Start(serve, port, env->temp_dir, variables, error);
  if (!env->server) return nullptr;
  env->server_pid = env->server->pid();
  Progress("started herald serve pid=%d port=%d", static_cast<int>(env->server_pid), port);
  return env;
}

// ---- Publishing ----

class Publisher {
 public:
  explicit Publisher(const Env& env) : env_(env), http_(env.target.host, env.target.port) {}

  // POSTs the items as one JSON array; false with *error unless 202.
  bool Post(const std::vector<std::string>& items, std::size_t begin, std::size_t end,
            std::string* error) {
    body_.assign("[");
    for (std::size_t i = begin; i < end; ++i) {
      if (i > begin) body_ += ',';
      body_ += items[i];
    }
    body_ += ']';
    return PostBody(error);
  }

  bool PostBody(std::string* error) {
    std::string answer;
    int status = http_.Request("POST", env_.publish_path, env_.publish_key, body_, &answer, error);
    if (status == 202) return true;
    if (status > 0)
      *error = "POST " + env_.publish_path + " answered " + std::to_string(status) + ": " +
               answer.substr(0, 300);
    return false;
  }

  std::string& body() { return body_; }

 private:
  const Env& env_;
  HttpClient http_;
  std::string body_;
};

// A users.<id>.updated event that everyone may see, stamped with the time
// it is published for latency.
void AppendTimedEvent(std::string& body, std::uint64_t seq, std::size_t users,
                      const std::string& pad) {
  body += "{\"event\":\"users.";
  body += SyntheticId('a', seq % std::max<std::size_t>(users, 1));
  body += ".updated\",\"data\":{\"t\":";
  body += std::to_string(NowNs());
  body += ",\"seq\":";
  body += std::to_string(seq);
  body += ",\"pad\":\"";
  body += pad;
  body += "\"}}";
}

struct RateRun {
  std::uint64_t published = 0;
  double seconds = 0;
  std::string error;
  Histogram first_half;  // latency of what arrived during the first half
};

// Publishes timed events at `rate` per second for duration_s, in batches of
// what is due (at most max_batch), each POST answered before the next so
// that order holds. If take_first_half, swaps the pool's latency histogram
// out at half time.
RateRun PublishAtRate(Publisher& publisher, ClientPool* pool, double rate, double duration_s,
                      const BenchArgs& args, std::size_t users, std::uint64_t* seq,
                      bool take_first_half) {
  auto max_batch = static_cast<std::size_t>(std::max(1, args.batch));
  auto payload_bytes = static_cast<std::size_t>(std::max(0, args.payload_bytes));
  auto interval_ns = static_cast<std::int64_t>(args.publish_interval_ms * 1e6);
  std::int64_t last_post_ns = 0;
  RateRun run;
  std::string pad(payload_bytes, 'x');
  std::int64_t start = NowNs();
  auto length_ns = static_cast<std::int64_t>(duration_s * 1e9);
  bool halved = !take_first_half;
  while (true) {
    std::int64_t now = NowNs();
    if (now - start >= length_ns) break;
    if (!halved && now - start >= length_ns / 2) {
      run.first_half = pool->TakeLatency();
      halved = true;
    }
    auto due = static_cast<std::int64_t>(rate * static_cast<double>(now - start) / 1e9) + 1 -
               static_cast<std::int64_t>(run.published);
    if (due <= 0) {
      auto next_ns =
          start + static_cast<std::int64_t>(static_cast<double>(run.published) / rate * 1e9);
      SleepNs(std::min<std::int64_t>(next_ns - now, 2'000'000));
      continue;
    }
    if (now - last_post_ns < interval_ns) {
      SleepNs(std::min<std::int64_t>(last_post_ns + interval_ns - now, 2'000'000));
      continue;
    }
    last_post_ns = now;
    std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(due), max_batch);
    std::string& body = publisher.body();
    body.assign("[");
    for (std::size_t i = 0; i < n; ++i) {
      if (i) body += ',';
      AppendTimedEvent(body, (*seq)++, users, pad);
    }
    body += ']';
    if (!publisher.PostBody(&run.error)) break;
    run.published += n;
  }
  run.seconds = static_cast<double>(NowNs() - start) / 1e9;
  return run;
}

// Waits until the pool has received `target` events in all, or no event has
// arrived for quiet_s, or max_s passed. Returns the time it stopped.
std::int64_t WaitForEvents(ClientPool& pool, std::uint64_t target, double quiet_s, double max_s) {
  std::int64_t start = NowNs(), last_progress = start;
  std::uint64_t last = pool.total_events();
  while (pool.total_events() < target) {
    std::int64_t now = NowNs();
    if (now - start > static_cast<std::int64_t>(max_s * 1e9)) break;
    std::uint64_t got = pool.total_events();
    if (got != last) {
      last = got;
      last_progress = now;
    } else if (now - last_progress > static_cast<std::int64_t>(quiet_s * 1e9)) {
      break;
    }
    SleepNs(200'000);
  }
  return NowNs();
}

// CPU of the server and of the bench over one interval.
struct CpuMeter {
  explicit CpuMeter(const Env& env)
      : env(env), server0(env.ServerCpuNs()), bench0(SelfCpuNs()), wall0(NowNs()) {}
  double ServerS() const {
    std::int64_t now = env.ServerCpuNs();
    return server0 < 0 || now < 0 ? NAN : static_cast<double>(now - server0) / 1e9;
  }
  double BenchS() const { return static_cast<double>(SelfCpuNs() - bench0) / 1e9; }
  double WallS() const { return static_cast<double>(NowNs() - wall0) / 1e9; }
  const Env& env;
  std::int64_t server0, bench0, wall0;
};

void AddCpu(Report& report, const CpuMeter& cpu, double deliveries) {
  double server_s = cpu.ServerS(), bench_s = cpu.BenchS(), wall_s = cpu.WallS();
  report.Number("server_cpu_pct", 100 * server_s / wall_s, "% of one core", 0);
  report.Number("bench_cpu_pct", 100 * bench_s / wall_s, "% of one core", 0);
  if (deliveries > 0) {
    report.Number("server_cpu_s_per_M_deliveries", server_s / deliveries * 1e6, "s", 2);
    report.Number("bench_cpu_s_per_M_deliveries", bench_s / deliveries * 1e6, "s", 2);
  }
}

// Users first..first+n-1 of a synthetic world of first+n users.
std::vector<ConnSpec> SyntheticSpecs(const Env& env, std::size_t n, std::size_t subscriptions,
                                     std::size_t first = 0) {
  std::size_t regions = std::max<std::size_t>(4, (first + n) / 100);
  std::vector<ConnSpec> specs(n);
  for (std::size_t i = 0; i < n; ++i) {
    specs[i].user = SyntheticId('a', first + i);
    specs[i].token = env.Token(specs[i].user);
    specs[i].patterns = SyntheticPatterns(first + i, regions, subscriptions);
  }
  return specs;
}

// Connects every spec or explains why not. Returns false if any failed.
bool ConnectOrExplain(ClientPool& pool, std::vector<ConnSpec> specs, const Env& env,
                      Report* report) {
  std::size_t n = specs.size();
  Progress("connecting %zu clients from %d source address(es)", n, env.source_addresses);
  ConnectResult result =
      pool.ConnectAll(std::move(specs), kMaxPendingHandshakes, 30.0 + static_cast<double>(n) / 500);
  Progress("%zu ready, %zu failed in %.1f s", result.ready, result.failed, result.seconds);
  if (report) {
    report->Number("connect_s", result.seconds, "s", 2);
    report->Number("connects_per_s", static_cast<double>(result.ready) / result.seconds, "/s", 0);
  }
  if (result.failed == 0) return true;
  std::fprintf(stderr, "herald bench: %zu of %zu connections failed; first error: %s\n",
               result.failed, n, result.first_error.c_str());
  if (env.server) std::fprintf(stderr, "server log:\n%s", env.server->LogTail().c_str());
  return false;
}

// Defaults that a scenario's size flags fall back to.
struct Sizes {
  std::size_t connections;
  double duration_s;
};

Sizes SizesFor(const BenchArgs& args, Sizes normal, Sizes smoke) {
  Sizes sizes = args.smoke ? smoke : normal;
  if (args.connections > 0) sizes.connections = static_cast<std::size_t>(args.connections);
  if (args.duration_s > 0) sizes.duration_s = args.duration_s;
  return sizes;
}

int Fail(const std::string& error) {
  std::fprintf(stderr, "herald bench: %s\n", error.c_str());
  return 2;
}

// ---- fanout ----

struct Step {
  double rate = 0;
  double achieved_rate = 0;
  std::uint64_t expected = 0, delivered = 0;
  double deliveries_per_s = 0;
  std::int64_t p50_first = 0, p50 = 0, p99 = 0, max = 0;
  double server_cpu_pct = NAN, bench_cpu_pct = 0;
  double server_s_per_m = NAN, bench_s_per_m = 0;
  bool sustained = false;
  bool complete = false;  // every delivery arrived, nothing closed or failed
  std::string why;
};

Step RunStep(Publisher& publisher, ClientPool& pool, const Env& env, std::size_t connections,
             double rate, double duration_s, const BenchArgs& args, std::uint64_t* seq) {
  Step step;
  step.rate = rate;
  // Stragglers of an earlier step must not count as this step's deliveries.
  WaitForEvents(pool, *seq * connections, 0.5, 5.0);
  bool clean_start = pool.total_events() == *seq * connections;
  pool.TakeLatency();
  std::uint64_t base = pool.total_events();
  std::uint64_t closes = pool.server_closes();
  CpuMeter cpu(env);
  RateRun run = PublishAtRate(publisher, &pool, rate, duration_s, args, connections, seq,
                              /*take_first_half=*/true);
  step.expected = run.published * connections;
  std::int64_t done = WaitForEvents(pool, base + step.expected, std::max(kDrainS, duration_s / 2),
                                    std::max(kDrainS, duration_s / 2));
  std::int64_t drain_ns = done - (cpu.wall0 + static_cast<std::int64_t>(run.seconds * 1e9));
  step.delivered = pool.total_events() - base;
  Histogram second = pool.TakeLatency();
  double wall_s = cpu.WallS(), server_s = cpu.ServerS(), bench_s = cpu.BenchS();
  step.achieved_rate = static_cast<double>(run.published) / run.seconds;
  step.deliveries_per_s = static_cast<double>(step.delivered) / wall_s;
  step.p50_first = run.first_half.Quantile(0.5);
  Histogram all = run.first_half;
  all.Merge(second);
  step.p50 = all.Quantile(0.5);
  step.p99 = all.Quantile(0.99);
  step.max = all.max_ns();
  step.server_cpu_pct = 100 * server_s / wall_s;
  step.bench_cpu_pct = 100 * bench_s / wall_s;
  double millions = static_cast<double>(step.delivered) / 1e6;
  if (millions > 0) {
    step.server_s_per_m = server_s / millions;
    step.bench_s_per_m = bench_s / millions;
  }
  step.complete = clean_start && run.error.empty() && pool.server_closes() == closes &&
                  step.delivered == step.expected;
  if (!run.error.empty()) {
    step.why = "publish failed: " + run.error;
  } else if (pool.server_closes() != closes) {
    step.why = "server closed connections: " + pool.FirstServerComplaint();
  } else if (step.delivered < step.expected) {
    step.why = "missing " + std::to_string(step.expected - step.delivered) + " deliveries after " +
               std::to_string(static_cast<int>(Ms(drain_ns))) + " ms";
  } else if (step.achieved_rate < 0.95 * rate) {
    step.why = "publisher reached only " + Si(step.achieved_rate) + " events/s";
  } else if (second.Quantile(0.5) > 2 * step.p50_first + kLatencyGrowthSlackNs) {
    step.why = "latency grew (queues growing)";
  } else {
    step.sustained = true;
  }
  return step;
}

void AddStepRow(Report& report, const Step& s) {
  char text[8][32];
  std::snprintf(text[0], 32, "%.1f", s.rate);
  std::snprintf(text[1], 32, "%.0f", s.deliveries_per_s);
  std::snprintf(text[2], 32, "%.3f", Ms(s.p50));
  std::snprintf(text[3], 32, "%.3f", Ms(s.p99));
  std::snprintf(text[4], 32, "%.0f", s.server_cpu_pct);
  std::snprintf(text[5], 32, "%.0f", s.bench_cpu_pct);
  std::snprintf(text[6], 32, "%.2f", s.server_s_per_m);
  std::snprintf(text[7], 32, "%.2f", s.bench_s_per_m);
  report.Row("steps", {{"events_per_s", text[0]},
                       {"deliveries_per_s", text[1]},
                       {"p50_ms", text[2]},
                       {"p99_ms", text[3]},
                       {"server_cpu_pct", text[4]},
                       {"bench_cpu_pct", text[5]},
                       {"server_s_per_M", text[6]},
                       {"bench_s_per_M", text[7]},
                       {"sustained", s.sustained ? "yes" : "no"},
                       {"why_not", s.why}});
}

// Steps the publish rate up by 1.6x until a step is not sustained, then
// bisects twice between the last good and the first bad rate. Returns the
// best sustained step (rate 0 if none) and adds every step to the report.
// *peak_deliveries_per_s gets the most deliveries per second of any complete
// step, sustained or not: what the server delivered while queues grew.
Step SearchMaxRate(Publisher& publisher, ClientPool& pool, const Env& env, std::size_t connections,
                   double start_rate, double step_s, int max_steps, int bisections,
                   const BenchArgs& args, std::uint64_t* seq, Report& report,
                   double* peak_deliveries_per_s = nullptr) {
  Step best;
  auto note_peak = [peak_deliveries_per_s](const Step& step) {
    if (peak_deliveries_per_s && step.complete) {
      *peak_deliveries_per_s = std::max(*peak_deliveries_per_s, step.deliveries_per_s);
    }
  };
  double bad_rate = 0;
  double rate = start_rate;
  for (int i = 0; i < max_steps; ++i) {
    Step step = RunStep(publisher, pool, env, connections, rate, step_s, args, seq);
    Progress("step %.1f events/s: %.0f deliveries/s p50 %.3f ms p99 %.3f ms %s %s", rate,
             step.deliveries_per_s, Ms(step.p50), Ms(step.p99),
             step.sustained ? "sustained" : "NOT sustained:", step.why.c_str());
    AddStepRow(report, step);
    note_peak(step);
    if (pool.server_closes() > 0) return best;  // connections lost: stop
    if (!step.sustained && best.rate == 0 && i < 3) {
      rate /= 2;  // the first rate was too high: start lower
      continue;
    }
    if (!step.sustained) {
      bad_rate = rate;
      break;
    }
    best = step;
    rate *= 1.6;
    WaitForEvents(pool, UINT64_MAX, 0.2, 0.3);  // let queues settle
  }
  for (int i = 0; i < bisections && bad_rate > 0 && best.rate > 0; ++i) {
    double mid = (best.rate + bad_rate) / 2;
    Step step = RunStep(publisher, pool, env, connections, mid, step_s, args, seq);
    Progress("bisect %.1f events/s: %.0f deliveries/s %s %s", mid, step.deliveries_per_s,
             step.sustained ? "sustained" : "NOT sustained:", step.why.c_str());
    AddStepRow(report, step);
    note_peak(step);
    if (pool.server_closes() > 0) return best;
    if (step.sustained) {
      best = step;
    } else {
      bad_rate = mid;
    }
    WaitForEvents(pool, UINT64_MAX, 0.2, 0.3);
  }
  return best;
}

// Checks, after everything was published, that every event reached every
// connection. Returns the number missing.
std::uint64_t FinalCheck(ClientPool& pool, std::uint64_t expected, Report& report) {
  WaitForEvents(pool, expected, 3.0, 30.0);
  std::uint64_t got = pool.total_events();
  std::uint64_t missing = got < expected ? expected - got : 0;
  report.Number("deliveries_expected", static_cast<double>(expected));
  report.Number("deliveries_missing", static_cast<double>(missing));
  report.Number("server_closes", static_cast<double>(pool.server_closes()));
  report.Number("error_events", static_cast<double>(pool.error_events()));
  if (missing > 0 || pool.server_closes() > 0 || pool.error_events() > 0) {
    std::string complaint = pool.FirstServerComplaint();
    std::fprintf(stderr, "herald bench: %llu deliveries missing%s%s\n",
                 static_cast<unsigned long long>(missing), complaint.empty() ? "" : "; ",
                 complaint.c_str());
  }
  return missing + pool.server_closes() + pool.error_events();
}

struct Fixture {
  std::unique_ptr<Env> env;
  std::unique_ptr<ClientPool> pool;
  std::unique_ptr<Publisher> publisher;
};

// Starts the server and connects n synthetic clients; nullopt-like empty
// env on failure, with the exit code in *code.
Fixture Prepare(config::Config config, const config::FlagValues& flags, const BenchArgs& args,
                std::size_t n, std::size_t subscriptions, bool latency, Report& report, int* code) {
  Fixture f;
  std::string error;
  f.env = SetUp(config, flags, args, static_cast<std::int64_t>(n), {}, &error);
  if (!f.env) {
    *code = Fail(error);
    return {};
  }
  f.pool = std::make_unique<ClientPool>(f.env->target, f.env->source_addresses, latency);
  if (!ConnectOrExplain(*f.pool, SyntheticSpecs(*f.env, n, subscriptions), *f.env, &report)) {
    *code = 1;
    return {};
  }
  f.publisher = std::make_unique<Publisher>(*f.env);
  return f;
}

std::size_t SubscriptionsOr(const BenchArgs& args, std::size_t fallback) {
  return args.subscriptions > 0 ? static_cast<std::size_t>(args.subscriptions) : fallback;
}

int Fanout(config::Config config, const config::FlagValues& flags, const BenchArgs& args) {
  Sizes sizes = SizesFor(args, {1000, 3.0}, {20, 0.5});
  Report report("fanout");
  int code = 0;
  std::size_t subscriptions = SubscriptionsOr(args, 9);
  Fixture f = Prepare(config, flags, args, sizes.connections, subscriptions, true, report, &code);
  if (!f.env) return code;
  double start_rate =
      args.rate > 0 ? args.rate : std::max(1.0, 200'000.0 / static_cast<double>(sizes.connections));
  std::uint64_t seq = 0;
  CpuMeter cpu(*f.env);
  double peak = 0;
  Step best =
      SearchMaxRate(*f.publisher, *f.pool, *f.env, sizes.connections, start_rate, sizes.duration_s,
                    args.smoke ? 2 : 12, args.smoke ? 0 : 2, args, &seq, report, &peak);
  report.Number("connections", static_cast<double>(sizes.connections));
  report.Number("subscriptions_per_connection", static_cast<double>(subscriptions));
  report.Number("max_sustained_events_per_s", best.rate, "events/s", 1);
  report.Number("deliveries_per_s", best.deliveries_per_s, "deliveries/s", 0);
  report.Number("latency_p50_ms", Ms(best.p50), "ms", 3);
  report.Number("latency_p99_ms", Ms(best.p99), "ms", 3);
  report.Number("peak_deliveries_per_s", peak, "deliveries/s (any complete step)", 0);
  report.Number("server_cpu_pct", best.server_cpu_pct, "% of one core (best step)", 0);
  report.Number("bench_cpu_pct", best.bench_cpu_pct, "% of one core (best step)", 0);
  report.Number("server_cpu_s_per_M_deliveries", best.server_s_per_m, "s (best step)", 2);
  report.Number("bench_cpu_s_per_M_deliveries", best.bench_s_per_m, "s (best step)", 2);
  std::uint64_t problems = FinalCheck(*f.pool, seq * sizes.connections, report);
  report.Print(args.json);
  if (best.rate == 0) Progress("no rate was sustained");
  return problems > 0 || best.rate == 0 ? 1 : 0;
}

// ---- latency ----

int Latency(config::Config config, const config::FlagValues& flags, const BenchArgs& args) {
  Sizes sizes = SizesFor(args, {1000, 10.0}, {20, 1.0});
  Report report("latency");
  int code = 0;
  std::size_t subscriptions = SubscriptionsOr(args, 9);
  Fixture f = Prepare(config, flags, args, sizes.connections, subscriptions, true, report, &code);
  if (!f.env) return code;
  std::uint64_t seq = 0;
  double rate = args.rate;
  if (rate <= 0) {
    Report search("latency-search");
    double start = std::max(1.0, 200'000.0 / static_cast<double>(sizes.connections));
    Step best = SearchMaxRate(*f.publisher, *f.pool, *f.env, sizes.connections, start,
                              args.smoke ? 0.5 : 2.0, args.smoke ? 1 : 12, args.smoke ? 0 : 2, args,
                              &seq, search);
    rate = std::max(1.0, best.rate / 2);
    report.Number("fanout_max_events_per_s", best.rate, "events/s", 1);
    Progress("latency at half the sustained fanout rate: %.1f events/s", rate);
    WaitForEvents(*f.pool, seq * sizes.connections, 1.0, 10.0);
  }
  f.pool->TakeLatency();
  std::uint64_t base = f.pool->total_events();
  CpuMeter cpu(*f.env);
  RateRun run = PublishAtRate(*f.publisher, f.pool.get(), rate, sizes.duration_s, args,
                              sizes.connections, &seq, false);
  std::uint64_t expected = run.published * sizes.connections;
  WaitForEvents(*f.pool, base + expected, 3.0, 30.0);
  Histogram h = f.pool->TakeLatency();
  double delivered = static_cast<double>(f.pool->total_events() - base);
  report.Number("connections", static_cast<double>(sizes.connections));
  report.Number("events_per_s", static_cast<double>(run.published) / run.seconds, "events/s", 1);
  report.Number("deliveries_per_s", delivered / cpu.WallS(), "deliveries/s", 0);
  report.Number("samples", static_cast<double>(h.count()));
  report.Number("latency_p50_ms", Ms(h.Quantile(0.5)), "ms", 3);
  report.Number("latency_p90_ms", Ms(h.Quantile(0.9)), "ms", 3);
  report.Number("latency_p99_ms", Ms(h.Quantile(0.99)), "ms", 3);
  report.Number("latency_p999_ms", Ms(h.Quantile(0.999)), "ms", 3);
  report.Number("latency_max_ms", Ms(h.max_ns()), "ms", 3);
  AddCpu(report, cpu, delivered);
  if (!run.error.empty()) std::fprintf(stderr, "herald bench: %s\n", run.error.c_str());
  std::uint64_t problems = FinalCheck(*f.pool, seq * sizes.connections, report);
  report.Print(args.json);
  return problems > 0 || !run.error.empty() ? 1 : 0;
}

// ---- idle ----

int Idle(config::Config config, const config::FlagValues& flags, const BenchArgs& args) {
  Sizes sizes = SizesFor(args, {1000, 5.0}, {20, 0.5});
  std::size_t subscriptions = SubscriptionsOr(args, 5);
  Report report("idle");
  std::string error;
  auto env = SetUp(config, flags, args, static_cast<std::int64_t>(sizes.connections), {}, &error);
  if (!env) return Fail(error);
  ClientPool pool(env->target, env->source_addresses, false);
  SleepNs(300'000'000);
  std::int64_t baseline_kib = env->ServerRssKiB();
  std::int64_t bench_baseline_kib = ProcessRssKiB(getpid());
  std::int64_t slab_baseline_kib = SystemSlabKiB();
  if (!ConnectOrExplain(pool, SyntheticSpecs(*env, sizes.connections, subscriptions), *env,
                        &report)) {
    return 1;
  }
  SleepNs(args.smoke ? 200'000'000 : 1'000'000'000);  // let the server settle
  std::int64_t loaded_kib = env->ServerRssKiB();
  std::int64_t bench_loaded_kib = ProcessRssKiB(getpid());
  std::int64_t slab_loaded_kib = SystemSlabKiB();
  CpuMeter cpu(*env);
  SleepNs(static_cast<std::int64_t>(sizes.duration_s * 1e9));
  double idle_wall = cpu.WallS(), idle_server = cpu.ServerS(), idle_bench = cpu.BenchS();

  // One event to everyone proves that each idle client is still subscribed.
  Publisher publisher(*env);
  std::uint64_t seq = 0;
  std::string& body = publisher.body();
  body = "[";
  AppendTimedEvent(body, seq++, sizes.connections, "idle");
  body += "]";
  if (!publisher.PostBody(&error)) return Fail(error);

  auto n = static_cast<double>(sizes.connections);
  report.Number("connections", n);
  report.Number("subscriptions_per_connection", static_cast<double>(subscriptions));
  report.Number("server_rss_baseline_mib", static_cast<double>(baseline_kib) / 1024, "MiB", 1);
  report.Number("server_rss_loaded_mib", static_cast<double>(loaded_kib) / 1024, "MiB", 1);
  report.Number("server_rss_per_connection_kib",
                baseline_kib < 0 ? NAN : static_cast<double>(loaded_kib - baseline_kib) / n, "KiB",
                2);
  report.Number("bench_rss_per_connection_kib",
                static_cast<double>(bench_loaded_kib - bench_baseline_kib) / n, "KiB", 2);
  // Machine-wide, so it holds both ends of each loopback connection (and
  // anything else the machine did meanwhile); the server's share is about half.
  report.Number(
      "kernel_slab_per_connection_kib",
      slab_baseline_kib < 0 ? NAN : static_cast<double>(slab_loaded_kib - slab_baseline_kib) / n,
      "KiB, both ends", 2);
  report.Number("idle_server_cpu_pct", 100 * idle_server / idle_wall, "% of one core", 1);
  report.Number("idle_bench_cpu_pct", 100 * idle_bench / idle_wall, "% of one core", 1);
  std::uint64_t problems = FinalCheck(pool, sizes.connections, report);
  report.Print(args.json);
  return problems > 0 ? 1 : 0;
}

// ---- churn ----

int Churn(config::Config config, const config::FlagValues& flags, const BenchArgs& args) {
  Sizes sizes = SizesFor(args, {1000, 5.0}, {10, 1.0});
  std::size_t concurrency =
      args.concurrency > 0 ? static_cast<std::size_t>(args.concurrency) : (args.smoke ? 4 : 32);
  std::size_t subscriptions = SubscriptionsOr(args, 9);
  Report report("churn");
  std::string error;
  auto env = SetUp(config, flags, args, static_cast<std::int64_t>(sizes.connections + concurrency),
                   {}, &error);
  if (!env) return Fail(error);
  // The churn happens among `connections` idle clients that stay.
  ClientPool background(env->target, env->source_addresses, false);
  if (!ConnectOrExplain(background, SyntheticSpecs(*env, sizes.connections, subscriptions), *env,
                        nullptr)) {
    return 1;
  }
  ClientPool pool(env->target, env->source_addresses, false);
  std::vector<ConnSpec> specs = SyntheticSpecs(*env, concurrency, subscriptions, sizes.connections);
  Progress("churning %zu slots for %.1f s beside %zu idle clients", concurrency, sizes.duration_s,
           sizes.connections);
  CpuMeter cpu(*env);
  ChurnResult result = pool.Churn(std::move(specs), sizes.duration_s);
  double wall = cpu.WallS();
  auto cycles = static_cast<double>(result.cycles);
  report.Number("idle_connections", static_cast<double>(sizes.connections));
  report.Number("concurrency", static_cast<double>(concurrency));
  report.Number("subscriptions_per_connection", static_cast<double>(subscriptions));
  report.Number("cycles", cycles);
  report.Number("cycles_per_s", cycles / wall, "connect+auth+subscribe+close/s", 0);
  report.Number("cycle_p50_ms", Ms(result.cycle_ns.Quantile(0.5)), "ms", 3);
  report.Number("cycle_p99_ms", Ms(result.cycle_ns.Quantile(0.99)), "ms", 3);
  report.Number("failed", static_cast<double>(result.failed));
  // The idle connections must all survive the churn beside them.
  report.Number("idle_closed_by_server", static_cast<double>(background.server_closes()));
  report.Number("error_events",
                static_cast<double>(background.error_events() + pool.error_events()));
  report.Number("server_cpu_pct", 100 * cpu.ServerS() / wall, "% of one core", 0);
  report.Number("bench_cpu_pct", 100 * cpu.BenchS() / wall, "% of one core", 0);
  report.Number("server_cpu_ms_per_k_cycles", cpu.ServerS() / cycles * 1e6, "ms", 1);
  report.Number("bench_cpu_ms_per_k_cycles", cpu.BenchS() / cycles * 1e6, "ms", 1);
  report.Print(args.json);
  if (result.failed > 0) {
    std::fprintf(stderr, "herald bench: %llu cycles failed; first: %s\n",
                 static_cast<unsigned long long>(result.failed), result.first_error.c_str());
  }
  bool troubled =
      background.server_closes() > 0 || background.error_events() > 0 || pool.error_events() > 0;
  if (troubled) {
    std::string complaint = background.FirstServerComplaint();
    if (complaint.empty()) complaint = pool.FirstServerComplaint();
    std::fprintf(stderr,
                 "herald bench: %llu idle connections ended by the server, %llu error events: %s\n",
                 static_cast<unsigned long long>(background.server_closes()),
                 static_cast<unsigned long long>(background.error_events() + pool.error_events()),
                 complaint.c_str());
  }
  return result.failed > 0 || result.cycles == 0 || troubled ? 1 : 0;
}

// ---- stp ----

// Publishes items in order, in batches, keeping at most `window` expected
// deliveries outstanding so that no client queue grows without bound.
// Stops at the deadline. Returns how many items were published.
// Without a pool (the warm-up) nothing is expected and nothing waits.
std::size_t PublishWindowed(Publisher& publisher, ClientPool* pool,
                            const std::vector<std::string>& items,
                            const std::vector<std::uint64_t>& deliveries, std::size_t max_batch,
                            std::uint64_t window, std::int64_t deadline_ns, std::uint64_t base,
                            std::string* error) {
  std::size_t published = 0;
  std::uint64_t expected = 0;
  while (published < items.size() && NowNs() < deadline_ns) {
    std::size_t end = published;
    std::uint64_t batch_deliveries = 0;
    while (end < items.size() && end - published < max_batch && batch_deliveries < window / 4) {
      batch_deliveries += pool ? deliveries[end] : 0;
      ++end;
    }
    while (pool) {
      std::uint64_t arrived = pool->total_events() - base;
      std::uint64_t outstanding = expected - std::min(expected, arrived);
      if (outstanding == 0 || outstanding + batch_deliveries <= window) break;
      if (NowNs() >= deadline_ns) return published;
      SleepNs(100'000);
    }
    if (!publisher.Post(items, published, end, error)) return published;
    published = end;
    expected += batch_deliveries;
  }
  return published;
}

void ReportMismatches(const StpWorkload& w, const std::vector<ConnCounters>& got,
                      std::size_t published, Report& report, std::size_t* mismatched) {
  std::vector<std::uint64_t> counts, hashes;
  w.Expected(published, &counts, &hashes);
  *mismatched = 0;
  std::uint64_t expected_total = 0, received_total = 0, min_expected = UINT64_MAX, max_expected = 0;
  for (std::size_t u = 0; u < w.users.size(); ++u) {
    expected_total += counts[u];
    received_total += got[u].events;
    min_expected = std::min(min_expected, counts[u]);
    max_expected = std::max(max_expected, counts[u]);
    if (got[u].events == counts[u] && got[u].name_hash_sum == hashes[u]) continue;
    if ((*mismatched)++ < 5) {
      std::fprintf(stderr, "mismatch: user %s received %llu events, expected %llu%s\n",
                   w.users[u].c_str(), static_cast<unsigned long long>(got[u].events),
                   static_cast<unsigned long long>(counts[u]),
                   got[u].events == counts[u] ? " (same count, other events)" : "");
    }
  }
  report.Number("deliveries_expected", static_cast<double>(expected_total));
  report.Number("deliveries_received", static_cast<double>(received_total));
  report.Number("per_user_expected_min", static_cast<double>(min_expected));
  report.Number("per_user_expected_max", static_cast<double>(max_expected));
  report.Number("users_mismatched", static_cast<double>(*mismatched));
}

int Stp(config::Config config, const config::FlagValues& flags, const BenchArgs& args) {
  Sizes sizes = SizesFor(args, {1000, 60.0}, {50, 10.0});
  std::size_t events =
      args.events > 0 ? static_cast<std::size_t>(args.events) : (args.smoke ? 1000 : 20000);
  std::size_t warmup = std::clamp<std::size_t>(sizes.connections, args.smoke ? 500 : 2000, 40000);
  if (warmup + events > kMaxStpStream) events = kMaxStpStream - warmup;
  Report report("stp");

  Progress("generating %zu + %zu events for %zu users (seed %llu)", warmup, events,
           sizes.connections, static_cast<unsigned long long>(args.seed));
  StpWorkload w = BuildStpWorkload(sizes.connections, warmup, events, args.seed, kStpGraceMs);
  std::string error;
  std::vector<std::string> server_flags = {"--tombstone-grace-ms", std::to_string(kStpGraceMs)};
  if (!args.url.empty()) {
    Progress("note: the server must run with --tombstone-grace-ms %lld and an empty data dir",
             static_cast<long long>(kStpGraceMs));
  }
  auto env = SetUp(config, flags, args, static_cast<std::int64_t>(sizes.connections), server_flags,
                   &error);
  if (!env) return Fail(error);
  Publisher publisher(*env);

  Progress("publishing %zu warm-up events (memberships)", w.warmup_items.size());
  PublishWindowed(publisher, nullptr, w.warmup_items, {}, args.batch, UINT64_MAX, INT64_MAX, 0,
                  &error);
  if (!error.empty()) return Fail(error);

  ClientPool pool(env->target, env->source_addresses, false);
  std::vector<ConnSpec> specs(w.users.size());
  std::size_t patterns = 0;
  for (std::size_t u = 0; u < w.users.size(); ++u) {
    specs[u] = {w.users[u], env->Token(w.users[u]), w.patterns[u]};
    patterns += w.patterns[u].size();
  }
  if (!ConnectOrExplain(pool, std::move(specs), *env, &report)) return 1;

  CpuMeter cpu(*env);
  std::uint64_t window = std::max<std::uint64_t>(100'000, 20 * sizes.connections);
  std::size_t published =
      PublishWindowed(publisher, &pool, w.items, w.deliveries, args.batch, window,
                      NowNs() + static_cast<std::int64_t>(sizes.duration_s * 1e9), 0, &error);
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < published; ++i) expected += w.deliveries[i];
  WaitForEvents(pool, expected, 3.0, 60.0);
  double wall = cpu.WallS();
  auto delivered = static_cast<double>(pool.total_events());
  if (!error.empty()) std::fprintf(stderr, "herald bench: %s\n", error.c_str());

  std::size_t mismatched = 0;
  report.Number("connections", static_cast<double>(sizes.connections));
  report.Number("patterns_per_connection_avg",
                static_cast<double>(patterns) / static_cast<double>(sizes.connections), "", 1);
  report.Number("warmup_events", static_cast<double>(w.warmup_items.size()));
  report.Number("events_published", static_cast<double>(published));
  report.Number("events_dropped_by_rules", static_cast<double>(w.dropped_items));
  report.Number("events_per_s", static_cast<double>(published) / wall, "events/s", 0);
  report.Number("deliveries_per_s", delivered / wall, "deliveries/s", 0);
  AddCpu(report, cpu, delivered);
  ReportMismatches(w, pool.Counters(), published, report, &mismatched);
  report.Number("server_closes", static_cast<double>(pool.server_closes()));
  report.Number("error_events", static_cast<double>(pool.error_events()));
  report.Print(args.json);
  if (pool.server_closes() > 0 || pool.error_events() > 0) {
    std::fprintf(stderr, "herald bench: %s\n", pool.FirstServerComplaint().c_str());
  }
  bool bad = mismatched > 0 || pool.server_closes() > 0 || pool.error_events() > 0 ||
             !error.empty() || (published == 0 && !w.items.empty());
  return bad ? 1 : 0;
}

}  // namespace

int Bench(config::Config config, const config::FlagValues& flags, const BenchArgs& args) {
  std::signal(SIGPIPE, SIG_IGN);
  using Runner = int (*)(config::Config, const config::FlagValues&, const BenchArgs&);
  const std::vector<std::pair<std::string, Runner>> scenarios = {
      {"fanout", Fanout}, {"latency", Latency}, {"idle", Idle}, {"churn", Churn}, {"stp", Stp}};
  int worst = 0;
  bool found = false;
  for (const auto& [name, run] : scenarios) {
    if (args.scenario != name && args.scenario != "all") continue;
    found = true;
    int code = run(config, flags, args);
    worst = std::max(worst, code);
    if (code != 0) Progress("%s: FAILED (exit %d)", name.c_str(), code);
  }
  if (!found) {
    return Fail("unknown scenario '" + args.scenario +
                "': use fanout, stp, latency, idle, churn or all");
  }
  return worst;
}

}  // namespace herald::cli
