#include "fanout/shard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fanout/router.h"
#include "membership/membership_index.h"
#include "protocol/protocol.h"
#include "session/ws_frame.h"

namespace herald::fanout {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A subscriber without a socket: records every frame it is given.
class FakeSubscriber : public session::Subscriber {
 public:
  explicit FakeSubscriber(std::string user) : Subscriber(std::move(user)) {}

  void Deliver(const session::FramePtr& frame) override { frames.push_back(frame); }
  void Flush() override { ++flushes; }

  // Holds pattern and tells the shard, as Session::Subscribe does.
  void Subscribe(Shard& shard, const std::string& pattern) {
    auto [it, inserted] = patterns_.insert(pattern);
    if (inserted) shard.AddSubscription(*this, *it);
  }

  void Unsubscribe(Shard& shard, const std::string& pattern) {
    auto it = patterns_.find(pattern);
    if (it == patterns_.end()) return;
    shard.RemoveSubscription(*this, *it);
    patterns_.erase(it);
  }

  // Holds pattern without telling the shard. Only for tests that probe
  // which walk the shard chose: the audience walk sees such a pattern, the
  // match walk does not.
  void HoldPatternUnindexed(const std::string& pattern) { patterns_.insert(pattern); }

  // The JSON message of every frame received, in order.
  std::vector<std::string> Messages() const {
    std::vector<std::string> out;
    for (const session::FramePtr& frame : frames) {
      out.push_back(Unframe(*frame));
    }
    return out;
  }

  std::vector<session::FramePtr> frames;
  int flushes = 0;

 private:
  // Strips the header of an unmasked server text frame.
  static std::string Unframe(const std::string& frame) {
    auto length = static_cast<std::uint8_t>(frame[1]) & 0x7F;
    std::size_t header = length == 126 ? 4 : length == 127 ? 10 : 2;
    return frame.substr(header);
  }
};

std::shared_ptr<const AudienceSet> Everyone() {
  auto audience = std::make_shared<AudienceSet>();
  audience->everyone = true;
  return audience;
}

std::shared_ptr<const AudienceSet> Users(std::vector<std::string> users) {
  auto audience = std::make_shared<AudienceSet>();
  audience->user_set.insert(users.begin(), users.end());
  audience->users = std::move(users);
  return audience;
}

OutboundEvent Event(const std::string& name, std::shared_ptr<const AudienceSet> audience) {
  OutboundEvent event;
  event.name = name;
  event.frame = session::MakeTextFrame(protocol::EncodeEvent(name, ""));
  event.audience = std::move(audience);
  return event;
}

class ShardTest : public ::testing::Test {
 protected:
  // A subscriber of user attached to the shard and holding patterns.
  FakeSubscriber& Add(const std::string& user, const std::vector<std::string>& patterns) {
    subscribers_.push_back(std::make_unique<FakeSubscriber>(user));
    FakeSubscriber& s = *subscribers_.back();
    shard_.Attach(s);
    for (const std::string& pattern : patterns) s.Subscribe(shard_, pattern);
    return s;
  }

  // How many frames each subscriber received, by its position in Add order.
  std::vector<std::size_t> Counts() const {
    std::vector<std::size_t> out;
    for (const auto& s : subscribers_) out.push_back(s->frames.size());
    return out;
  }

