#include "membership/membership_index.h"

#include <algorithm>
#include <utility>

namespace herald::membership {
namespace {

void SortUnique(std::vector<std::string>& users) {
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
}

// Inserts `user` into the sorted `users` unless it is already there.
void InsertSorted(std::vector<std::string>& users, const std::string& user) {
  auto at = std::lower_bound(users.begin(), users.end(), user);
  if (at == users.end() || *at != user) users.insert(at, user);
}

Resolution Dropped(DropReason reason) { return {Audience{}, reason}; }

Resolution Everyone() { return {Audience{true, {}}, DropReason::kNone}; }

// `users` must be sorted and unique.
Resolution ToUsers(std::vector<std::string> users) {
  if (users.empty()) return Dropped(DropReason::kNoMembers);
  return {Audience{false, std::move(users)}, DropReason::kNone};
}

bool IsUpsertVerb(std::string_view verb) { return verb == "created" || verb == "updated"; }

}  // namespace

std::string_view MetricLabel(DropReason reason) {
  switch (reason) {
    case DropReason::kNone:
      return "";
    case DropReason::kUnknownGroup:
      return "unknown_group";
    case DropReason::kUnknownTrainer:
      return "unknown_trainer";
    case DropReason::kUnknownEncounter:
      return "unknown_encounter";
    case DropReason::kUncoveredName:
      return "uncovered_name";
    case DropReason::kNoMembers:
      return "no_members";
    case DropReason::kEmptyUsersList:
      return "empty_users_list";
  }
  return "unknown";
}

MembershipIndex::MembershipIndex(IndexOptions options, Store* store)
    : options_(options), store_(store) {
  if (store_) Load(store_->TakeSnapshot());
}

void MembershipIndex::Load(StoreSnapshot snapshot) {
  for (StoredGroup& group : snapshot.groups) {
    SortUnique(group.members);
    groups_[std::move(group.id)] = std::move(group.members);
  }

  std::vector<PendingPurge> purges;
  for (StoredTrainer& stored : snapshot.trainers) {
    Trainer trainer{std::move(stored.region), std::move(stored.owner), stored.npc,
                    stored.deleted_at_ms};
    if (trainer.deleted_at_ms) {
      ++trainer_tombstones_;
      purges.push_back({*trainer.deleted_at_ms, true, stored.id});
    } else {
      AddMembership(trainer);
    }
    trainers_[std::move(stored.id)] = std::move(trainer);
  }
  for (StoredEncounter& stored : snapshot.encounters) {
    if (stored.deleted_at_ms) {
      ++encounter_tombstones_;
      purges.push_back({*stored.deleted_at_ms, false, stored.id});
    }
    encounters_[std::move(stored.id)] = {std::move(stored.region), stored.deleted_at_ms};
  }

  std::stable_sort(purges.begin(), purges.end(),
                   [](const auto& a, const auto& b) { return a.deleted_at_ms < b.deleted_at_ms; });
  purge_queue_.assign(std::make_move_iterator(purges.begin()),
                      std::make_move_iterator(purges.end()));
}

Resolution MembershipIndex::Apply(std::string_view name, std::string_view data_json,
                                  const std::vector<std::string>* publisher_users,
                                  std::int64_t now_ms) {
  PurgeExpired(now_ms);

  // Membership is learned from the event even when the publisher names the
  // audience itself.
  std::optional<RuleMatch> match = MatchRule(name);
  Resolution by_rule;
  if (match) {
    by_rule = ApplyRule(*match, data_json, now_ms);
  } else if (options_.deliver_uncovered_to_everyone && !InRestrictedFamily(name)) {
    by_rule = Everyone();
  } else {
    by_rule = Dropped(DropReason::kUncoveredName);
  }

  if (!publisher_users) return by_rule;
  std::vector<std::string> users = *publisher_users;
  SortUnique(users);
  if (users.empty()) return Dropped(DropReason::kEmptyUsersList);
  return {Audience{false, std::move(users)}, DropReason::kNone};
}

Resolution MembershipIndex::ApplyRule(const RuleMatch& match, std::string_view data_json,
                                      std::int64_t now_ms) {
  const bool is_delete = match.verb == "deleted";
  switch (match.rule->source) {
    case MembershipSource::kNone:
      break;
    case MembershipSource::kGroup:
      if (is_delete) return DeleteGroup(match.group);
      if (IsUpsertVerb(match.verb)) return UpsertGroup(match.group, data_json);
      break;
    case MembershipSource::kTrainer:
      if (is_delete) return DeleteTrainer(match.region, match.trainer, now_ms);
      if (IsUpsertVerb(match.verb)) {
        return UpsertTrainer(match.region, match.trainer, data_json, now_ms);
      }
      break;
    case MembershipSource::kEncounter:
      if (is_delete) return DeleteEncounter(match.region, match.encounter, now_ms);
      if (match.verb == "created") return CreateEncounter(match.region, match.encounter);
      break;
  }

  switch (match.rule->audience) {
    case AudienceKind::kEveryone:
      return Everyone();
    case AudienceKind::kGroupMembers:
      return GroupAudience(match.group);
    case AudienceKind::kRegionMembers:
      return RegionAudience(match.region);
    case AudienceKind::kTrainerRegionAndOwner:
      return TrainerChildAudience(match.trainer, now_ms);
    case AudienceKind::kEncounterRegion:
      return EncounterAudience(match.encounter, now_ms);
  }
  return Dropped(DropReason::kUncoveredName);
}

// ---- Groups ----

Resolution MembershipIndex::UpsertGroup(std::string_view group, std::string_view data_json) {
  std::optional<std::vector<std::string>> members = ParseMembers(data_json);
  if (!members) return GroupAudience(group);

  auto it = groups_.find(group);
  if (it == groups_.end()) {
    it = groups_.emplace(std::string(group), *members).first;
  } else if (it->second == *members) {
    return ToUsers(std::move(*members));
  } else {
    // Whoever this update removes still receives it: old ∪ new.
    std::vector<std::string> old_and_new;
    std::set_union(it->second.begin(), it->second.end(), members->begin(), members->end(),
                   std::back_inserter(old_and_new));
    it->second = std::move(*members);
    members = std::move(old_and_new);
  }
  if (store_) store_->SaveGroup({it->first, it->second});
  return ToUsers(std::move(*members));
}

Resolution MembershipIndex::DeleteGroup(std::string_view group) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Dropped(DropReason::kUnknownGroup);
  std::vector<std::string> members_before = std::move(it->second);
  groups_.erase(it);
  if (store_) store_->DeleteGroup(group);
  return ToUsers(std::move(members_before));
}

