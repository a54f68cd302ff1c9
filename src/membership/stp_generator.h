// A seeded generator of STP-like event streams and a deliberately simple
// reference model of DESIGN.md section 2 that says who must receive each event.
//
// For differential tests and benchmarks: the membership index's own test, a
// WebSocket-level test that compares real deliveries, `herald bench`. Header
// only, no dependency on the index: the model is written independently of it
// (plain ordered maps, every audience recomputed from scratch by scanning all
// trainers), so the two can only agree by both being right.
//
// Thread-safety: none; one generator per thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace herald::membership::testing {

// What the reference model says of one event.
struct ExpectedAudience {
  bool everyone = false;
  std::vector<std::string> users;  // sorted, unique
  std::string drop;                // "" when delivered, else the drop reason's metric label
};

struct GeneratedEvent {
  std::string name;
  std::string data_json;                          // empty: the event has no data
  std::optional<std::vector<std::string>> users;  // the publisher's list, when given
  std::int64_t now_ms = 0;                        // the clock when it is published
  ExpectedAudience expected;
};

// What an event means to the model, as the generator intended it (the model
// never parses JSON, so the index's payload parsing is under test too).
struct ModelEvent {
  enum class Kind {
    kPublic,           // a family visible to everyone
    kUncovered,        // no rule covers the name
    kGroupUpsert,      // groups.<g>.created|updated
    kGroupDelete,      // groups.<g>.deleted
    kGroupMessage,     // groups.<g>.messages.<m>.*
    kTrainerUpsert,    // regions.<r>.trainers.<t>.created|updated
    kTrainerDelete,    // regions.<r>.trainers.<t>.deleted
    kTrainerOther,     // regions.<r>.trainers.<t>.<other verb>
    kTrainerChild,     // trainers.<t>.monsters|items.<x>.*
    kEncounterCreate,  // regions.<r>.encounters.<e>.created
    kEncounterDelete,  // regions.<r>.encounters.<e>.deleted
    kOpponent,         // both opponent families
  };
  Kind kind = Kind::kPublic;
  std::string group, region, trainer, encounter;
  bool payload_is_object = true;                    // false: not JSON, or not an object
  std::optional<std::vector<std::string>> members;  // the string entries of a `members` array
  std::optional<std::string> user;                  // a string `user`
  bool npc = false;                                 // `npc` present and not null
  bool restricted_family = false;  // kUncovered: groups, regions, trainers, encounters
};

struct ModelOptions {
  std::int64_t tombstone_grace_ms = 5 * 60 * 1000;
  bool deliver_uncovered_to_everyone = false;
};

// DESIGN.md section 2, the naive way.
class ReferenceModel {
 public:
  explicit ReferenceModel(ModelOptions options) : options_(options) {}

  ExpectedAudience Apply(const ModelEvent& event,
                         const std::optional<std::vector<std::string>>& publisher_users,
                         std::int64_t now_ms) {
    ExpectedAudience by_rule = ByRule(event, now_ms);
    if (!publisher_users) return by_rule;
    std::set<std::string> users(publisher_users->begin(), publisher_users->end());
    return Users(users, "empty_users_list");
  }

  // Users who are members of `region` now.
  std::set<std::string> RegionMembers(const std::string& region) const {
    std::set<std::string> members;
    for (const auto& [id, trainer] : trainers_) {
      if (!trainer.deleted_at_ms && !trainer.npc && !trainer.owner.empty() &&
          trainer.region == region) {
        members.insert(trainer.owner);
      }
    }
    return members;
  }

  bool TrainerKnown(const std::string& id, std::int64_t now_ms) const {
    auto it = trainers_.find(id);
    return it != trainers_.end() && Alive(it->second.deleted_at_ms, now_ms);
  }

 private:
  struct Trainer {
    std::string region, owner;
    bool npc = false;
    std::optional<std::int64_t> deleted_at_ms;
  };
  struct Encounter {
    std::string region;
    std::optional<std::int64_t> deleted_at_ms;
  };
  using Kind = ModelEvent::Kind;

