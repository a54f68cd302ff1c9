// The cost of fanning one event out must not grow with the number of
// connected subscribers when its audience is small (issue 3, part 5). Each
// benchmark runs with 500 and with 50,000 fake subscribers on one shard.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "fanout/router.h"
#include "fanout/shard.h"
#include "membership/membership_index.h"
#include "protocol/protocol.h"

namespace herald::fanout {
namespace {

constexpr int kGroupSize = 5;
const std::string kGroupMessage = "groups.g1.messages.64d63e71a429af2721a16d70.created";

// A subscriber that only counts what it is given, so the benchmark measures
// the shard and not a socket.
class CountingSubscriber : public session::Subscriber {
 public:
  explicit CountingSubscriber(std::string user) : Subscriber(std::move(user)) {}

  void Deliver(const session::FramePtr& frame) override {
    benchmark::DoNotOptimize(frame.get());
    ++delivered;
  }

  void Subscribe(Shard& shard, const std::string& pattern) {
    auto [it, inserted] = patterns_.insert(pattern);
    if (inserted) shard.AddSubscription(*this, *it);
  }

  std::uint64_t delivered = 0;
};

std::string User(int i) { return "user" + std::to_string(i); }

// One shard with `count` attached subscribers, user0..user<count-1>.
struct ShardFixture {
  explicit ShardFixture(int count) {
    subscribers.reserve(count);
    for (int i = 0; i < count; ++i) {
      subscribers.push_back(std::make_unique<CountingSubscriber>(User(i)));
      shard.Attach(*subscribers.back());
    }
  }

  // One event as a shard drain handles it: deliver, then flush the receivers.
  void Deliver(const OutboundEvent& event) {
    shard.Deliver(event);
    shard.Flush();
  }

  std::uint64_t Delivered() const {
    std::uint64_t total = 0;
    for (const auto& s : subscribers) total += s->delivered;
    return total;
  }

  session::SessionLimits limits;
  UserLimiter user_limiter{32};
  Shard shard{0, limits, user_limiter};
  std::vector<std::unique_ptr<CountingSubscriber>> subscribers;
};

OutboundEvent MakeEvent(const std::string& name, std::shared_ptr<AudienceSet> audience) {
  OutboundEvent event;
  event.name = name;
  event.frame = session::MakeTextFrame(protocol::EncodeEvent(name, R"({"body":"ready?"})"));
  event.audience = std::move(audience);
  return event;
}

// The group g1: user0..user4.
std::shared_ptr<AudienceSet> GroupAudience() {
  auto audience = std::make_shared<AudienceSet>();
  for (int i = 0; i < kGroupSize; ++i) audience->users.push_back(User(i));
  audience->user_set.insert(audience->users.begin(), audience->users.end());
  return audience;
}

void Report(benchmark::State& state, const ShardFixture& fixture) {
  state.SetItemsProcessed(state.iterations());
  state.counters["deliveries_per_event"] =
      static_cast<double>(fixture.Delivered()) / static_cast<double>(state.iterations());
}

// (a) Only the 5 members hold the group's pattern; everyone else holds a
// pattern of their own that does not match.
void BM_GroupMessageMembersSubscribed(benchmark::State& state) {
  ShardFixture fixture(static_cast<int>(state.range(0)));
  for (int i = 0; i < static_cast<int>(fixture.subscribers.size()); ++i) {
    std::string pattern = i < kGroupSize ? "groups.g1.>" : "users." + User(i) + ".>";
    fixture.subscribers[i]->Subscribe(fixture.shard, pattern);
  }
  OutboundEvent event = MakeEvent(kGroupMessage, GroupAudience());
  for (auto _ : state) fixture.Deliver(event);
  Report(state, fixture);
}
BENCHMARK(BM_GroupMessageMembersSubscribed)->Arg(500)->Arg(50'000);

// (b) Worst case: every subscriber holds `groups.>`, so the name matches all
// of them and only the walk over the 5-user audience keeps the cost flat.
void BM_GroupMessageEveryoneHoldsGroups(benchmark::State& state) {
  ShardFixture fixture(static_cast<int>(state.range(0)));
  for (auto& s : fixture.subscribers) s->Subscribe(fixture.shard, "groups.>");
  OutboundEvent event = MakeEvent(kGroupMessage, GroupAudience());
  for (auto _ : state) fixture.Deliver(event);
  Report(state, fixture);
}
BENCHMARK(BM_GroupMessageEveryoneHoldsGroups)->Arg(500)->Arg(50'000);

// An everyone-audience event matching all N subscribers: the cost is per
// delivery, so items/s counts deliveries.
void BM_EveryoneEventToAllMatching(benchmark::State& state) {
  ShardFixture fixture(static_cast<int>(state.range(0)));
  for (auto& s : fixture.subscribers) s->Subscribe(fixture.shard, "regions.*.updated");
  auto everyone = std::make_shared<AudienceSet>();
  everyone->everyone = true;
  OutboundEvent event = MakeEvent("regions.r1.updated", everyone);
  for (auto _ : state) fixture.Deliver(event);
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["deliveries_per_event"] =
      static_cast<double>(fixture.Delivered()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_EveryoneEventToAllMatching)->Arg(500)->Arg(50'000);

// The whole path of a group message: Router::Publish (membership Apply,
// audience, encoding once, posting) and the shard running the posted batch.
// Every user is in one group of 5 and every subscriber holds `groups.>`.
void BM_RouterPublishGroupMessage(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  ShardFixture fixture(count);
  for (auto& s : fixture.subscribers) s->Subscribe(fixture.shard, "groups.>");
  membership::MembershipIndex index(membership::IndexOptions{}, nullptr);
  for (int group = 0; group < count / kGroupSize; ++group) {
    std::string members;
    for (int i = 0; i < kGroupSize; ++i) {
      members += (i ? ",\"" : "\"") + User(group * kGroupSize + i) + "\"";
    }
    index.Apply("groups.g" + std::to_string(group) + ".created", "{\"members\":[" + members + "]}",
                nullptr, 1'700'000'000'000);
  }
  Router router({&fixture.shard}, index);
  asio::io_context& io = fixture.shard.io();

  for (auto _ : state) {
    std::vector<PublishItem> items(1);
    items[0].name = kGroupMessage;
    items[0].data = R"({"sender":"user5","body":"ready?"})";
    router.Publish(std::move(items));
    io.restart();
    io.poll();
  }
  Report(state, fixture);
}
BENCHMARK(BM_RouterPublishGroupMessage)->Arg(500)->Arg(50'000);

}  // namespace
}  // namespace herald::fanout
