// Shows that the cost of matching one event stays flat from 10^3 to 10^6 subscriptions,
// and what Add and Remove cost.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/subscription_trie.h"

namespace herald::core {
namespace {

using Trie = SubscriptionTrie<std::uint32_t>;

// Each connection holds about this many patterns.
constexpr std::size_t kPatternsPerConnection = 8;
// Connections subscribed to every user event; fixed so matches per event stay flat.
constexpr std::size_t kUsersFirehoseSubscribers = 4;
constexpr std::size_t kEventCount = 4096;

// A 24-hex-digit ID, like the MongoDB object IDs of the STP backend.
std::string Id(std::uint64_t n) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%024llx",
                static_cast<unsigned long long>(n * 0x9E3779B97F4A7C15ull));
  return buffer;
}

// ID pools scale with the subscription count, so the expected number of matches per
// event stays about the same and any growth would come from the trie itself.
struct Pools {
  explicit Pools(std::size_t subscriptions)
      : users(subscriptions / 4 + 1),
        groups(subscriptions / 40 + 1),
        regions(subscriptions / 400 + 1),
        trainers(subscriptions / 20 + 1) {}
  std::size_t users, groups, regions, trainers;
};

struct Fixture {
  Trie trie;
  std::vector<std::string> events;
};

std::string RandomPattern(std::size_t i, const Pools& pools, std::mt19937_64& rng) {
  switch (i % 10) {
    case 0:
    case 1:
    case 2:
    case 3:
      return "users." + Id(rng() % pools.users) + ".*";
    case 4:
    case 5:
      return "groups." + Id(rng() % pools.groups) + ".messages.*.*";
    case 6:
      return "regions." + Id(rng() % pools.regions) + ".trainers.*.*";
    default:
      return "trainers." + Id(rng() % pools.trainers) + ".monsters.*.*";
  }
}

std::string RandomEvent(std::size_t i, const Pools& pools, std::mt19937_64& rng) {
  switch (i % 4) {
    case 0:
      return "users." + Id(rng() % pools.users) + ".updated";
    case 1:
      return "groups." + Id(rng() % pools.groups) + ".messages." + Id(rng()) + ".created";
    case 2:
      return "regions." + Id(rng() % pools.regions) + ".trainers." + Id(rng()) + ".updated";
    default:
      return "trainers." + Id(rng() % pools.trainers) + ".monsters." + Id(rng()) + ".updated";
  }
}

std::unique_ptr<Fixture> BuildFixture(std::size_t subscriptions) {
  auto fixture = std::make_unique<Fixture>();
  Pools pools(subscriptions);
  std::mt19937_64 rng(42);
  for (std::size_t i = 0; i < kUsersFirehoseSubscribers; ++i) {
    fixture->trie.Add("users.*.*", static_cast<std::uint32_t>(i));
  }
  for (std::size_t i = fixture->trie.size(); i < subscriptions; ++i) {
    auto connection = static_cast<std::uint32_t>(i / kPatternsPerConnection);
    fixture->trie.Add(RandomPattern(i, pools, rng), connection);
  }
  for (std::size_t i = 0; i < kEventCount; ++i) {
    fixture->events.push_back(RandomEvent(i, pools, rng));
  }

  // Warm up: the first pass over a freshly built 10^6 trie pays for page faults.
  std::size_t matches = 0;
  for (const std::string& event : fixture->events) matches += fixture->trie.CountMatches(event);
  benchmark::DoNotOptimize(matches);
  return fixture;
}

// Built once per size and kept for the whole run: building 10^6 takes a while.
Fixture& FixtureFor(std::size_t subscriptions) {
  static std::map<std::size_t, std::unique_ptr<Fixture>> fixtures;
  std::unique_ptr<Fixture>& fixture = fixtures[subscriptions];
  if (!fixture) fixture = BuildFixture(subscriptions);
  return *fixture;
}

void BM_ForEachMatch(benchmark::State& state) {
  Fixture& fixture = FixtureFor(static_cast<std::size_t>(state.range(0)));
  std::size_t next = 0;
  std::uint64_t visits = 0;
  for (auto _ : state) {
    const std::string& event = fixture.events[next++ % kEventCount];
    fixture.trie.ForEachMatch(event, [&visits](std::uint32_t subscriber) {
      visits += subscriber | 1;
      benchmark::DoNotOptimize(visits);
    });
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["subs"] = static_cast<double>(fixture.trie.size());
  state.counters["nodes"] = static_cast<double>(fixture.trie.node_count());
}
BENCHMARK(BM_ForEachMatch)->RangeMultiplier(10)->Range(1'000, 1'000'000);

void BM_CountMatches(benchmark::State& state) {
  Fixture& fixture = FixtureFor(static_cast<std::size_t>(state.range(0)));
  std::size_t next = 0;
  std::size_t matches = 0;
  for (auto _ : state) {
    matches += fixture.trie.CountMatches(fixture.events[next++ % kEventCount]);
    benchmark::DoNotOptimize(matches);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["matches/event"] =
      benchmark::Counter(static_cast<double>(matches), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_CountMatches)->RangeMultiplier(10)->Range(1'000, 1'000'000);

// Adds then removes a pattern with a fresh ID, so each pair creates and prunes nodes.
void BM_AddRemoveNewPattern(benchmark::State& state) {
  Fixture& fixture = FixtureFor(static_cast<std::size_t>(state.range(0)));
  std::vector<std::string> patterns;
  for (std::uint64_t i = 0; i < 1024; ++i) patterns.push_back("users." + Id(~i) + ".*");
  std::size_t next = 0;
  for (auto _ : state) {
    const std::string& pattern = patterns[next++ % patterns.size()];
    benchmark::DoNotOptimize(fixture.trie.Add(pattern, 1));
    benchmark::DoNotOptimize(fixture.trie.Remove(pattern, 1));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddRemoveNewPattern)->RangeMultiplier(10)->Range(1'000, 1'000'000);

// Adds then removes one more subscriber on a node that already holds range(0) of them.
void BM_AddRemoveOnCrowdedNode(benchmark::State& state) {
  Trie trie;
  auto crowd = static_cast<std::uint32_t>(state.range(0));
  for (std::uint32_t i = 0; i < crowd; ++i) trie.Add("users.*.*", i);
  std::uint32_t next = crowd;
  for (auto _ : state) {
    benchmark::DoNotOptimize(trie.Add("users.*.*", next));
    benchmark::DoNotOptimize(trie.Remove("users.*.*", next));
    ++next;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddRemoveOnCrowdedNode)->Arg(10)->Arg(100'000);

}  // namespace
}  // namespace herald::core
