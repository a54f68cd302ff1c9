// The router: the one ordered path from ingress to the shards.
//
// Thread-safe: Publish() may be called from any shard thread (HTTP
// ingress) and takes one mutex for the whole batch, so every shard sees
// every event in one global order (DESIGN.md section 4). Inside the lock it
// updates the membership index, resolves the audience, encodes the frame
// once and posts one batch to each shard.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fanout/shard.h"
#include "membership/membership_index.h"

namespace herald::fanout {

// One event as a publisher sent it; validated by the ingress.
struct PublishItem {
  std::string name;
  std::string data;  // raw JSON, forwarded byte for byte; empty = absent
  std::optional<std::vector<std::string>> users;
};

struct RouterStats {
  std::atomic<std::uint64_t> events_in{0};
  std::atomic<std::uint64_t> events_routed{0};
  // Events dropped for an empty audience, by membership::DropReason.
  std::array<std::atomic<std::uint64_t>, 16> audience_drops{};
  // The membership store: failed write attempts, and rows not saved yet
  // (see membership::Store).
  std::atomic<std::uint64_t> membership_write_errors{0};
  std::atomic<std::uint64_t> membership_unsaved{0};
};

class Router {
 public:
  Router(std::vector<Shard*> shards, membership::MembershipIndex& index);

  // Routes a batch in order. Thread-safe.
  void Publish(std::vector<PublishItem> items);

  const RouterStats& stats() const { return stats_; }

  // Retries membership writes that failed. Thread-safe; `serve` calls it
  // every second so that the store catches up without new events.
  void RetryUnsavedMemberships();

  // Runs f(index) under the router's lock, for readers such as /metrics.
  template <typename F>
  auto WithIndex(F&& f) {
    std::lock_guard lock(mutex_);
    return f(index_);
  }

 private:
  std::optional<OutboundEvent> Route(PublishItem& item, std::int64_t now_ms);
  void LogDrop(const PublishItem& item, membership::DropReason reason);
  // Publishes the store's state in stats_ and logs when it goes bad or recovers.
  void NoteStoreHealth();

  std::vector<Shard*> shards_;
  std::mutex mutex_;
  membership::MembershipIndex& index_;
  RouterStats stats_;
  // Last drop log per event family, for at most one line a minute each.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_drop_log_;
};

}  // namespace herald::fanout
