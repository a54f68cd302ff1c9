#include "membership/membership_index.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <string>
#include <vector>

namespace herald::membership {
namespace {

using Users = std::vector<std::string>;

constexpr std::int64_t kGraceMs = 5 * 60 * 1000;

// ---- Replay of the scripted STP session ----

struct ScriptLine {
  int line_number = 0;
  std::string event;
  std::string data;  // minified `data`, empty when absent
  std::optional<Users> users;
  Audience expected;
};

Users StringArray(simdjson::dom::array array) {
  Users users;
  for (simdjson::dom::element entry : array) users.emplace_back(std::string_view(entry));
  return users;
}

std::vector<ScriptLine> ReadScript(const std::string& path) {
  std::ifstream file(path);
  std::vector<ScriptLine> lines;
  simdjson::dom::parser parser;
  std::string text;
  for (int number = 1; std::getline(file, text); ++number) {
    simdjson::dom::object object = parser.parse(text).get_object();
    if (number == 1) continue;  // the header: "about" and the user names
    ScriptLine line;
    line.line_number = number;
    line.event = std::string(std::string_view(object["event"]));
    simdjson::dom::element data;
    if (!object["data"].get(data)) line.data = simdjson::minify(data);
    simdjson::dom::array users;
    if (!object["users"].get_array().get(users)) line.users = StringArray(users);
    simdjson::dom::element audience = object["audience"];
    if (audience.is_string()) {
      line.expected.everyone = std::string_view(audience) == "everyone";
    } else {
      line.expected.users = StringArray(audience.get_array());
      std::sort(line.expected.users.begin(), line.expected.users.end());
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

TEST(StpSessionTest, ReplayReproducesEveryAudience) {
  std::vector<ScriptLine> lines = ReadScript(HERALD_TESTDATA_DIR "/stp-session.jsonl");
  ASSERT_GT(lines.size(), 30u);
  MembershipIndex index(IndexOptions{}, nullptr);
  std::int64_t now_ms = 1'000'000;
  for (const ScriptLine& line : lines) {
    now_ms += 1000;
    Resolution resolution =
        index.Apply(line.event, line.data, line.users ? &*line.users : nullptr, now_ms);
    EXPECT_EQ(resolution.audience, line.expected)
        << "stp-session.jsonl line " << line.line_number << ": " << line.event;
    EXPECT_EQ(resolution.drop == DropReason::kNone,
              line.expected.everyone || !line.expected.users.empty())
        << "line " << line.line_number;
  }
}

// ---- Helpers for the unit tests ----

class IndexTest : public ::testing::Test {
 protected:
  Resolution Apply(std::string_view name, std::string_view data = "",
                   const Users* users = nullptr) {
    return index_.Apply(name, data, users, now_ms_);
  }
  Audience ApplyAudience(std::string_view name, std::string_view data = "") {
    return Apply(name, data).audience;
  }
  static Audience To(Users users) { return Audience{false, std::move(users)}; }
  static Audience Everyone() { return Audience{true, {}}; }

  void Group(std::string_view g, std::string_view members_json) {
    Apply("groups." + std::string(g) + ".created",
          R"({"members":)" + std::string(members_json) + "}");
  }
  void Trainer(std::string_view r, std::string_view t, std::string_view user, bool npc = false,
               std::string_view verb = "created") {
    std::string data = R"({"user":")" + std::string(user) + R"(")" +
                       (npc ? R"(,"npc":{"canHeal":true})" : "") + "}";
    Apply("regions." + std::string(r) + ".trainers." + std::string(t) + "." + std::string(verb),
          data);
  }

  IndexOptions options_;
  MembershipIndex index_{options_, nullptr};
  std::int64_t now_ms_ = 10'000'000;
};

// ---- One test per rule row ----

TEST_F(IndexTest, UserEventsReachEveryone) {
  for (const char* verb : {"created", "updated", "deleted"}) {
    EXPECT_EQ(ApplyAudience(std::string("users.u1.") + verb, "{}"), Everyone());
  }
  EXPECT_EQ(Apply("users.u1.renamed").drop, DropReason::kUncoveredName);
}

TEST_F(IndexTest, AchievementsReachEveryone) {
  EXPECT_EQ(ApplyAudience("users.u1.achievements.first-battle.created"), Everyone());
  EXPECT_EQ(ApplyAudience("users.u1.achievements.a.deleted"), Everyone());
}

TEST_F(IndexTest, GroupEventsReachMembers) {
  EXPECT_EQ(ApplyAudience("groups.g.created", R"({"members":["b","a","b"]})"), To({"a", "b"}));
  EXPECT_EQ(ApplyAudience("groups.g.updated", R"({"members":["a","b"]})"), To({"a", "b"}));
}

TEST_F(IndexTest, GroupMessagesReachMembers) {
  Group("g", R"(["a","b"])");
  EXPECT_EQ(ApplyAudience("groups.g.messages.m.created"), To({"a", "b"}));
  EXPECT_EQ(ApplyAudience("groups.g.messages.m.deleted"), To({"a", "b"}));
  EXPECT_EQ(Apply("groups.other.messages.m.created").drop, DropReason::kUnknownGroup);
}

TEST_F(IndexTest, RegionUpdatedAndMessagesReachEveryone) {
  EXPECT_EQ(ApplyAudience("regions.r.updated"), Everyone());
  EXPECT_EQ(ApplyAudience("regions.r.messages.m.created"), Everyone());
  EXPECT_EQ(Apply("regions.r.created").drop, DropReason::kUncoveredName);
}

TEST_F(IndexTest, TrainerEventsReachRegionMembers) {
  Trainer("r", "t1", "a");
  Trainer("other", "t2", "b");
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t1.updated", R"({"user":"a","x":3})"), To({"a"}));
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t9.moved"), To({"a"}));
  EXPECT_EQ(Apply("regions.empty.trainers.t9.moved").drop, DropReason::kNoMembers);
}

TEST_F(IndexTest, MonstersAndItemsReachRegionMembersAndOwner) {
  Trainer("r", "t1", "a");
  Trainer("r", "t2", "b");
  Trainer("r", "npc", "system", /*npc=*/true);
  EXPECT_EQ(ApplyAudience("trainers.t1.monsters.m.created"), To({"a", "b"}));
  EXPECT_EQ(ApplyAudience("trainers.t2.items.i.updated"), To({"a", "b"}));
  // An NPC's owner is not a region member but is still the trainer's owner.
  EXPECT_EQ(ApplyAudience("trainers.npc.monsters.m.created"), To({"a", "b", "system"}));
  EXPECT_EQ(Apply("trainers.nobody.items.i.created").drop, DropReason::kUnknownTrainer);
}

TEST_F(IndexTest, EncounterEventsReachRegionMembers) {
  Trainer("r", "t1", "a");
  EXPECT_EQ(ApplyAudience("regions.r.encounters.e.created"), To({"a"}));
  EXPECT_EQ(ApplyAudience("regions.r.encounters.e.deleted"), To({"a"}));
  EXPECT_EQ(Apply("regions.r.encounters.e.updated").drop, DropReason::kUncoveredName);
}

TEST_F(IndexTest, BothOpponentFamiliesReachEncounterRegion) {
  Trainer("r", "t1", "a");
  Trainer("r2", "t2", "b");
  Apply("regions.r.encounters.e.created");
  EXPECT_EQ(ApplyAudience("encounters.e.opponents.o.created"), To({"a"}));
  EXPECT_EQ(ApplyAudience("encounters.e.trainers.t2.opponents.o.updated"), To({"a"}));
  EXPECT_EQ(Apply("encounters.x.opponents.o.created").drop, DropReason::kUnknownEncounter);
  EXPECT_EQ(Apply("encounters.x.trainers.t1.opponents.o.created").drop,
            DropReason::kUnknownEncounter);
}

TEST(RuleTableTest, EveryRowOfTheApiTableIsCovered) {
  const char* covered[] = {"users.u.created",
                           "users.u.achievements.a.updated",
                           "groups.g.deleted",
                           "groups.g.messages.m.x",
                           "regions.r.updated",
                           "regions.r.messages.m.created",
                           "regions.r.trainers.t.deleted",
                           "trainers.t.monsters.m.updated",
                           "trainers.t.items.i.deleted",
                           "regions.r.encounters.e.created",
                           "encounters.e.opponents.o.deleted",
                           "encounters.e.trainers.t.opponents.o.created"};
  for (const char* name : covered) EXPECT_TRUE(MatchRule(name).has_value()) << name;
  EXPECT_EQ(std::size(kRuleSpecs), std::size(covered));
}

// ---- Membership transitions ----

TEST_F(IndexTest, JoinReachesTheNewMember) {
  Group("g", R"(["a"])");
  EXPECT_EQ(ApplyAudience("groups.g.updated", R"({"members":["a","b"]})"), To({"a", "b"}));
  EXPECT_EQ(ApplyAudience("groups.g.messages.m.created"), To({"a", "b"}));
}

TEST_F(IndexTest, LeaveViaUpdateReachesOldAndNewMembers) {
  Group("g", R"(["a","b","c"])");
  EXPECT_EQ(ApplyAudience("groups.g.updated", R"({"members":["a","d"]})"),
            To({"a", "b", "c", "d"}));
  EXPECT_EQ(ApplyAudience("groups.g.messages.m.created"), To({"a", "d"}));
}

TEST_F(IndexTest, GroupDeleteReachesMembersJustBefore) {
  Group("g", R"(["a","b"])");
  // The payload's members do not matter; the index's do.
  EXPECT_EQ(ApplyAudience("groups.g.deleted", R"({"members":["z"]})"), To({"a", "b"}));
  EXPECT_FALSE(index_.HasGroup("g"));
  EXPECT_EQ(Apply("groups.g.messages.m.created").drop, DropReason::kUnknownGroup);
  EXPECT_EQ(Apply("groups.g.deleted").drop, DropReason::kUnknownGroup);
}

TEST_F(IndexTest, GroupWithNoMembersDropsAsNoMembers) {
  Group("g", "[]");
  EXPECT_EQ(Apply("groups.g.messages.m.created").drop, DropReason::kNoMembers);
}

TEST_F(IndexTest, TrainerDeleteThenCascadeWithinAndAfterGrace) {
  Trainer("r", "t1", "a");
  Trainer("r", "t2", "b");
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t2.deleted"), To({"a", "b"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a"}));

  now_ms_ += kGraceMs - 1;
  EXPECT_EQ(ApplyAudience("trainers.t2.monsters.m.deleted"), To({"a", "b"}));
  EXPECT_EQ(ApplyAudience("trainers.t2.items.i.deleted"), To({"a", "b"}));

  now_ms_ += 1;
  EXPECT_EQ(Apply("trainers.t2.monsters.m2.deleted").drop, DropReason::kUnknownTrainer);
  EXPECT_EQ(index_.tombstone_count(), 0u);
}

TEST_F(IndexTest, NpcTrainerMakesNobodyAMember) {
  Trainer("r", "t1", "a");
  EXPECT_EQ(
      ApplyAudience("regions.r.trainers.joy.created", R"({"user":"frank","npc":{"canHeal":true}})"),
      To({"a"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a"}));
  // npc: null is not an NPC.
  EXPECT_EQ(ApplyAudience("regions.r.trainers.joy.updated", R"({"user":"frank","npc":null})"),
            To({"a", "frank"}));
  // Becoming an NPC again removes frank, who still receives that update.
  EXPECT_EQ(ApplyAudience("regions.r.trainers.joy.updated", R"({"user":"frank","npc":{}})"),
            To({"a", "frank"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a"}));
}

TEST_F(IndexTest, UserWithTwoTrainersStaysWhileOneRemains) {
  Trainer("r", "t1", "a");
  Trainer("r", "t2", "a");
  Trainer("r", "t3", "b");
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t1.deleted"), To({"a", "b"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a", "b"}));
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t2.deleted"), To({"a", "b"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"b"}));
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t3.moved"), To({"b"}));
}

TEST_F(IndexTest, TrainerChangingOwnerReachesBothOwners) {
  Trainer("r", "t1", "a");
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t1.updated", R"({"user":"b"})"), To({"a", "b"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"b"}));
}

TEST_F(IndexTest, TrainerUpdateWithoutUserKeepsOwner) {
  Trainer("r", "t1", "a");
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t1.updated", R"({"x":1})"), To({"a"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a"}));
}

TEST_F(IndexTest, EncounterDeleteThenOpponentsWithinAndAfterGrace) {
  Trainer("r", "t1", "a");
  Apply("regions.r.encounters.e.created");
  EXPECT_EQ(ApplyAudience("regions.r.encounters.e.deleted"), To({"a"}));
  now_ms_ += kGraceMs - 1;
  EXPECT_EQ(ApplyAudience("encounters.e.opponents.o.deleted"), To({"a"}));
  EXPECT_EQ(ApplyAudience("encounters.e.trainers.t1.opponents.o.deleted"), To({"a"}));
  now_ms_ += 1;
  EXPECT_EQ(Apply("encounters.e.opponents.o2.deleted").drop, DropReason::kUnknownEncounter);
}

TEST_F(IndexTest, RecreatedTrainerIsLiveAgain) {
  Trainer("r", "t1", "a");
  Apply("regions.r.trainers.t1.deleted");
  Trainer("r", "t1", "a");
  now_ms_ += 2 * kGraceMs;
  EXPECT_EQ(ApplyAudience("trainers.t1.monsters.m.created"), To({"a"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a"}));
}

// ---- Publisher list, uncovered names, odd payloads ----

TEST_F(IndexTest, PublisherUsersListWins) {
  Group("g", R"(["a"])");
  Users users = {"z", "y", "z"};
  Resolution resolution = Apply("groups.g.messages.m.created", "{}", &users);
  EXPECT_EQ(resolution.audience, To({"y", "z"}));
  // Uncovered names too, and membership is still learned.
  EXPECT_EQ(Apply("areas.a.moved", "{}", &users).audience, To({"y", "z"}));
  Apply("groups.g.updated", R"({"members":["b"]})", &users);
  EXPECT_EQ(index_.GroupMembers("g"), Users({"b"}));
  Users empty;
  EXPECT_EQ(Apply("users.u.created", "{}", &empty).drop, DropReason::kEmptyUsersList);
}

TEST_F(IndexTest, UncoveredNameIsDropped) {
  Resolution resolution = Apply("areas.a.trainers.t.moved", R"({"x":1})");
  EXPECT_EQ(resolution.drop, DropReason::kUncoveredName);
  EXPECT_EQ(resolution.audience, Audience{});
  EXPECT_EQ(MetricLabel(resolution.drop), "uncovered_name");
}

TEST(UncoveredSwitchTest, DeliversUncoveredNamesToEveryoneWhenOn) {
  IndexOptions options;
  options.deliver_uncovered_to_everyone = true;
  MembershipIndex index(options, nullptr);
  Resolution resolution = index.Apply("areas.a.trainers.t.moved", "{}", nullptr, 0);
  EXPECT_EQ(resolution.drop, DropReason::kNone);
  EXPECT_TRUE(resolution.audience.everyone);
  EXPECT_TRUE(index.Apply("users.u.achievements", "{}", nullptr, 0).audience.everyone);
  EXPECT_TRUE(index.Apply("misc", "{}", nullptr, 0).audience.everyone);
  // Restricted rules still fail closed.
  EXPECT_EQ(index.Apply("groups.g.messages.m.created", "", nullptr, 0).drop,
            DropReason::kUnknownGroup);
  // And a family with a restricted row stays closed to names no row covers.
  index.Apply("groups.g.created", R"({"members":["a"]})", nullptr, 0);
  index.Apply("regions.r.trainers.t.created", R"({"user":"a"})", nullptr, 0);
  index.Apply("regions.r.encounters.e.created", "{}", nullptr, 0);
  for (const char* name :
       {"groups.g.renamed", "groups.g.messages.m.reactions.x.created", "regions.r.created",
        "regions.r.encounters.e.updated", "trainers.t.updated", "encounters.e.updated"}) {
    Resolution resolution = index.Apply(name, "{}", nullptr, 0);
    EXPECT_EQ(resolution.drop, DropReason::kUncoveredName) << name;
    EXPECT_EQ(resolution.audience, Audience{}) << name;
  }
}

// A key given twice means what the clients' JSON.parse makes of it: the last.
TEST_F(IndexTest, DuplicateKeysInPayloadsMeanTheLastOne) {
  Apply("groups.g.created", R"({"members":["mallory"],"members":["alice","bob"]})");
  EXPECT_EQ(index_.GroupMembers("g"), Users({"alice", "bob"}));
  Apply("regions.r.trainers.t1.created", R"({"user":"mallory","user":"alice"})");
  Apply("regions.r.trainers.t2.created", R"({"user":"carol","npc":{},"npc":null})");
  Apply("regions.r.trainers.t3.created", R"({"user":"dave","npc":null,"npc":{}})");
  EXPECT_EQ(index_.RegionMembers("r"), Users({"alice", "carol"}));
}

TEST_F(IndexTest, MalformedPayloadsChangeNothingAndDoNotCrash) {
  Group("g", R"(["a"])");
  Trainer("r", "t1", "a");
  const char* payloads[] = {"",
                            "not json",
                            "{",
                            "[1,2]",
                            "null",
                            "42",
                            R"("members")",
                            R"({"members":"a"})",
                            R"({"members":null})",
                            R"({"members":{}})",
                            R"({"members":["b")",
                            "\xff\xfe",
                            R"({"user":5,"npc":)"};
  for (const char* payload : payloads) {
    Apply("groups.g.updated", payload);
    Apply("groups.h.created", payload);
    Apply("regions.r.trainers.t1.updated", payload);
    Apply("regions.r.trainers.t2.created", payload);
  }
  EXPECT_EQ(index_.GroupMembers("g"), Users({"a"}));
  EXPECT_FALSE(index_.HasGroup("h"));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a"}));
  // t2 got object payloads without a `user`: recorded, owned by nobody.
  EXPECT_EQ(index_.trainer_count(), 2u);
  EXPECT_EQ(Apply("trainers.t2.monsters.m.created").audience, To({"a"}));
  // Non-string members are skipped; a trainer with a non-string user has none.
  EXPECT_EQ(ApplyAudience("groups.g.updated", R"({"members":["b",1,null,{"x":1},"c"]})"),
            To({"a", "b", "c"}));
  EXPECT_EQ(ApplyAudience("regions.r.trainers.t3.created", R"({"user":5})"), To({"a"}));
  EXPECT_EQ(index_.RegionMembers("r"), Users({"a"}));
  // Odd names.
  for (const char* name : {"", ".", "..", "groups..created", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"}) {
    EXPECT_EQ(Apply(name).drop, DropReason::kUncoveredName) << name;
  }
}

TEST(MetricLabelTest, EveryReasonHasALabel) {
  EXPECT_EQ(MetricLabel(DropReason::kUnknownGroup), "unknown_group");
  EXPECT_EQ(MetricLabel(DropReason::kUnknownTrainer), "unknown_trainer");
  EXPECT_EQ(MetricLabel(DropReason::kUnknownEncounter), "unknown_encounter");
  EXPECT_EQ(MetricLabel(DropReason::kNoMembers), "no_members");
  EXPECT_EQ(MetricLabel(DropReason::kEmptyUsersList), "empty_users_list");
}

}  // namespace
}  // namespace herald::membership
