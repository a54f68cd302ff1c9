// Counters a shard keeps for its sessions, read by /metrics.
//
// Each shard owns one SessionStats; only that shard's thread writes it, and
// the metrics page reads all of them from another thread, hence relaxed
// atomics (no contention: one writer per cache line group).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace herald::session {

// Why a session ended or lost a frame, for herald_drops_total{reason}.
enum class DropReason {
  kSlowConsumer,
  kPingTimeout,
  kRateAbuse,
  kFrameTooBig,
  kInvalidUtf8,
  kProtocolError,
  kTokenExpired,
  kCount,
};

std::string_view MetricLabel(DropReason reason);

struct SessionStats {
  std::atomic<std::int64_t> connections{0};
  std::atomic<std::int64_t> subscriptions{0};
  std::atomic<std::uint64_t> commands_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> command_errors{0};
  std::array<std::atomic<std::uint64_t>, static_cast<int>(DropReason::kCount)> drops{};

  void Count(DropReason reason) {
    drops[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace herald::session
