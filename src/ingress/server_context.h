// What every listener and HTTP connection shares, built once by `serve`.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "config/config.h"
#include "fanout/router.h"
#include "fanout/shard.h"

namespace herald::ingress {

// Auth failures by auth::AuthError, for herald_auth_failures_total{reason}.
struct AuthStats {
  std::array<std::atomic<std::uint64_t>, 16> failures{};
};

// Read-only after start-up but for the atomics, so shared by all shard
// threads without a lock.
struct ServerContext {
  const config::Config* config = nullptr;
  std::string endpoint_path;  // "/ws/<version>/events"
  const auth::JwtVerifier* verifier = nullptr;
  fanout::Router* router = nullptr;
  std::vector<fanout::Shard*> shards;
  AuthStats auth_stats;
  std::atomic<std::uint64_t> publish_requests{0};
  std::atomic<std::uint64_t> publish_rejected{0};
  std::atomic<bool> ready{false};
};

// Prometheus text for /metrics.
std::string RenderMetrics(ServerContext& context);

}  // namespace herald::ingress
