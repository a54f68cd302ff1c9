#include "fanout/shard.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace herald::fanout {

bool UserLimiter::TryAcquire(const std::string& user) {
  std::lock_guard lock(mutex_);
  int& count = counts_[user];
  if (count >= max_per_user_) return false;
  ++count;
  return true;
}

void UserLimiter::Release(const std::string& user) {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(user);
  if (it == counts_.end()) return;
  if (--it->second <= 0) counts_.erase(it);
}

Shard::Shard(int index, const session::SessionLimits& limits, UserLimiter& user_limiter)
    : index_(index), limits_(limits), user_limiter_(user_limiter) {}

void Shard::Post(EventBatch batch) {
  bool schedule = false;
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(batch));
    schedule = !drain_scheduled_;
    drain_scheduled_ = true;
  }
  if (schedule) asio::post(io_, [this] { Drain(); });
}

// Delivers every batch posted since the last drain, then flushes each
// touched subscriber once. Under load batches pile up while the shard is
// busy, so one drain covers many events and each connection gets them in
// one gathered write (DESIGN.md section 4, "Writes").
void Shard::Drain() {
  std::vector<EventBatch> batches;
  {
    std::lock_guard lock(inbox_mutex_);
    batches.swap(inbox_);
    drain_scheduled_ = false;
  }
  for (const EventBatch& batch : batches) {
    for (const OutboundEvent& event : *batch) Deliver(event);
  }
  Flush();
}

void Shard::Flush() {
  // Note: nothing between Deliver and here runs other handlers, so no
  // subscriber in to_flush_ can have been destroyed.
  for (session::Subscriber* s : to_flush_) {
    s->flush_pending = false;
    s->Flush();
  }
  to_flush_.clear();
}

std::shared_ptr<session::Session> Shard::Adopt(tcp::socket socket, std::string user,
                                               bool* admitted_out) {
  // Session ids carry the shard index in the top bits so that log lines of
  // different shards never share a conn= value.
  std::uint64_t id = (static_cast<std::uint64_t>(index_) << 48) | next_session_id_++;
  bool admitted = user_limiter_.TryAcquire(user);
  auto s = std::make_shared<session::Session>(std::move(socket), *this, stats_, limits_, id, user);
  sessions_.emplace(s.get(), s);
  if (admitted) Attach(*s);
  *admitted_out = admitted;
  return s;
}

std::shared_ptr<session::Session> Shard::AdoptForRefusal(tcp::socket socket) {
  std::uint64_t id = (static_cast<std::uint64_t>(index_) << 48) | next_session_id_++;
  auto s = std::make_shared<session::Session>(std::move(socket), *this, stats_, limits_, id,
                                              std::string());
  sessions_.emplace(s.get(), s);
  return s;
}

void Shard::CloseAll(protocol::CloseCode code, std::string_view reason) {
  std::vector<std::shared_ptr<session::Session>> open;
  for (auto& [raw, weak] : sessions_) {
    if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (auto& s : open) s->Close(code, reason);
}

void Shard::Attach(session::Subscriber& s) { by_user_[s.user()].push_back(&s); }

bool Shard::Detach(session::Subscriber& s) {
  if (s.flush_pending) {
    std::erase(to_flush_, &s);
    s.flush_pending = false;
  }
  for (const std::string& pattern : s.patterns()) RemoveSubscription(s, pattern);
  auto it = by_user_.find(s.user());
  if (it == by_user_.end() || std::erase(it->second, &s) == 0) return false;
  if (it->second.empty()) by_user_.erase(it);
  return true;
}

void Shard::AddSubscription(session::Subscriber& s, const std::string& pattern) {
  if (trie_.Add(pattern, &s)) stats_.subscriptions.fetch_add(1, std::memory_order_relaxed);
}

void Shard::RemoveSubscription(session::Subscriber& s, const std::string& pattern) {
  if (trie_.Remove(pattern, &s)) stats_.subscriptions.fetch_sub(1, std::memory_order_relaxed);
}

void Shard::SessionClosed(session::Subscriber& s) {
  sessions_.erase(&s);
  // A session refused at connect was never attached and holds no slot.
  if (Detach(s)) user_limiter_.Release(s.user());
}

void Shard::Deliver(const OutboundEvent& event) {
  ++event_stamp_;
  const AudienceSet& audience = *event.audience;
  if (audience.everyone) {
    DeliverToMatches(event);
    return;
  }
  // Walk whichever side is smaller: the sessions whose patterns match, or
  // the audience's sessions on this shard (DESIGN.md section 4). A group of
  // 5 then costs the same among 500 or 50,000 subscribers of `groups.>`.
  std::size_t audience_sessions = 0;
  for (const std::string& user : audience.users) {
    auto it = by_user_.find(user);
    if (it != by_user_.end()) audience_sessions += it->second.size();
  }
  if (audience_sessions == 0) return;
  if (audience_sessions < trie_.CountMatches(event.name)) {
    DeliverToAudience(event);
  } else {
    DeliverToMatches(event);
  }
}

void Shard::DeliverToMatches(const OutboundEvent& event) {
  const AudienceSet& audience = *event.audience;
  trie_.ForEachMatch(event.name, [&](session::Subscriber* s) {
    if (s->last_event_stamp == event_stamp_) return;
    s->last_event_stamp = event_stamp_;
    if (audience.Contains(s->user())) Offer(s, event);
  });
}

void Shard::DeliverToAudience(const OutboundEvent& event) {
  for (const std::string& user : event.audience->users) {
    auto it = by_user_.find(user);
    if (it == by_user_.end()) continue;
    for (session::Subscriber* s : it->second) {
      if (s->last_event_stamp == event_stamp_) continue;
      s->last_event_stamp = event_stamp_;
      if (s->Matches(event.name)) Offer(s, event);
    }
  }
}

void Shard::Offer(session::Subscriber* s, const OutboundEvent& event) {
  s->Deliver(event.frame);
  if (!s->flush_pending) {
    s->flush_pending = true;
    to_flush_.push_back(s);
  }
}

}  // namespace herald::fanout
