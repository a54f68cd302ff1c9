#include "fanout/router.h"

#include <spdlog/spdlog.h>

#include "protocol/protocol.h"

namespace herald::fanout {
namespace {

std::int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The family of an event for drop logs: its first segment.
std::string Family(std::string_view name) { return std::string(name.substr(0, name.find('.'))); }

std::shared_ptr<const AudienceSet> MakeAudience(membership::Audience audience) {
  auto set = std::make_shared<AudienceSet>();
  set->everyone = audience.everyone;
  set->user_set.insert(audience.users.begin(), audience.users.end());
  set->users = std::move(audience.users);
  return set;
}

}  // namespace

Router::Router(std::vector<Shard*> shards, membership::MembershipIndex& index)
    : shards_(std::move(shards)), index_(index) {}

void Router::Publish(std::vector<PublishItem> items) {
  auto batch = std::make_shared<std::vector<OutboundEvent>>();
  batch->reserve(items.size());
  std::lock_guard lock(mutex_);
  std::int64_t now_ms = NowMs();
  for (PublishItem& item : items) {
    if (auto event = Route(item, now_ms)) batch->push_back(std::move(*event));
  }
  NoteStoreHealth();
  if (batch->empty()) return;
  stats_.events_routed.fetch_add(batch->size(), std::memory_order_relaxed);
  EventBatch shared = std::move(batch);
  for (Shard* shard : shards_) shard->Post(shared);
}

std::optional<OutboundEvent> Router::Route(PublishItem& item, std::int64_t now_ms) {
  stats_.events_in.fetch_add(1, std::memory_order_relaxed);
  const std::vector<std::string>* users = item.users ? &*item.users : nullptr;
  membership::Resolution resolution = index_.Apply(item.name, item.data, users, now_ms);
  if (!resolution.audience.everyone && resolution.audience.users.empty()) {
    auto slot = static_cast<std::size_t>(resolution.drop);
    if (slot < stats_.audience_drops.size()) {
      stats_.audience_drops[slot].fetch_add(1, std::memory_order_relaxed);
    }
    LogDrop(item, resolution.drop);
    return std::nullopt;
  }
  OutboundEvent event;
  event.frame = session::MakeTextFrame(protocol::EncodeEvent(item.name, item.data));
  event.audience = MakeAudience(std::move(resolution.audience));
  event.name = std::move(item.name);
  return event;
}

void Router::RetryUnsavedMemberships() {
  std::lock_guard lock(mutex_);
  membership::Store* store = index_.store();
  if (!store || store->unsaved() == 0) return;
  store->RetryUnsaved();
  NoteStoreHealth();
}

void Router::NoteStoreHealth() {
  const membership::Store* store = index_.store();
  if (!store) return;
  std::uint64_t unsaved = store->unsaved();
  std::uint64_t before = stats_.membership_unsaved.exchange(unsaved, std::memory_order_relaxed);
  stats_.membership_write_errors.store(store->write_errors(), std::memory_order_relaxed);
  if (before == 0 && unsaved > 0) {
    spdlog::error(
        "membership database write failed: {}; {} change(s) kept in memory and retried every "
        "second (a restart before they are saved would bring back the old memberships)",
        store->last_error(), unsaved);
  } else if (before > 0 && unsaved == 0) {
    spdlog::info("membership database writes recovered; every change is saved");
  }
}

void Router::LogDrop(const PublishItem& item, membership::DropReason reason) {
  // Families come from publishers: cap the map rather than trust them.
  constexpr std::size_t kMaxLoggedFamilies = 1024;
  if (last_drop_log_.size() >= kMaxLoggedFamilies) last_drop_log_.clear();
  auto now = std::chrono::steady_clock::now();
  auto [it, first] = last_drop_log_.try_emplace(Family(item.name), now);
  if (!first && now - it->second < std::chrono::minutes(1)) return;
  it->second = now;
  spdlog::info("event dropped: empty audience reason={} event={}", membership::MetricLabel(reason),
               item.name);
}

}  // namespace herald::fanout
