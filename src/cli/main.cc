// herald: the event gateway and its companion commands (DESIGN.md section 5).
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/bench.h"
#include "cli/client.h"
#include "cli/serve.h"
#include "config/config.h"

namespace {

using herald::config::Config;

// Resolves the configuration of a subcommand or exits with a message.
Config ResolveOrExit(const herald::config::FlagValues& flags) {
  Config config;
  std::string error;
  if (!herald::config::Resolve(flags, &config, &error)) {
    std::cerr << "herald: " << error << "\n";
    std::exit(2);
  }
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Herald: a real-time event gateway over WebSocket"};
  app.require_subcommand(1);

  herald::config::FlagValues serve_flags, token_flags, publish_flags, subscribe_flags;
  auto* serve = app.add_subcommand("serve", "run the gateway");
  herald::config::AddFlags(*serve, serve_flags);

  herald::cli::TokenArgs token_args;
  auto* token = app.add_subcommand("token", "mint a development JWT with the HS256 secret");
  token->add_option("--sub", token_args.sub, "user ID (the sub claim)")->required();
  token->add_option("--ttl", token_args.ttl, "lifetime: 90s, 15m, 1h, 2d")->capture_default_str();
  herald::config::AddFlags(*token, token_flags);

  herald::cli::PublishArgs publish_args;
  auto* publish = app.add_subcommand("publish", "publish one event to a running gateway");
  publish->add_option("event", publish_args.event, "event name")->required();
  publish->add_option("data", publish_args.data, "JSON payload");
  publish->add_option("--users", publish_args.users, "comma-separated audience (user IDs)");
  herald::config::AddFlags(*publish, publish_flags);

  herald::cli::SubscribeArgs subscribe_args;
  auto* subscribe = app.add_subcommand("subscribe", "print events matching patterns");
  subscribe->add_option("patterns", subscribe_args.patterns, "event patterns")->required();
  subscribe->add_option("--sub", subscribe_args.sub, "user ID to connect as")
      ->capture_default_str();
  subscribe->add_option("--token", subscribe_args.token, "use this JWT instead of minting one");
  herald::config::AddFlags(*subscribe, subscribe_flags);

  herald::config::FlagValues bench_flags;
  herald::cli::BenchArgs bench_args;
  auto* bench =
      app.add_subcommand("bench", "measure a server with many clients (docs/PERFORMANCE.md)");
  bench->add_option("scenario", bench_args.scenario, "fanout, stp, latency, idle, churn or all")
      ->required();
  bench->add_option("--url", bench_args.url,
                    "ws://host:port of a running server (default: start one)");
  bench->add_option("--server-pid", bench_args.server_pid, "with --url: its pid, for CPU and RSS");
  bench->add_option("--connections", bench_args.connections, "client connections");
  bench->add_option("--duration", bench_args.duration_s,
                    "seconds per measurement (fanout: per step)");
  bench->add_option("--rate", bench_args.rate, "events per second (latency; fanout: first step)");
  bench->add_option("--concurrency", bench_args.concurrency, "churn: cycles in flight");
  bench->add_option("--subscriptions", bench_args.subscriptions, "patterns per connection, 1..9");
  bench->add_option("--events", bench_args.events, "stp: events to publish after the warm-up");
  bench->add_option("--seed", bench_args.seed, "stp: seed of the event stream");
  bench->add_option("--batch", bench_args.batch, "most events per POST /publish")
      ->capture_default_str();
  bench->add_option("--publish-interval-ms", bench_args.publish_interval_ms,
                    "least time between two POSTs (batches what is due)");
  bench->add_option("--payload-bytes", bench_args.payload_bytes, "padding in each event")
      ->capture_default_str();
  bench->add_option("--source-addresses", bench_args.source_addresses, "spread over 127.0.0.1..N");
  bench->add_flag("--smoke", bench_args.smoke, "tiny sizes: a few seconds per scenario");
  bench->add_flag("--json", bench_args.json, "print one JSON object per scenario");
  herald::config::AddFlags(*bench, bench_flags);

  auto* config_doc = app.add_subcommand("config-doc", "print every setting as Markdown");
  config_doc->group("");  // hidden: it writes docs/CONFIGURATION.md

  CLI11_PARSE(app, argc, argv);

  if (config_doc->parsed()) {
    std::cout << herald::config::OptionsMarkdown();
    return 0;
  }

  if (serve->parsed()) return herald::cli::Serve(ResolveOrExit(serve_flags), argv[0]);
  if (token->parsed()) return herald::cli::Token(ResolveOrExit(token_flags), token_args);
  if (publish->parsed()) return herald::cli::Publish(ResolveOrExit(publish_flags), publish_args);
  if (bench->parsed()) {
    return herald::cli::Bench(ResolveOrExit(bench_flags), bench_flags, bench_args);
  }
  if (subscribe->parsed()) {
    return herald::cli::Subscribe(ResolveOrExit(subscribe_flags), subscribe_args);
  }
  return 2;
}