  static ExpectedAudience Users(const std::set<std::string>& users, const char* empty_reason) {
    if (users.empty()) return {false, {}, empty_reason};
    return {false, std::vector<std::string>(users.begin(), users.end()), ""};
  }
  static std::set<std::string> Union(std::set<std::string> a, const std::set<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
  }
  bool Alive(const std::optional<std::int64_t>& deleted_at_ms, std::int64_t now_ms) const {
    return !deleted_at_ms || now_ms - *deleted_at_ms < options_.tombstone_grace_ms;
  }

  ExpectedAudience ByRule(const ModelEvent& event, std::int64_t now_ms) {
    switch (event.kind) {
      case Kind::kPublic:
        return {true, {}, ""};
      case Kind::kUncovered:
        // The switch never opens a family that has a restricted row.
        if (options_.deliver_uncovered_to_everyone && !event.restricted_family) {
          return {true, {}, ""};
        }
        return {false, {}, "uncovered_name"};
      case Kind::kGroupUpsert:
        return GroupUpsert(event);
      case Kind::kGroupDelete:
        return GroupDelete(event);
      case Kind::kGroupMessage:
        return GroupMembers(event.group);
      case Kind::kTrainerUpsert:
        return TrainerUpsert(event, now_ms);
      case Kind::kTrainerDelete:
        return TrainerDelete(event, now_ms);
      case Kind::kTrainerOther:
        return Users(RegionMembers(event.region), "no_members");
      case Kind::kTrainerChild:
        return TrainerChild(event, now_ms);
      case Kind::kEncounterCreate:
        encounters_[event.encounter] = {event.region, std::nullopt};
        return Users(RegionMembers(event.region), "no_members");
      case Kind::kEncounterDelete:
        return EncounterDelete(event, now_ms);
      case Kind::kOpponent:
        return Opponent(event, now_ms);
    }
    return {false, {}, "bug"};
  }

  ExpectedAudience GroupMembers(const std::string& group) const {
    auto it = groups_.find(group);
    if (it == groups_.end()) return {false, {}, "unknown_group"};
    return Users(it->second, "no_members");
  }

  ExpectedAudience GroupUpsert(const ModelEvent& event) {
    if (!event.payload_is_object || !event.members) return GroupMembers(event.group);
    std::set<std::string> before;
    if (groups_.count(event.group)) before = groups_[event.group];
    std::set<std::string> after(event.members->begin(), event.members->end());
    groups_[event.group] = after;
    return Users(Union(before, after), "no_members");
  }

  ExpectedAudience GroupDelete(const ModelEvent& event) {
    ExpectedAudience audience = GroupMembers(event.group);
    groups_.erase(event.group);
    return audience;
  }

  ExpectedAudience TrainerUpsert(const ModelEvent& event, std::int64_t now_ms) {
    std::set<std::string> before = RegionMembers(event.region);
    if (event.payload_is_object) {
      std::string owner;
      if (event.user) {
        owner = *event.user;
      } else if (TrainerKnown(event.trainer, now_ms)) {
        owner = trainers_[event.trainer].owner;
      }
      trainers_[event.trainer] = {event.region, owner, event.npc, std::nullopt};
    }
    return Users(Union(before, RegionMembers(event.region)), "no_members");
  }

  ExpectedAudience TrainerDelete(const ModelEvent& event, std::int64_t now_ms) {
    std::set<std::string> before = RegionMembers(event.region);
    auto it = trainers_.find(event.trainer);
    if (it != trainers_.end() && !it->second.deleted_at_ms) it->second.deleted_at_ms = now_ms;
    return Users(Union(before, RegionMembers(event.region)), "no_members");
  }

