// Who sees what (DESIGN.md section 2): the membership index and the audience
// of each event.
//
// Owner: the router, which calls every method under its own mutex (one thread
// at a time); the index is not thread-safe. Apply() costs O(size of the
// audience + segments of the name), never O(connected users) or O(memberships):
// an event for a group of 5 costs the same with 500 or 50,000 users indexed.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "membership/rules.h"
#include "membership/store.h"

namespace herald::membership {

// The audience of one event: everyone, or exactly these user IDs.
struct Audience {
  bool everyone = false;
  std::vector<std::string> users;  // sorted, unique; empty and !everyone: dropped

  bool operator==(const Audience&) const = default;
};

// Why an event reaches nobody. Every reason but kNone means "dropped"; the
// router counts it by MetricLabel() and logs it (rate-limited).
enum class DropReason {
  kNone,
  kUnknownGroup,      // group rule, group never created or deleted
  kUnknownTrainer,    // monsters/items of a trainer unknown or past its grace period
  kUnknownEncounter,  // opponents of an encounter unknown or past its grace period
  kUncoveredName,     // no rule covers the name (and the switch is off)
  kNoMembers,         // the rule resolved, but the group or region has nobody in it
  kEmptyUsersList,    // the publisher's `users` list was empty
};

// The `reason` label of the drop counter: "unknown_group", ...; "" for kNone.
std::string_view MetricLabel(DropReason reason);

struct Resolution {
  Audience audience;
  DropReason drop = DropReason::kNone;
};

struct IndexOptions {
  // How long deleted trainers and encounters still resolve, so the cascaded
  // deletes a backend publishes after them (monsters, items, opponents) reach
  // the region. 5 minutes covers any cascade a backend sends in one go.
  std::int64_t tombstone_grace_ms = 5 * 60 * 1000;
  // Deliver names no rule covers to everyone instead of dropping them.
  bool deliver_uncovered_to_everyone = false;
};

class MembershipIndex {
 public:
  // `store` may be null (pure in-memory, for tests and benchmarks). When set it
  // must outlive the index; the index loads the store's snapshot now and writes
  // to it whenever membership changes.
  MembershipIndex(IndexOptions options, Store* store);

  // Learns membership from the event when its family is a membership source,
  // then returns its audience, in the order of DESIGN.md section 2: the
  // publisher's list (when `publisher_users` is not null) > the rule of the
  // family > dropped. `data_json` is the event's raw `data` text, empty when
  // absent. `now_ms` is a wall clock in ms (tombstones are stored with it).
  //
  // Never throws on odd input. Payloads are read like this:
  // - a payload that is not valid JSON, or not an object, changes nothing;
  // - groups: `members` must be an array to set the members; its non-string
  //   entries are skipped; no array changes nothing (an unknown group stays
  //   unknown);
  // - trainers: a string `user` names the owner; without one the previously
  //   known owner is kept (none for a new trainer, which then makes nobody a
  //   member); `npc` absent or null means not an NPC, any other value an NPC.
  Resolution Apply(std::string_view name, std::string_view data_json,
                   const std::vector<std::string>* publisher_users, std::int64_t now_ms);

  // Read-only queries for tests and metrics.
  std::vector<std::string> GroupMembers(std::string_view group) const;
  std::vector<std::string> RegionMembers(std::string_view region) const;
  bool HasGroup(std::string_view group) const;
  std::size_t group_count() const { return groups_.size(); }
  std::size_t region_count() const { return regions_.size(); }
  std::size_t trainer_count() const { return trainers_.size() - trainer_tombstones_; }
  std::size_t encounter_count() const { return encounters_.size() - encounter_tombstones_; }
  std::size_t tombstone_count() const { return trainer_tombstones_ + encounter_tombstones_; }

  // The store behind the index; null when it keeps nothing (tests).
  Store* store() { return store_; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  template <typename Value>
  using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

  struct Trainer {
    std::string region;
    std::string owner;
    bool npc = false;
    std::optional<std::int64_t> deleted_at_ms;
  };
  struct Encounter {
    std::string region;
    std::optional<std::int64_t> deleted_at_ms;
  };
  // Owners of at least one live non-NPC trainer in the region, with how many.
  using RegionMembership = std::map<std::string, int, std::less<>>;
  struct PendingPurge {
    std::int64_t deleted_at_ms;
    bool is_trainer;
    std::string id;
  };
  struct TrainerPayload {
    std::optional<std::string> user;
    bool npc = false;
  };

  void Load(StoreSnapshot snapshot);
  Resolution ApplyRule(const RuleMatch& match, std::string_view data_json, std::int64_t now_ms);

  Resolution UpsertGroup(std::string_view group, std::string_view data_json);
  Resolution DeleteGroup(std::string_view group);
  Resolution GroupAudience(std::string_view group) const;

  Resolution UpsertTrainer(std::string_view region, std::string_view trainer,
                           std::string_view data_json, std::int64_t now_ms);
  Resolution DeleteTrainer(std::string_view region, std::string_view trainer, std::int64_t now_ms);
  Resolution TrainerChildAudience(std::string_view trainer, std::int64_t now_ms) const;
  void AddMembership(const Trainer& trainer);
  void RemoveMembership(const Trainer& trainer);
  void SaveTrainer(std::string_view id, const Trainer& trainer);

  Resolution CreateEncounter(std::string_view region, std::string_view encounter);
  Resolution DeleteEncounter(std::string_view region, std::string_view encounter,
                             std::int64_t now_ms);
  Resolution EncounterAudience(std::string_view encounter, std::int64_t now_ms) const;

  // Members of `region`, plus `former` (users that were members before this
  // event and may have just left); kNoMembers when that is nobody.
  Resolution RegionAudience(std::string_view region,
                            const std::vector<std::string>& former = {}) const;
  bool IsRegionMember(std::string_view region, std::string_view user) const;
  bool WithinGrace(const std::optional<std::int64_t>& deleted_at_ms, std::int64_t now_ms) const;

  std::optional<std::vector<std::string>> ParseMembers(std::string_view data_json);
  std::optional<TrainerPayload> ParseTrainer(std::string_view data_json);

  void PurgeExpired(std::int64_t now_ms);

  IndexOptions options_;
  Store* store_;
  simdjson::dom::parser parser_;
  StringMap<std::vector<std::string>> groups_;  // members sorted, unique
  StringMap<Trainer> trainers_;                 // live and tombstones
  StringMap<Encounter> encounters_;             // live and tombstones
  StringMap<RegionMembership> regions_;
  std::size_t trainer_tombstones_ = 0;
  std::size_t encounter_tombstones_ = 0;
  // Tombstones in deletion order, purged from the front once past grace.
  std::deque<PendingPurge> purge_queue_;
};

}  // namespace herald::membership