Resolution MembershipIndex::GroupAudience(std::string_view group) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Dropped(DropReason::kUnknownGroup);
  return ToUsers(it->second);
}

// ---- Trainers ----

Resolution MembershipIndex::UpsertTrainer(std::string_view region, std::string_view trainer,
                                          std::string_view data_json, std::int64_t now_ms) {
  std::optional<TrainerPayload> payload = ParseTrainer(data_json);
  if (!payload) return RegionAudience(region);

  auto it = trainers_.find(trainer);
  const Trainer* previous = nullptr;
  if (it != trainers_.end() && WithinGrace(it->second.deleted_at_ms, now_ms)) {
    previous = &it->second;
  }
  Trainer next{std::string(region), "", payload->npc, std::nullopt};
  if (payload->user) {
    next.owner = std::move(*payload->user);
  } else if (previous) {
    next.owner = previous->owner;
  }
  if (previous && !previous->deleted_at_ms && previous->region == next.region &&
      previous->owner == next.owner && previous->npc == next.npc) {
    return RegionAudience(region);  // e.g. the trainer moved: no membership change, no write
  }

  // Only the previous owner can lose membership of `region` here.
  std::vector<std::string> former;
  if (previous && !previous->deleted_at_ms && IsRegionMember(region, previous->owner)) {
    former.push_back(previous->owner);
  }
  if (it == trainers_.end()) {
    it = trainers_.emplace(std::string(trainer), Trainer{}).first;
  } else if (it->second.deleted_at_ms) {
    --trainer_tombstones_;
  } else {
    RemoveMembership(it->second);
  }
  it->second = std::move(next);
  AddMembership(it->second);
  SaveTrainer(it->first, it->second);
  return RegionAudience(region, former);
}

