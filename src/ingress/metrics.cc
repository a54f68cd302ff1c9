#include <fmt/format.h>

#include "ingress/server_context.h"

namespace herald::ingress {
namespace {

void Metric(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename T>
void Sample(std::string& out, std::string_view name, T value, std::string_view labels = {}) {
  if (labels.empty()) {
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  } else {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
  }
}

template <typename F>
std::uint64_t SumShards(const ServerContext& context, F&& field) {
  std::uint64_t sum = 0;
  for (const fanout::Shard* shard : context.shards) sum += field(shard->stats());
  return sum;
}

}  // namespace

std::string RenderMetrics(ServerContext& context) {
  using Stats = session::SessionStats;
  constexpr auto kRelaxed = std::memory_order_relaxed;
  std::string out;

  Metric(out, "herald_connections", "gauge", "Open WebSocket connections.");
  Sample(out, "herald_connections",
         SumShards(context, [](const Stats& s) { return s.connections.load(kRelaxed); }));
  Metric(out, "herald_subscriptions", "gauge", "Patterns held by open connections.");
  Sample(out, "herald_subscriptions",
         SumShards(context, [](const Stats& s) { return s.subscriptions.load(kRelaxed); }));

  const fanout::RouterStats& router = context.router->stats();
  Metric(out, "herald_events_in_total", "counter", "Events received from publishers.");
  Sample(out, "herald_events_in_total", router.events_in.load(kRelaxed));
  Metric(out, "herald_events_routed_total", "counter", "Events with a non-empty audience.");
  Sample(out, "herald_events_routed_total", router.events_routed.load(kRelaxed));
  Metric(out, "herald_frames_out_total", "counter", "WebSocket frames written to clients.");
  Sample(out, "herald_frames_out_total",
         SumShards(context, [](const Stats& s) { return s.frames_out.load(kRelaxed); }));
  Metric(out, "herald_commands_in_total", "counter", "Commands received from clients.");
  Sample(out, "herald_commands_in_total",
         SumShards(context, [](const Stats& s) { return s.commands_in.load(kRelaxed); }));
  Metric(out, "herald_command_errors_total", "counter", "Error events sent to clients.");
  Sample(out, "herald_command_errors_total",
         SumShards(context, [](const Stats& s) { return s.command_errors.load(kRelaxed); }));

  Metric(out, "herald_drops_total", "counter", "Connections closed or events dropped, by reason.");
  for (int i = 0; i < static_cast<int>(session::DropReason::kCount); ++i) {
    auto value = SumShards(context, [i](const Stats& s) { return s.drops[i].load(kRelaxed); });
    Sample(out, "herald_drops_total", value,
           fmt::format("reason=\"{}\"", MetricLabel(static_cast<session::DropReason>(i))));
  }
  for (std::size_t i = 1; i < router.audience_drops.size(); ++i) {
    auto value = router.audience_drops[i].load(kRelaxed);
    if (value == 0) continue;
    auto reason = static_cast<membership::DropReason>(i);
    Sample(out, "herald_drops_total", value,
           fmt::format("reason=\"{}\"", membership::MetricLabel(reason)));
  }

  Metric(out, "herald_membership_write_errors_total", "counter",
         "Membership database write attempts that failed (retries included).");
  Sample(out, "herald_membership_write_errors_total",
         router.membership_write_errors.load(kRelaxed));
  Metric(out, "herald_membership_unsaved", "gauge",
         "Membership rows whose newest state is not in the database yet.");
  Sample(out, "herald_membership_unsaved", router.membership_unsaved.load(kRelaxed));

  Metric(out, "herald_auth_failures_total", "counter", "Rejected tokens, by reason.");
  for (std::size_t i = 0; i < context.auth_stats.failures.size(); ++i) {
    auto value = context.auth_stats.failures[i].load(kRelaxed);
    if (value == 0) continue;
    Sample(out, "herald_auth_failures_total", value,
           fmt::format("reason=\"{}\"", auth::MetricLabel(static_cast<auth::AuthError>(i))));
  }

  Metric(out, "herald_publish_requests_total", "counter", "POST /publish requests.");
  Sample(out, "herald_publish_requests_total", context.publish_requests.load(kRelaxed));
  Metric(out, "herald_publish_rejected_total", "counter", "Publish requests answered 4xx.");
  Sample(out, "herald_publish_rejected_total", context.publish_rejected.load(kRelaxed));
  return out;
}

}  // namespace herald::ingress
