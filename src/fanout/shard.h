// A shard: one thread's share of the connections (DESIGN.md section 4).
//
// Owner: its own thread, running io(). Everything but Post() and stats()
// runs on that thread; nothing inside is locked. Sessions call back through
// SessionHost; the router reaches a shard only through Post().
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/subscription_trie.h"
#include "fanout/event.h"
#include "fanout/user_limiter.h"
#include "session/session.h"

namespace herald::fanout {

class Shard : public session::SessionHost {
 public:
  Shard(int index, const session::SessionLimits& limits, UserLimiter& user_limiter);

  asio::io_context& io() { return io_; }
  int index() const { return index_; }
  session::SessionStats& stats() { return stats_; }
  const session::SessionStats& stats() const { return stats_; }

  // Thread-safe. Queues a batch for delivery on this shard's thread; batches
  // are delivered in the order they were posted.
  void Post(EventBatch batch);

  // Shard thread. Creates a session for an authenticated socket. *admitted
  // is false when the user already holds the most connections allowed; the
  // caller must then Refuse() the session instead of starting it.
  std::shared_ptr<session::Session> Adopt(tcp::socket socket, std::string user, bool* admitted);

  // Shard thread. Creates a session that holds no slot and is never
  // listed for delivery, for a socket that failed authentication.
  std::shared_ptr<session::Session> AdoptForRefusal(tcp::socket socket);

  // Shard thread. Starts closing every session with code (server shutdown).
  void CloseAll(protocol::CloseCode code, std::string_view reason);

  std::size_t session_count() const { return sessions_.size(); }

  // Shard thread. Lists a subscriber under its user for audience walks;
  // Detach removes it and all its subscriptions. Adopt() attaches sessions;
  // tests and benchmarks attach fakes.
  void Attach(session::Subscriber& s);
  // Returns false if s was not attached.
  bool Detach(session::Subscriber& s);

  // SessionHost.
  void AddSubscription(session::Subscriber& s, const std::string& pattern) override;
  void RemoveSubscription(session::Subscriber& s, const std::string& pattern) override;
  void SessionClosed(session::Subscriber& s) override;

  // Shard thread. Delivers one event to every matching session allowed to
  // see it, once per session; Flush() then starts the writes. Public for
  // tests and benchmarks.
  void Deliver(const OutboundEvent& event);
  void Flush();

 private:
  void Drain();
  void DeliverToMatches(const OutboundEvent& event);
  void DeliverToAudience(const OutboundEvent& event);
  void Offer(session::Subscriber* s, const OutboundEvent& event);

  const int index_;
  const session::SessionLimits& limits_;
  UserLimiter& user_limiter_;
  session::SessionStats stats_;

  core::SubscriptionTrie<session::Subscriber*> trie_;
  std::unordered_map<std::string, std::vector<session::Subscriber*>> by_user_;
  std::unordered_map<session::Subscriber*, std::weak_ptr<session::Session>> sessions_;
  std::uint64_t next_session_id_ = 1;
  std::uint64_t event_stamp_ = 0;
  std::vector<session::Subscriber*> to_flush_;

  std::mutex inbox_mutex_;  // guards inbox_ and drain_scheduled_ (router vs shard)
  std::vector<EventBatch> inbox_;
  bool drain_scheduled_ = false;

  // Last, so it is destroyed first: sessions still alive at shutdown are
  // destroyed with their handlers and still use the members above.
  asio::io_context io_{1};
};

}  // namespace herald::fanout
