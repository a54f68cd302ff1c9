#include "membership/rules.h"

#include <gtest/gtest.h>

namespace herald::membership {
namespace {

TEST(RulesTest, CapturesNamedPlaceholders) {
  auto match = MatchRule("encounters.e1.trainers.t1.opponents.o1.created");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->rule->audience, AudienceKind::kEncounterRegion);
  EXPECT_EQ(match->encounter, "e1");
  EXPECT_EQ(match->trainer, "t1");
  EXPECT_EQ(match->verb, "created");

  match = MatchRule("regions.r1.trainers.t1.deleted");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->rule->source, MembershipSource::kTrainer);
  EXPECT_EQ(match->region, "r1");
  EXPECT_EQ(match->trainer, "t1");
}

TEST(RulesTest, AlternativesMatchOnlyListedVerbs) {
  EXPECT_TRUE(MatchRule("groups.g.created"));
  EXPECT_TRUE(MatchRule("groups.g.deleted"));
  EXPECT_FALSE(MatchRule("groups.g.renamed"));
  EXPECT_FALSE(MatchRule("regions.r.encounters.e.updated"));
}

TEST(RulesTest, SegmentCountMustMatch) {
  EXPECT_FALSE(MatchRule("groups.g"));
  EXPECT_FALSE(MatchRule("groups.g.messages.m"));
  EXPECT_FALSE(MatchRule("groups.g.messages.m.created.extra"));
  EXPECT_FALSE(MatchRule("trainers.t.monsters..created"));
}

TEST(RulesTest, AddingAFamilyIsOneRow) {
  const RuleSpec rules[] = {
      {"areas.{a}.trainers.{t}.moved", AudienceKind::kTrainerRegionAndOwner},
  };
  auto match = MatchRule("areas.a1.trainers.t1.moved", rules);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->trainer, "t1");
  EXPECT_FALSE(MatchRule("areas.a1.trainers.t1.moved"));  // not in the real table
}

TEST(RulesTest, RestrictedFamiliesAreThoseWithARestrictedRow) {
  for (const char* name : {"groups.g.renamed", "regions.r.created", "trainers.t.updated",
                           "encounters.e.updated", "groups", "regions.r.updated"}) {
    EXPECT_TRUE(InRestrictedFamily(name)) << name;
  }
  for (const char* name :
       {"users.u.achievements", "misc", "areas.a.created", "group.g.x", "groupsx.g.renamed", ""}) {
    EXPECT_FALSE(InRestrictedFamily(name)) << name;
  }
}

}  // namespace
}  // namespace herald::membership
