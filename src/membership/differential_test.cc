// MembershipIndex against the naive reference model of stp_generator.h over
// long random STP-like streams. Replay a failure with HERALD_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "membership/membership_index.h"
#include "membership/stp_generator.h"

namespace herald::membership {
namespace {

using testing::GeneratedEvent;
using testing::GeneratorOptions;
using testing::StpGenerator;

constexpr int kEventsPerRun = 100'000;

std::uint64_t SeedOr(std::uint64_t fallback) {
  const char* text = std::getenv("HERALD_SEED");
  return text ? std::strtoull(text, nullptr, 10) : fallback;
}

std::string Describe(const GeneratedEvent& event) {
  std::string text = event.name + " data=" + event.data_json;
  if (event.users) text += " users=" + std::to_string(event.users->size());
  return text;
}

// Runs `events` events of one seed; returns false at the first disagreement.
bool RunSeed(std::uint64_t seed, int events, GeneratorOptions options) {
  StpGenerator generator(seed, options);
  IndexOptions index_options;
  index_options.tombstone_grace_ms = options.model.tombstone_grace_ms;
  index_options.deliver_uncovered_to_everyone = options.model.deliver_uncovered_to_everyone;
  MembershipIndex index(index_options, nullptr);

  for (int i = 0; i < events; ++i) {
    GeneratedEvent event = generator.Next();
    Resolution got = index.Apply(event.name, event.data_json, event.users ? &*event.users : nullptr,
                                 event.now_ms);
    bool same = got.audience.everyone == event.expected.everyone &&
                got.audience.users == event.expected.users &&
                MetricLabel(got.drop) == event.expected.drop;
    if (!same) {
      ADD_FAILURE() << "seed " << seed << " (replay: HERALD_SEED=" << seed << ") event #" << i
                    << ": " << Describe(event)
                    << "\n  expected everyone=" << event.expected.everyone
                    << " users=" << ::testing::PrintToString(event.expected.users)
                    << " drop=" << event.expected.drop
                    << "\n  got      everyone=" << got.audience.everyone
                    << " users=" << ::testing::PrintToString(got.audience.users)
                    << " drop=" << MetricLabel(got.drop);
      return false;
    }
  }
  return true;
}

TEST(DifferentialTest, IndexAgreesWithReferenceModel) {
  const std::uint64_t seed = SeedOr(20261203);
  EXPECT_TRUE(RunSeed(seed, kEventsPerRun, {}));
}

TEST(DifferentialTest, AgreesWithShortGraceAndUncoveredSwitch) {
  GeneratorOptions options;
  options.model.tombstone_grace_ms = 3000;
  options.model.deliver_uncovered_to_everyone = true;
  const std::uint64_t seed = SeedOr(7);
  EXPECT_TRUE(RunSeed(seed, kEventsPerRun / 2, options));
}

TEST(DifferentialTest, AgreesOnManySmallSeeds) {
  GeneratorOptions options;
  options.users = 6;
  options.regions = 2;
  options.groups = 3;
  options.trainers = 8;
  options.encounters = 3;
  options.model.tombstone_grace_ms = 5000;
  const std::uint64_t base = SeedOr(1000);
  for (std::uint64_t seed = base; seed < base + 50; ++seed) {
    if (!RunSeed(seed, 2000, options)) break;
  }
}

TEST(DifferentialTest, GeneratorIsReproducible) {
  StpGenerator a(42), b(42);
  for (int i = 0; i < 1000; ++i) {
    GeneratedEvent x = a.Next(), y = b.Next();
    ASSERT_EQ(x.name, y.name);
    ASSERT_EQ(x.data_json, y.data_json);
    ASSERT_EQ(x.expected.users, y.expected.users);
  }
}

}  // namespace
}  // namespace herald::membership
