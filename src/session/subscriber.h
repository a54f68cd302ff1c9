// What a shard's subscription index holds for each connection.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "core/name.h"

namespace herald::session {

// An encoded WebSocket frame shared, immutable, by every receiver.
using FramePtr = std::shared_ptr<const std::string>;

// A receiver of events: a user, the patterns they hold and a way to take a
// frame. Session is the real one; tests and benchmarks of the fan-out use
// light fakes. Thread-confined to the owning shard.
class Subscriber {
 public:
  explicit Subscriber(std::string user) : user_(std::move(user)) {}
  virtual ~Subscriber() = default;

  // Takes one event frame. Must not call back into the shard.
  virtual void Deliver(const FramePtr& frame) = 0;

  // Sends what Deliver queued. The shard calls it once per subscriber after
  // a run of events, so that several frames go out in one write.
  virtual void Flush() {}

  // Set by the shard while the subscriber waits for Flush.
  bool flush_pending = false;

  const std::string& user() const { return user_; }
  const std::unordered_set<std::string>& patterns() const { return patterns_; }

  // True if one of the patterns matches name. Used when walking a small
  // audience instead of the subscription index.
  bool Matches(std::string_view name) const {
    return std::any_of(patterns_.begin(), patterns_.end(),
                       [name](const std::string& p) { return core::PatternMatches(p, name); });
  }

  // The last event this subscriber was offered; the shard uses it to deliver
  // an event once however many of the subscriber's patterns match.
  std::uint64_t last_event_stamp = 0;

 protected:
  const std::string user_;
  std::unordered_set<std::string> patterns_;
};

}  // namespace herald::session
