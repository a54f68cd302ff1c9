// An event on its way from the router to the shards.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "session/session.h"

namespace herald::fanout {

// Who may receive an event: everyone, or exactly these users.
struct AudienceSet {
  bool everyone = false;
  std::vector<std::string> users;            // to walk a small audience
  std::unordered_set<std::string> user_set;  // to check one receiver

  bool Contains(const std::string& user) const { return everyone || user_set.contains(user); }
};

// One event as the shards see it: the frame is encoded once by the router
// and shared, immutable, by every receiver on every shard.
struct OutboundEvent {
  std::string name;
  session::FramePtr frame;
  std::shared_ptr<const AudienceSet> audience;
};

using EventBatch = std::shared_ptr<const std::vector<OutboundEvent>>;

}  // namespace herald::fanout