Resolution MembershipIndex::DeleteTrainer(std::string_view region, std::string_view trainer,
                                          std::int64_t now_ms) {
  auto it = trainers_.find(trainer);
  if (it == trainers_.end() || it->second.deleted_at_ms) return RegionAudience(region);

  // The deletion reaches the members just before it.
  std::vector<std::string> former;
  if (IsRegionMember(region, it->second.owner)) former.push_back(it->second.owner);
  RemoveMembership(it->second);
  it->second.deleted_at_ms = now_ms;
  ++trainer_tombstones_;
  purge_queue_.push_back({now_ms, true, it->first});
  SaveTrainer(it->first, it->second);
  return RegionAudience(region, former);
}

Resolution MembershipIndex::TrainerChildAudience(std::string_view trainer,
                                                 std::int64_t now_ms) const {
  auto it = trainers_.find(trainer);
  if (it == trainers_.end() || !WithinGrace(it->second.deleted_at_ms, now_ms)) {
    return Dropped(DropReason::kUnknownTrainer);
  }
  std::vector<std::string> owner;
  if (!it->second.owner.empty()) owner.push_back(it->second.owner);
  return RegionAudience(it->second.region, owner);
}

void MembershipIndex::AddMembership(const Trainer& trainer) {
  if (trainer.npc || trainer.owner.empty()) return;
  ++regions_[trainer.region][trainer.owner];
}

void MembershipIndex::RemoveMembership(const Trainer& trainer) {
  if (trainer.npc || trainer.owner.empty()) return;
  auto region = regions_.find(trainer.region);
  if (region == regions_.end()) return;
  auto owner = region->second.find(trainer.owner);
  if (owner == region->second.end()) return;
  if (--owner->second == 0) region->second.erase(owner);
  if (region->second.empty()) regions_.erase(region);
}

void MembershipIndex::SaveTrainer(std::string_view id, const Trainer& trainer) {
  if (!store_) return;
  store_->SaveTrainer(
      {std::string(id), trainer.region, trainer.owner, trainer.npc, trainer.deleted_at_ms});
}

// ---- Encounters ----

Resolution MembershipIndex::CreateEncounter(std::string_view region, std::string_view encounter) {
  auto it = encounters_.find(encounter);
  if (it == encounters_.end()) {
    it = encounters_.emplace(std::string(encounter), Encounter{}).first;
  } else if (!it->second.deleted_at_ms && it->second.region == region) {
    return RegionAudience(region);
  } else if (it->second.deleted_at_ms) {
    --encounter_tombstones_;
  }
  it->second = {std::string(region), std::nullopt};
  if (store_) store_->SaveEncounter({it->first, it->second.region, std::nullopt});
  return RegionAudience(region);
}

Resolution MembershipIndex::DeleteEncounter(std::string_view region, std::string_view encounter,
                                            std::int64_t now_ms) {
  auto it = encounters_.find(encounter);
  if (it != encounters_.end() && !it->second.deleted_at_ms) {
    it->second.deleted_at_ms = now_ms;
    ++encounter_tombstones_;
    purge_queue_.push_back({now_ms, false, it->first});
    if (store_) store_->SaveEncounter({it->first, it->second.region, now_ms});
  }
  return RegionAudience(region);
}

Resolution MembershipIndex::EncounterAudience(std::string_view encounter,
                                              std::int64_t now_ms) const {
  auto it = encounters_.find(encounter);
  if (it == encounters_.end() || !WithinGrace(it->second.deleted_at_ms, now_ms)) {
    return Dropped(DropReason::kUnknownEncounter);
  }
  return RegionAudience(it->second.region);
}

// ---- Regions and tombstones ----