  ExpectedAudience TrainerChild(const ModelEvent& event, std::int64_t now_ms) {
    if (!TrainerKnown(event.trainer, now_ms)) return {false, {}, "unknown_trainer"};
    const Trainer& trainer = trainers_[event.trainer];
    std::set<std::string> users = RegionMembers(trainer.region);
    if (!trainer.owner.empty()) users.insert(trainer.owner);
    return Users(users, "no_members");
  }

  ExpectedAudience EncounterDelete(const ModelEvent& event, std::int64_t now_ms) {
    auto it = encounters_.find(event.encounter);
    if (it != encounters_.end() && !it->second.deleted_at_ms) it->second.deleted_at_ms = now_ms;
    return Users(RegionMembers(event.region), "no_members");
  }

  ExpectedAudience Opponent(const ModelEvent& event, std::int64_t now_ms) {
    auto it = encounters_.find(event.encounter);
    if (it == encounters_.end() || !Alive(it->second.deleted_at_ms, now_ms)) {
      return {false, {}, "unknown_encounter"};
    }
    return Users(RegionMembers(it->second.region), "no_members");
  }

  ModelOptions options_;
  std::map<std::string, std::set<std::string>> groups_;
  std::map<std::string, Trainer> trainers_;
  std::map<std::string, Encounter> encounters_;
};

struct GeneratorOptions {
  int users = 40;
  int regions = 4;
  int groups = 15;
  int trainers = 80;  // trainer IDs; some trainers are NPCs owned by ordinary users
  int encounters = 25;
  // false: the clock only takes small steps, never jumping to or past the
  // end of a tombstone's grace. For runs against a real server, whose clock
  // the stream cannot move; pair it with a grace longer than the run.
  bool clock_jumps = true;
  ModelOptions model;
};

// Produces an endless, reproducible stream for one seed. Names, payloads and
// timing follow the STP backend: users, groups whose members change, group and
// region messages, trainers joining, moving and leaving regions (NPCs, users
// with several trainers), monsters, items, encounters, both opponent
// families, deletes followed by their cascades, the clock sometimes jumping
// past the tombstone grace period, odd payloads, names no rule covers and
// publisher-given `users` lists.
class StpGenerator {
 public:
  explicit StpGenerator(std::uint64_t seed, GeneratorOptions options = {})
      : options_(options), rng_(seed), model_(options.model) {
    for (int i = 0; i < options_.users; ++i) users_.push_back(NewId());
    for (int i = 0; i < options_.regions; ++i) regions_.push_back(NewId());
    for (int i = 0; i < options_.groups; ++i) groups_.push_back(NewId());
    for (int i = 0; i < options_.trainers; ++i) trainers_.push_back(NewTrainerIdentity(i));
    for (int i = 0; i < options_.encounters; ++i) encounters_.push_back(NewId());
  }

  GeneratedEvent Next() {
    AdvanceClock();
    GeneratedEvent event;
    ModelEvent meaning = cascades_.empty() || Chance(0.5) ? Fresh(event) : Cascade(event);
    if (Chance(0.04)) event.users = RandomUsers(0, 4);
    event.now_ms = now_ms_;
    event.expected = model_.Apply(meaning, event.users, now_ms_);
    return event;
  }

  const std::vector<std::string>& user_ids() const { return users_; }
  const ReferenceModel& model() const { return model_; }

 private:
  using Kind = ModelEvent::Kind;
  struct TrainerIdentity {
    std::string id, home_region, owner;
    bool npc = false;
  };
  struct PendingCascade {
    std::string name, data;
    ModelEvent meaning;
  };

  static ModelEvent Of(Kind kind) {
    ModelEvent event;
    event.kind = kind;
    return event;
  }

