// Apply() must cost the same whatever the number of users indexed (issue 3,
// part 5): each benchmark runs with memberships for 500 and for 50,000 users.
#include <benchmark/benchmark.h>

#include <string>

#include "membership/membership_index.h"
#include "membership/stp_generator.h"

namespace herald::membership {
namespace {

constexpr int kGroupSize = 5;
constexpr int kRegionSize = 50;
constexpr std::int64_t kNowMs = 1'700'000'000'000;

std::string Id(const char* prefix, int number) { return prefix + std::to_string(number); }

// Every user is in one group of 5 and owns one trainer in a region of 50.
void Populate(MembershipIndex& index, int users) {
  for (int group = 0; group < users / kGroupSize; ++group) {
    std::string members;
    for (int i = 0; i < kGroupSize; ++i) {
      members += (i ? ",\"" : "\"") + Id("user", group * kGroupSize + i) + "\"";
    }
    index.Apply("groups." + Id("g", group) + ".created", "{\"members\":[" + members + "]}", nullptr,
                kNowMs);
  }
  for (int user = 0; user < users; ++user) {
    index.Apply(
        "regions." + Id("r", user / kRegionSize) + ".trainers." + Id("t", user) + ".created",
        "{\"user\":\"" + Id("user", user) + "\",\"x\":1}", nullptr, kNowMs);
  }
}

void BM_GroupMessage(benchmark::State& state) {
  MembershipIndex index(IndexOptions{}, nullptr);
  Populate(index, static_cast<int>(state.range(0)));
  const std::string name = "groups.g1.messages.64d63e71a429af2721a16d70.created";
  const std::string data = R"({"sender":"user5","body":"ready?"})";
  for (auto _ : state) {
    Resolution resolution = index.Apply(name, data, nullptr, kNowMs);
    benchmark::DoNotOptimize(resolution);
  }
  state.counters["group_count"] = static_cast<double>(index.group_count());
}
BENCHMARK(BM_GroupMessage)->Arg(500)->Arg(50'000);

void BM_MonsterOfTrainer(benchmark::State& state) {
  MembershipIndex index(IndexOptions{}, nullptr);
  Populate(index, static_cast<int>(state.range(0)));
  const std::string name = "trainers.t7.monsters.48423671bc06b31c4b14817b.updated";
  const std::string data = R"({"type":39,"level":2})";
  for (auto _ : state) {
    Resolution resolution = index.Apply(name, data, nullptr, kNowMs);
    benchmark::DoNotOptimize(resolution);
  }
}
BENCHMARK(BM_MonsterOfTrainer)->Arg(500)->Arg(50'000);

// A trainer moving: parses the payload, changes no membership.
void BM_TrainerMoved(benchmark::State& state) {
  MembershipIndex index(IndexOptions{}, nullptr);
  Populate(index, static_cast<int>(state.range(0)));
  const std::string name = "regions.r0.trainers.t7.updated";
  const std::string data = R"({"_id":"t7","region":"r0","user":"user7","coins":25,"x":11,"y":12})";
  for (auto _ : state) {
    Resolution resolution = index.Apply(name, data, nullptr, kNowMs);
    benchmark::DoNotOptimize(resolution);
  }
}
BENCHMARK(BM_TrainerMoved)->Arg(500)->Arg(50'000);

// The generated STP mix, for a per-event average over every family.
void BM_StpMix(benchmark::State& state) {
  testing::StpGenerator generator(1);
  std::vector<testing::GeneratedEvent> events;
  for (int i = 0; i < 10'000; ++i) events.push_back(generator.Next());
  MembershipIndex index(IndexOptions{}, nullptr);
  std::size_t next = 0;
  for (auto _ : state) {
    const testing::GeneratedEvent& event = events[next++ % events.size()];
    Resolution resolution = index.Apply(event.name, event.data_json,
                                        event.users ? &*event.users : nullptr, event.now_ms);
    benchmark::DoNotOptimize(resolution);
  }
}
BENCHMARK(BM_StpMix);

}  // namespace
}  // namespace herald::membership