Resolution MembershipIndex::RegionAudience(std::string_view region,
                                           const std::vector<std::string>& former) const {
  std::vector<std::string> users;
  auto it = regions_.find(region);
  if (it != regions_.end()) {
    users.reserve(it->second.size() + former.size());
    for (const auto& [user, trainers] : it->second) users.push_back(user);
  }
  for (const std::string& user : former) InsertSorted(users, user);
  return ToUsers(std::move(users));
}

bool MembershipIndex::IsRegionMember(std::string_view region, std::string_view user) const {
  auto it = regions_.find(region);
  return it != regions_.end() && it->second.find(user) != it->second.end();
}

bool MembershipIndex::WithinGrace(const std::optional<std::int64_t>& deleted_at_ms,
                                  std::int64_t now_ms) const {
  return !deleted_at_ms || now_ms - *deleted_at_ms < options_.tombstone_grace_ms;
}

// Note: an entry whose tombstone was revived (created again) or replaced by a
// later deletion no longer matches its queue entry and is left alone.
void MembershipIndex::PurgeExpired(std::int64_t now_ms) {
  while (!purge_queue_.empty() &&
         now_ms - purge_queue_.front().deleted_at_ms >= options_.tombstone_grace_ms) {
    PendingPurge purge = std::move(purge_queue_.front());
    purge_queue_.pop_front();
    if (purge.is_trainer) {
      auto it = trainers_.find(purge.id);
      if (it == trainers_.end() || it->second.deleted_at_ms != purge.deleted_at_ms) continue;
      trainers_.erase(it);
      --trainer_tombstones_;
      if (store_) store_->DeleteTrainer(purge.id);
    } else {
      auto it = encounters_.find(purge.id);
      if (it == encounters_.end() || it->second.deleted_at_ms != purge.deleted_at_ms) continue;
      encounters_.erase(it);
      --encounter_tombstones_;
      if (store_) store_->DeleteEncounter(purge.id);
    }
  }
}

// ---- Payloads ----

namespace {

// The value of the last `key` field of `object`. A payload that has a key
// twice means to Herald what it means to the clients that receive it, and
// JSON.parse keeps the last one (simdjson's at_key would give the first).
bool LastField(simdjson::dom::object object, std::string_view key, simdjson::dom::element* value) {
  bool found = false;
  for (simdjson::dom::key_value_pair field : object) {
    if (field.key == key) {
      *value = field.value;
      found = true;
    }
  }
  return found;
}

}  // namespace

std::optional<std::vector<std::string>> MembershipIndex::ParseMembers(std::string_view data_json) {
  simdjson::dom::object object;
  if (parser_.parse(data_json.data(), data_json.size()).get_object().get(object)) {
    return std::nullopt;
  }
  simdjson::dom::element field;
  simdjson::dom::array array;
  if (!LastField(object, "members", &field) || field.get_array().get(array)) return std::nullopt;
  std::vector<std::string> members;
  for (simdjson::dom::element entry : array) {
    std::string_view user;
    if (!entry.get_string().get(user)) members.emplace_back(user);
  }
  SortUnique(members);
  return members;
}

std::optional<MembershipIndex::TrainerPayload> MembershipIndex::ParseTrainer(
    std::string_view data_json) {
  simdjson::dom::object object;
  if (parser_.parse(data_json.data(), data_json.size()).get_object().get(object)) {
    return std::nullopt;
  }
  TrainerPayload payload;
  simdjson::dom::element field;
  std::string_view user;
  if (LastField(object, "user", &field) && !field.get_string().get(user)) {
    payload.user = std::string(user);
  }
  payload.npc = LastField(object, "npc", &field) && !field.is_null();
  return payload;
}

// ---- Queries ----

std::vector<std::string> MembershipIndex::GroupMembers(std::string_view group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? std::vector<std::string>{} : it->second;
}

std::vector<std::string> MembershipIndex::RegionMembers(std::string_view region) const {
  return RegionAudience(region).audience.users;
}

bool MembershipIndex::HasGroup(std::string_view group) const {
  return groups_.find(group) != groups_.end();
}

}  // namespace herald::membership