  session::SessionLimits limits_;
  UserLimiter user_limiter_{32};
  Shard shard_{0, limits_, user_limiter_};
  std::vector<std::unique_ptr<FakeSubscriber>> subscribers_;
};

TEST_F(ShardTest, EveryoneEventReachesMatchingSubscribersOnly) {
  FakeSubscriber& exact = Add("u1", {"users.u1.created"});
  FakeSubscriber& wildcard = Add("u2", {"users.*.created"});
  FakeSubscriber& tail = Add("u3", {"users.>"});
  FakeSubscriber& other_event = Add("u4", {"users.u1.updated"});
  FakeSubscriber& other_family = Add("u5", {"groups.>"});
  FakeSubscriber& none = Add("u6", {});

  shard_.Deliver(Event("users.u1.created", Everyone()));

  EXPECT_THAT(exact.Messages(), ElementsAre(R"({"event":"users.u1.created"})"));
  EXPECT_THAT(wildcard.frames, SizeIs(1));
  EXPECT_THAT(tail.frames, SizeIs(1));
  EXPECT_THAT(other_event.frames, IsEmpty());
  EXPECT_THAT(other_family.frames, IsEmpty());
  EXPECT_THAT(none.frames, IsEmpty());
}

TEST_F(ShardTest, OverlappingPatternsDeliverOnce) {
  FakeSubscriber& s =
      Add("u1", {"users.u1.created", "users.*.created", "users.>", "users.u1.*", "users.*.*"});
  shard_.Deliver(Event("users.u1.created", Everyone()));
  EXPECT_THAT(s.frames, SizeIs(1));
  shard_.Deliver(Event("users.u1.created", Everyone()));
  EXPECT_THAT(s.frames, SizeIs(2));  // once per event, not once ever
}

TEST_F(ShardTest, OverlappingPatternsDeliverOnceToARestrictedAudience) {
  FakeSubscriber& member = Add("u1", {"groups.>", "groups.g1.>", "groups.*.messages.*.created"});
  for (int i = 0; i < 10; ++i) Add("other" + std::to_string(i), {"groups.>"});
  // Small audience (audience walk) and large one (match walk), the member
  // listed twice in both.
  shard_.Deliver(Event("groups.g1.messages.m1.created", Users({"u1", "u1"})));
  std::vector<std::string> everybody = {"u1", "u1"};
  for (int i = 0; i < 10; ++i) everybody.push_back("other" + std::to_string(i));
  shard_.Deliver(Event("groups.g1.messages.m2.created", Users(everybody)));
  EXPECT_THAT(member.frames, SizeIs(2));
}

TEST_F(ShardTest, EachConnectionOfAUserGetsTheEvent) {
  FakeSubscriber& tab1 = Add("u1", {"users.>"});
  FakeSubscriber& tab2 = Add("u1", {"users.*.created"});
  FakeSubscriber& tab3 = Add("u1", {"groups.>"});
  shard_.Deliver(Event("users.u1.created", Users({"u1"})));
  EXPECT_THAT(tab1.frames, SizeIs(1));
  EXPECT_THAT(tab2.frames, SizeIs(1));
  EXPECT_THAT(tab3.frames, IsEmpty());
}

TEST_F(ShardTest, RestrictedAudienceReachesListedUsersOnly) {
  FakeSubscriber& u1 = Add("u1", {"groups.>"});
  FakeSubscriber& u2 = Add("u2", {"groups.g1.>"});
  FakeSubscriber& u3 = Add("u3", {"groups.>"});
  FakeSubscriber& u4 = Add("u4", {"groups.*.messages.*.created"});

  shard_.Deliver(Event("groups.g1.messages.m1.created", Users({"u1", "u2", "absent"})));

  EXPECT_THAT(u1.frames, SizeIs(1));
  EXPECT_THAT(u2.frames, SizeIs(1));
  EXPECT_THAT(u3.frames, IsEmpty());
  EXPECT_THAT(u4.frames, IsEmpty());
}

TEST_F(ShardTest, AudienceMemberWithoutMatchingPatternGetsNothing) {
  // Large audience and one subscriber: match walk.
  FakeSubscriber& wrong_pattern = Add("u1", {"groups.g2.>", "users.>"});
  FakeSubscriber& no_pattern = Add("u2", {});
  std::vector<std::string> many;
  for (int i = 0; i < 50; ++i) many.push_back("x" + std::to_string(i));
  many.push_back("u1");
  many.push_back("u2");
  shard_.Deliver(Event("groups.g1.updated", Users(many)));
  // Small audience and many subscribers of the name: audience walk.
  for (int i = 0; i < 50; ++i) Add("y" + std::to_string(i), {"groups.>"});
  shard_.Deliver(Event("groups.g1.updated", Users({"u1", "u2"})));

  EXPECT_THAT(wrong_pattern.frames, IsEmpty());
  EXPECT_THAT(no_pattern.frames, IsEmpty());
}

TEST_F(ShardTest, AudienceWithNobodyOnThisShardDeliversNothing) {
  Add("u1", {"groups.>"});
  shard_.Deliver(Event("groups.g1.updated", Users({"elsewhere"})));
  shard_.Deliver(Event("groups.g1.updated", Users({})));
  EXPECT_THAT(Counts(), ElementsAre(0));
}

// Many subscribers of `groups.>` and a small audience: the shard walks the
// audience. The probe holds a pattern the trie does not know, so only the
// audience walk delivers to it.
TEST_F(ShardTest, SmallAudienceAmongManyMatchesWalksTheAudience) {
  for (int i = 0; i < 100; ++i) Add("fan" + std::to_string(i), {"groups.>"});
  FakeSubscriber& probe = Add("probe", {});
  probe.HoldPatternUnindexed("groups.g1.>");
  shard_.Deliver(Event("groups.g1.messages.m1.created", Users({"probe", "fan1", "fan2"})));
  EXPECT_THAT(probe.frames, SizeIs(1));
}

// Few subscribers of the name and a large audience: the shard walks the
// matches, so the unindexed probe pattern is not seen.
TEST_F(ShardTest, FewMatchesAndLargeAudienceWalksTheMatches) {
  std::vector<std::string> audience = {"probe", "member"};
  for (int i = 0; i < 100; ++i) {
    Add("idle" + std::to_string(i), {"users.>"});
    audience.push_back("idle" + std::to_string(i));
  }
  FakeSubscriber& member = Add("member", {"groups.g1.>"});
  FakeSubscriber& probe = Add("probe", {});
  probe.HoldPatternUnindexed("groups.g1.>");
  shard_.Deliver(Event("groups.g1.messages.m1.created", Users(audience)));
  EXPECT_THAT(member.frames, SizeIs(1));
  EXPECT_THAT(probe.frames, IsEmpty());
}

// Both walks must give what the rules say: a subscriber gets an event iff
// its user is in the audience and one of its patterns matches.
TEST_F(ShardTest, AudienceWalkAndMatchWalkGiveTheSameResult) {
  const std::vector<std::vector<std::string>> pattern_sets = {
      {"groups.>"},
      {"groups.g1.>"},
      {"groups.g2.>"},
      {"groups.*.messages.*.created"},
      {"groups.g1.messages.>", "groups.>"},
      {"users.>"},
      {},
  };
  const int kUsers = 60;
  for (int i = 0; i < kUsers; ++i) {
    Add("u" + std::to_string(i), pattern_sets[i % pattern_sets.size()]);
    if (i % 5 == 0) Add("u" + std::to_string(i), pattern_sets[(i + 1) % pattern_sets.size()]);
  }
  const std::string name = "groups.g1.messages.m1.created";
  // Audience sizes from 1 (audience walk) to everybody (match walk).
  for (int audience_size : {1, 3, 10, 30, 60}) {
    std::vector<std::string> audience;
    for (int i = 0; i < audience_size; ++i)
      audience.push_back("u" + std::to_string(i * 7 % kUsers));
    std::vector<std::size_t> before = Counts();
    shard_.Deliver(Event(name, Users(audience)));

    for (std::size_t k = 0; k < subscribers_.size(); ++k) {
      const FakeSubscriber& s = *subscribers_[k];
      bool listed = std::find(audience.begin(), audience.end(), s.user()) != audience.end();
      std::size_t expected = listed && s.Matches(name) ? 1 : 0;
      EXPECT_EQ(s.frames.size() - before[k], expected)
          << "audience_size=" << audience_size << " subscriber=" << k << " user=" << s.user();
    }
  }
}

TEST_F(ShardTest, DetachRemovesEverySubscription) {
  FakeSubscriber& gone = Add("u1", {"users.>", "groups.>"});
  FakeSubscriber& stays = Add("u2", {"users.>"});
  EXPECT_EQ(shard_.stats().subscriptions.load(), 3);

  EXPECT_TRUE(shard_.Detach(gone));
  EXPECT_EQ(shard_.stats().subscriptions.load(), 1);
  shard_.Deliver(Event("users.u1.created", Everyone()));
  shard_.Deliver(Event("groups.g1.updated", Users({"u1", "u2"})));

  EXPECT_THAT(gone.frames, IsEmpty());
  EXPECT_THAT(stays.frames, SizeIs(1));
  EXPECT_FALSE(shard_.Detach(gone));  // already detached
}

TEST_F(ShardTest, DetachLeavesOtherConnectionsOfTheUser) {
  FakeSubscriber& first = Add("u1", {"groups.>"});
  FakeSubscriber& second = Add("u1", {"groups.>"});
  EXPECT_TRUE(shard_.Detach(first));
  shard_.Deliver(Event("groups.g1.updated", Users({"u1"})));
  EXPECT_THAT(first.frames, IsEmpty());
  EXPECT_THAT(second.frames, SizeIs(1));
}

TEST_F(ShardTest, UnsubscribeStopsOnlyThatPattern) {
  FakeSubscriber& s = Add("u1", {"users.>", "users.*.created"});
  s.Unsubscribe(shard_, "users.>");
  shard_.Deliver(Event("users.u1.created", Everyone()));
  shard_.Deliver(Event("users.u1.updated", Everyone()));
  EXPECT_THAT(s.Messages(), ElementsAre(R"({"event":"users.u1.created"})"));
}

TEST_F(ShardTest, EveryReceiverGetsTheSameFrameObject) {
  FakeSubscriber& a = Add("u1", {"users.>"});
  FakeSubscriber& b = Add("u2", {"users.*.created"});
  OutboundEvent event = Event("users.u1.created", Everyone());
  shard_.Deliver(event);
  ASSERT_THAT(a.frames, SizeIs(1));
  ASSERT_THAT(b.frames, SizeIs(1));
  EXPECT_EQ(a.frames[0].get(), event.frame.get());
  EXPECT_EQ(b.frames[0].get(), event.frame.get());
}

TEST_F(ShardTest, FlushReachesEachReceiverOnceAfterSeveralEvents) {
  FakeSubscriber& a = Add("u1", {"users.>"});
  FakeSubscriber& b = Add("u2", {"groups.>"});
  FakeSubscriber& idle = Add("u3", {"regions.>"});
  shard_.Deliver(Event("users.u1.created", Everyone()));
  shard_.Deliver(Event("users.u1.updated", Everyone()));
  shard_.Deliver(Event("groups.g1.updated", Users({"u2"})));
  EXPECT_EQ(a.flushes, 0);  // Deliver only queues
  shard_.Flush();
  EXPECT_EQ(a.flushes, 1);
  EXPECT_EQ(b.flushes, 1);
  EXPECT_EQ(idle.flushes, 0);
  shard_.Flush();  // nothing new: nobody is flushed again
  EXPECT_EQ(a.flushes, 1);
}

TEST_F(ShardTest, DetachedSubscriberIsNotFlushed) {
  FakeSubscriber& gone = Add("u1", {"users.>"});
  FakeSubscriber& stays = Add("u2", {"users.>"});
  shard_.Deliver(Event("users.u1.created", Everyone()));
  EXPECT_TRUE(shard_.Detach(gone));
  shard_.Flush();
  EXPECT_EQ(gone.flushes, 0);
  EXPECT_EQ(stays.flushes, 1);
}

class RouterTest : public ::testing::Test {
 protected:
  FakeSubscriber& Add(Shard& shard, const std::string& user, const std::string& pattern) {
    subscribers_.push_back(std::make_unique<FakeSubscriber>(user));
    FakeSubscriber& s = *subscribers_.back();
    shard.Attach(s);
    s.Subscribe(shard, pattern);
    return s;
  }

