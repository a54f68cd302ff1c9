// Counts connections per user across all shards.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

namespace herald::fanout {

// Thread-safe. Used once at connect and once at close, never per event, so
// a plain mutex is cheap enough.
class UserLimiter {
 public:
  explicit UserLimiter(int max_per_user) : max_per_user_(max_per_user) {}

  // Takes a slot for user; false if the user already holds max_per_user.
  bool TryAcquire(const std::string& user);
  void Release(const std::string& user);

 private:
  const int max_per_user_;
  std::mutex mutex_;
  std::unordered_map<std::string, int> counts_;
};

}  // namespace herald::fanout