  // ---- Randomness ----

  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int Below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <typename T>
  T Pick(const std::vector<T>& items) {
    return items[Below(static_cast<int>(items.size()))];
  }
  std::string NewId() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(24, '0');
    for (char& c : id) c = kHex[Below(16)];
    return id;
  }
  TrainerIdentity NewTrainerIdentity(int index) {
    return {NewId(), regions_[index % regions_.size()], Pick(users_), Chance(0.15)};
  }
  std::vector<std::string> RandomUsers(int min, int max) {
    std::vector<std::string> users;
    int count = min + Below(max - min + 1);
    for (int i = 0; i < count; ++i) users.push_back(Pick(users_));
    return users;
  }

  // Mostly small steps; sometimes a jump past the grace period, or to just
  // before or exactly at the end of the last tombstone's grace.
  void AdvanceClock() {
    const std::int64_t grace = options_.model.tombstone_grace_ms;
    double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (!options_.clock_jumps) {
      now_ms_ += Below(1500);
    } else if (roll < 0.01) {
      now_ms_ += grace + Below(60'000);
    } else if (roll < 0.02 && last_delete_ms_ + grace - 1 >= now_ms_) {
      now_ms_ = last_delete_ms_ + grace - Below(2);
    } else {
      now_ms_ += Below(1500);
    }
  }

  // ---- Fresh events ----

  ModelEvent Fresh(GeneratedEvent& event) {
    int roll = Below(100);
    if (roll < 5) return UserEvent(event);
    if (roll < 7)
      return Public(event, "users." + Pick(users_) + ".achievements." + NewId() + ".created",
                    R"({"progress":1})");
    if (roll < 8) return Public(event, "regions." + Pick(regions_) + ".updated", R"({"name":"R"})");
    if (roll < 11) {
      return Public(event, "regions." + Pick(regions_) + ".messages." + NewId() + ".created",
                    R"({"body":"anyone?"})");
    }
    if (roll < 19) return GroupUpsert(event);
    if (roll < 21) return GroupDelete(event);
    if (roll < 35) return GroupMessage(event);
    if (roll < 48) return TrainerUpsert(event);
    if (roll < 51) return TrainerDelete(event);
    if (roll < 52) return TrainerOther(event);
    if (roll < 66)
      return TrainerChild(event, Pick(trainers_).id, Chance(0.5) ? "created" : "updated");
    if (roll < 70) return EncounterCreate(event);
    if (roll < 72) return EncounterDelete(event);
    if (roll < 82) return Opponent(event, Pick(encounters_), Chance(0.5) ? "created" : "updated");
    if (roll < 85) return Uncovered(event);
    return GroupMessage(event);
  }

  ModelEvent Public(GeneratedEvent& event, std::string name, std::string data) {
    event.name = std::move(name);
    event.data_json = std::move(data);
    return Of(Kind::kPublic);
  }

  ModelEvent UserEvent(GeneratedEvent& event) {
    const std::string& user = Pick(users_);
    std::string verb = Pick(std::vector<std::string>{"created", "updated", "deleted"});
    return Public(event, "users." + user + "." + verb,
                  R"({"_id":")" + user + R"(","name":"U","status":"online","friends":[]})");
  }

  ModelEvent Uncovered(GeneratedEvent& event) {
    const std::vector<std::string> names = {
        "areas." + NewId() + ".trainers." + Pick(trainers_).id + ".moved",
        "regions." + Pick(regions_) + ".created",
        "groups." + Pick(groups_) + ".renamed",
        "regions." + Pick(regions_) + ".encounters." + Pick(encounters_) + ".updated",
        "users." + Pick(users_) + ".achievements",
        "trainers." + Pick(trainers_).id + ".monsters",
        "misc"};
    event.name = Pick(names);
    event.data_json = R"({"x":1,"y":2})";
    ModelEvent model = Of(Kind::kUncovered);
    std::string first = event.name.substr(0, event.name.find('.'));
    model.restricted_family =
        first == "groups" || first == "regions" || first == "trainers" || first == "encounters";
    return model;
  }

  // An odd payload instead of the real one, now and then.
  bool MaybeMalformed(GeneratedEvent& event, double p) {
    if (!Chance(p)) return false;
    event.data_json = Pick(std::vector<std::string>{"", "not json", "[1,2]", "null", "{",
                                                    R"({"members":)", R"("text")"});
    return true;
  }

  ModelEvent GroupUpsert(GeneratedEvent& event) {
    ModelEvent meaning = Of(Kind::kGroupUpsert);
    meaning.group = Pick(groups_);
    event.name = "groups." + meaning.group + (Chance(0.3) ? ".created" : ".updated");
    if (MaybeMalformed(event, 0.03)) {
      meaning.payload_is_object = false;
      return meaning;
    }
    std::string data = R"({"_id":")" + meaning.group + R"(","name":"Team")";
    if (!Chance(0.04)) {
      meaning.members = RandomUsers(0, 6);
      data += R"(,"members":[)";
      for (std::size_t i = 0; i < meaning.members->size(); ++i) {
        data += (i ? ",\"" : "\"") + (*meaning.members)[i] + "\"";
      }
      if (Chance(0.05)) data += meaning.members->empty() ? "7,null" : ",7,null";
      data += "]";
    } else if (Chance(0.5)) {
      data += R"(,"members":"not an array")";
    }
    event.data_json = data + "}";
    return meaning;
  }

  ModelEvent GroupDelete(GeneratedEvent& event) {
    ModelEvent meaning = Of(Kind::kGroupDelete);
    meaning.group = Pick(groups_);
    event.name = "groups." + meaning.group + ".deleted";
    event.data_json = R"({"_id":")" + meaning.group + R"(","members":[]})";
    return meaning;
  }

  ModelEvent GroupMessage(GeneratedEvent& event) {
    ModelEvent meaning = Of(Kind::kGroupMessage);
    meaning.group = Pick(groups_);
    event.name = "groups." + meaning.group + ".messages." + NewId() +
                 Pick(std::vector<std::string>{".created", ".updated", ".deleted"});
    event.data_json = R"({"sender":")" + Pick(users_) + R"(","body":"hi"})";
    return meaning;
  }

  ModelEvent TrainerUpsert(GeneratedEvent& event) {
    TrainerIdentity& trainer = trainers_[Below(static_cast<int>(trainers_.size()))];
    if (Chance(0.05)) trainer.owner = Pick(users_);  // handed to someone else
    if (Chance(0.03)) trainer.npc = !trainer.npc;
    ModelEvent meaning = Of(Kind::kTrainerUpsert);
    meaning.trainer = trainer.id;
    meaning.region = Chance(0.03) ? Pick(regions_) : trainer.home_region;
    event.name = "regions." + meaning.region + ".trainers." + trainer.id +
                 (Chance(0.3) ? ".created" : ".updated");
    if (MaybeMalformed(event, 0.02)) {
      meaning.payload_is_object = false;
      return meaning;
    }
    std::string data = R"({"_id":")" + trainer.id + R"(","region":")" + meaning.region + "\"";
    double user_roll = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (user_roll < 0.9) {
      meaning.user = trainer.owner;
      data += R"(,"user":")" + trainer.owner + "\"";
    } else if (user_roll < 0.95) {
      data += Chance(0.5) ? R"(,"user":null)" : R"(,"user":42)";
    }
    data += R"(,"name":"T","coins":)" + std::to_string(Below(100)) + R"(,"x":)" +
            std::to_string(Below(30));
    meaning.npc = trainer.npc;
    if (trainer.npc) {
      data += R"(,"npc":{"walkRandomly":false,"canHeal":true})";
    } else if (Chance(0.2)) {
      data += R"(,"npc":null)";
    }
    event.data_json = data + "}";
    return meaning;
  }

  ModelEvent TrainerDelete(GeneratedEvent& event) {
    const TrainerIdentity& trainer = Pick(trainers_);
    ModelEvent meaning = Of(Kind::kTrainerDelete);
    meaning.trainer = trainer.id;
    meaning.region = trainer.home_region;
    event.name = "regions." + meaning.region + ".trainers." + trainer.id + ".deleted";
    event.data_json = R"({"_id":")" + trainer.id + R"(","user":")" + trainer.owner + "\"}";
    last_delete_ms_ = now_ms_;
    for (int i = Below(4); i > 0; --i) {
      GeneratedEvent child;
      ModelEvent child_meaning = TrainerChild(child, trainer.id, "deleted");
      cascades_.push_back({child.name, child.data_json, child_meaning});
    }
    return meaning;
  }

  ModelEvent TrainerOther(GeneratedEvent& event) {
    const TrainerIdentity& trainer = Pick(trainers_);
    ModelEvent meaning = Of(Kind::kTrainerOther);
    meaning.trainer = trainer.id;
    meaning.region = trainer.home_region;
    event.name = "regions." + meaning.region + ".trainers." + trainer.id + ".moved";
    event.data_json = R"({"x":3,"y":4})";
    return meaning;
  }

  ModelEvent TrainerChild(GeneratedEvent& event, const std::string& trainer, std::string verb) {
    ModelEvent meaning = Of(Kind::kTrainerChild);
    meaning.trainer = Chance(0.03) ? NewId() : trainer;
    bool monster = Chance(0.7);
    event.name =
        "trainers." + meaning.trainer + (monster ? ".monsters." : ".items.") + NewId() + "." + verb;
    event.data_json =
        monster ? R"({"type":3,"level":1,"experience":0})" : R"({"type":1,"amount":5})";
    return meaning;
  }

  ModelEvent EncounterCreate(GeneratedEvent& event) {
    ModelEvent meaning = Of(Kind::kEncounterCreate);
    meaning.encounter = Pick(encounters_);
    meaning.region = Pick(regions_);
    event.name = "regions." + meaning.region + ".encounters." + meaning.encounter + ".created";
    event.data_json = R"({"_id":")" + meaning.encounter + R"(","isWild":false})";
    return meaning;
  }

  ModelEvent EncounterDelete(GeneratedEvent& event) {
    ModelEvent meaning = Of(Kind::kEncounterDelete);
    meaning.encounter = Pick(encounters_);
    meaning.region = Pick(regions_);
    event.name = "regions." + meaning.region + ".encounters." + meaning.encounter + ".deleted";
    event.data_json = R"({"_id":")" + meaning.encounter + R"(","isWild":false})";
    last_delete_ms_ = now_ms_;
    for (int i = Below(4); i > 0; --i) {
      GeneratedEvent child;
      ModelEvent child_meaning = Opponent(child, meaning.encounter, "deleted");
      cascades_.push_back({child.name, child.data_json, child_meaning});
    }
    return meaning;
  }

  ModelEvent Opponent(GeneratedEvent& event, const std::string& encounter, std::string verb) {
    ModelEvent meaning = Of(Kind::kOpponent);
    meaning.encounter = encounter;
    std::string opponent = NewId();
    if (Chance(0.5)) {
      event.name = "encounters." + encounter + ".opponents." + opponent + "." + verb;
    } else {
      event.name = "encounters." + encounter + ".trainers." + Pick(trainers_).id + ".opponents." +
                   opponent + "." + verb;
    }
    event.data_json = R"({"isAttacker":true,"isNPC":false,"move":null})";
    return meaning;
  }

  ModelEvent Cascade(GeneratedEvent& event) {
    PendingCascade cascade = std::move(cascades_.front());
    cascades_.pop_front();
    event.name = std::move(cascade.name);
    event.data_json = std::move(cascade.data);
    return cascade.meaning;
  }

  GeneratorOptions options_;
  std::mt19937_64 rng_;
  ReferenceModel model_;
  std::int64_t now_ms_ = 1'700'000'000'000;
  std::int64_t last_delete_ms_ = 0;
  std::vector<std::string> users_, regions_, groups_, encounters_;
  std::vector<TrainerIdentity> trainers_;
  std::deque<PendingCascade> cascades_;
};

}  // namespace herald::membership::testing