  // Runs whatever the router posted to the shard; returns the handlers run
  // (0 when nothing was posted).
  static std::size_t Drain(Shard& shard) {
    shard.io().restart();
    return shard.io().poll();
  }

  static PublishItem Item(std::string name, std::string data = "",
                          std::optional<std::vector<std::string>> users = std::nullopt) {
    return PublishItem{std::move(name), std::move(data), std::move(users)};
  }

  session::SessionLimits limits_;
  UserLimiter user_limiter_{32};
  Shard shard0_{0, limits_, user_limiter_};
  Shard shard1_{1, limits_, user_limiter_};
  membership::MembershipIndex index_{membership::IndexOptions{}, nullptr};
  Router router_{{&shard0_, &shard1_}, index_};
  std::vector<std::unique_ptr<FakeSubscriber>> subscribers_;
};

TEST_F(RouterTest, BatchIsDeliveredInPublishOrder) {
  FakeSubscriber& u1 = Add(shard0_, "u1", "groups.>");
  FakeSubscriber& u2 = Add(shard1_, "u2", "groups.>");
  FakeSubscriber& u3 = Add(shard1_, "u3", "groups.>");

  std::vector<PublishItem> batch;
  batch.push_back(Item("groups.g1.created", R"({"members":["u1","u2"]})"));
  batch.push_back(Item("groups.g1.messages.m1.created", R"({"text":"one"})"));
  batch.push_back(Item("groups.g1.messages.m2.created", R"({"text":"two"})"));
  batch.push_back(Item("groups.g2.messages.m1.created", "1", std::vector<std::string>{"u3"}));
  router_.Publish(std::move(batch));

  EXPECT_GE(Drain(shard0_), 1u);
  EXPECT_GE(Drain(shard1_), 1u);
  EXPECT_THAT(u1.Messages(),
              ElementsAre(R"({"event":"groups.g1.created","data":{"members":["u1","u2"]}})",
                          R"({"event":"groups.g1.messages.m1.created","data":{"text":"one"}})",
                          R"({"event":"groups.g1.messages.m2.created","data":{"text":"two"}})"));
  EXPECT_EQ(u2.Messages(), u1.Messages());
  EXPECT_THAT(u3.Messages(), ElementsAre(R"({"event":"groups.g2.messages.m1.created","data":1})"));
}

TEST_F(RouterTest, BatchesPostedBeforeADrainShareOneFlush) {
  FakeSubscriber& s = Add(shard0_, "u1", "users.>");
  router_.Publish({Item("users.u1.created"), Item("users.u1.updated")});
  router_.Publish({Item("users.u1.deleted")});
  Drain(shard0_);
  EXPECT_THAT(s.frames, SizeIs(3));
  EXPECT_EQ(s.flushes, 1);
}

TEST_F(RouterTest, FramesAreEncodedTextFrames) {
  FakeSubscriber& s = Add(shard0_, "u1", "users.>");
  router_.Publish({Item("users.u1.updated", R"({"a": 1})")});
  Drain(shard0_);
  ASSERT_THAT(s.frames, SizeIs(1));
  EXPECT_EQ(*s.frames[0], session::EncodeFrame(session::Opcode::kText,
                                               R"({"event":"users.u1.updated","data":{"a": 1}})"));
}

TEST_F(RouterTest, SuccessiveBatchesKeepTheirOrder) {
  FakeSubscriber& s = Add(shard1_, "u1", "users.>");
  for (int i = 0; i < 5; ++i) router_.Publish({Item("users.u" + std::to_string(i) + ".created")});
  EXPECT_GE(Drain(shard1_), 1u);
  EXPECT_THAT(s.Messages(),
              ElementsAre(R"({"event":"users.u0.created"})", R"({"event":"users.u1.created"})",
                          R"({"event":"users.u2.created"})", R"({"event":"users.u3.created"})",
                          R"({"event":"users.u4.created"})"));
}

TEST_F(RouterTest, DroppedEventsDoNotReachShards) {
  FakeSubscriber& s = Add(shard0_, "u1", "groups.>");
  router_.Publish({Item("groups.unknown.messages.m1.created", "{}"),
                   Item("users.u1.created", "{}", std::vector<std::string>{})});
  EXPECT_EQ(Drain(shard0_), 0u);  // nothing posted at all
  EXPECT_EQ(Drain(shard1_), 0u);
  EXPECT_THAT(s.frames, IsEmpty());
  EXPECT_EQ(router_.stats().events_in.load(), 2u);
  EXPECT_EQ(router_.stats().events_routed.load(), 0u);
  auto unknown_group = static_cast<std::size_t>(membership::DropReason::kUnknownGroup);
  auto empty_users = static_cast<std::size_t>(membership::DropReason::kEmptyUsersList);
  EXPECT_EQ(router_.stats().audience_drops[unknown_group].load(), 1u);
  EXPECT_EQ(router_.stats().audience_drops[empty_users].load(), 1u);
}

TEST_F(RouterTest, DroppedEventsAreLeftOutOfAMixedBatch) {
  FakeSubscriber& s = Add(shard0_, "u1", "groups.>");
  router_.Publish({Item("groups.g1.created", R"({"members":["u1"]})"),
                   Item("groups.nope.messages.m1.created", "{}"),
                   Item("groups.g1.messages.m1.created", "{}")});
  Drain(shard0_);
  EXPECT_THAT(s.Messages(),
              ElementsAre(R"({"event":"groups.g1.created","data":{"members":["u1"]}})",
                          R"({"event":"groups.g1.messages.m1.created","data":{}})"));
}

TEST_F(RouterTest, AllReceiversShareOneFrame) {
  FakeSubscriber& a = Add(shard0_, "u1", "users.>");
  FakeSubscriber& b = Add(shard0_, "u2", "users.*.created");
  FakeSubscriber& c = Add(shard1_, "u3", "users.u1.created");
  router_.Publish({Item("users.u1.created", R"({"x":1})")});
  Drain(shard0_);
  Drain(shard1_);
  ASSERT_THAT(a.frames, SizeIs(1));
  ASSERT_THAT(b.frames, SizeIs(1));
  ASSERT_THAT(c.frames, SizeIs(1));
  EXPECT_EQ(a.frames[0], b.frames[0]);  // same shared_ptr, not equal copies
  EXPECT_EQ(a.frames[0], c.frames[0]);
}

TEST_F(RouterTest, MembershipLearnedFromEventsDecidesTheAudience) {
  FakeSubscriber& member = Add(shard0_, "u1", "groups.>");
  FakeSubscriber& outsider = Add(shard1_, "u9", "groups.>");
  router_.Publish({Item("groups.g1.created", R"({"members":["u1"]})")});
  router_.Publish({Item("groups.g1.updated", R"({"members":["u9"]})")});
  router_.Publish({Item("groups.g1.messages.m1.created")});
  Drain(shard0_);
  Drain(shard1_);
  EXPECT_THAT(member.Messages(),
              ElementsAre(R"({"event":"groups.g1.created","data":{"members":["u1"]}})",
                          R"({"event":"groups.g1.updated","data":{"members":["u9"]}})"));
  EXPECT_THAT(outsider.Messages(),
              ElementsAre(R"({"event":"groups.g1.updated","data":{"members":["u9"]}})",
                          R"({"event":"groups.g1.messages.m1.created"})"));
}

}  // namespace
}  // namespace herald::fanout
