#include "cli/bench_stp.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>

#include "cli/bench_support.h"
#include "core/subscription_trie.h"
#include "membership/stp_generator.h"
#include "protocol/protocol.h"

namespace herald::cli::bench {
namespace {

// How many groups, regions, trainers and encounters one user subscribes to
// at most: an STP client follows what it is in, not the whole world, and
// stays far below the server's subscription limit and command burst.
constexpr std::size_t kMaxGroupsPerUser = 8;
constexpr std::size_t kMaxRegionsPerUser = 3;
constexpr std::size_t kMaxTrainersPerUser = 4;
constexpr std::size_t kMaxEncountersPerUser = 6;

std::vector<std::string_view> Segments(std::string_view name) {
  std::vector<std::string_view> out;
  while (true) {
    auto dot = name.find('.');
    out.push_back(name.substr(0, dot));
    if (dot == std::string_view::npos) return out;
    name.remove_prefix(dot + 1);
  }
}

// The string value of "key":"..." in a flat JSON payload, if present.
std::string StringField(std::string_view json, std::string_view key) {
  std::string needle = "\"" + std::string(key) + "\":\"";
  auto at = json.find(needle);
  if (at == std::string_view::npos) return {};
  at += needle.size();
  auto end = json.find('"', at);
  return end == std::string_view::npos ? std::string() : std::string(json.substr(at, end - at));
}

// The generator sometimes sends payloads that are not JSON. POST /publish
// takes only JSON, so those go as JSON strings: like the raw text, a string
// is not an object, and the rules read it the same way.
std::string PublishItem(const membership::testing::GeneratedEvent& event,
                        simdjson::dom::parser& parser) {
  std::string item = "{\"event\":\"" + event.name + "\"";
  if (!event.data_json.empty()) {
    simdjson::padded_string padded(event.data_json);
    simdjson::dom::element ignored;
    if (parser.parse(padded).get(ignored) == simdjson::SUCCESS) {
      item += ",\"data\":" + event.data_json;
    } else {
      item += ",\"data\":\"";
      protocol::AppendJsonEscaped(item, event.data_json);
      item += "\"";
    }
  }
  if (event.users) {
    item += ",\"users\":[";
    for (std::size_t i = 0; i < event.users->size(); ++i) {
      item += (i ? ",\"" : "\"") + (*event.users)[i] + "\"";
    }
    item += "]";
  }
  return item + "}";
}

// What the stream tells about each user: the groups they are in, the
// trainers they own, those trainers' regions, and encounters per region.
struct UserWorld {
  std::vector<std::set<std::string>> groups, regions, trainers;
  std::map<std::string, std::vector<std::string>> region_encounters;
};

void Learn(const membership::testing::GeneratedEvent& event,
           const std::map<std::string, std::uint32_t>& user_index, UserWorld& world) {
  std::vector<std::string_view> s = Segments(event.name);
  bool upsert = s.back() == "created" || s.back() == "updated";
  if (s.size() == 3 && s[0] == "groups" && upsert && !event.expected.everyone) {
    for (const std::string& user : event.expected.users) {
      auto it = user_index.find(user);
      if (it != user_index.end()) world.groups[it->second].insert(std::string(s[1]));
    }
  } else if (s.size() == 5 && s[0] == "regions" && s[2] == "trainers" && upsert) {
    auto it = user_index.find(StringField(event.data_json, "user"));
    if (it != user_index.end()) {
      world.trainers[it->second].insert(std::string(s[3]));
      world.regions[it->second].insert(std::string(s[1]));
    }
  } else if (s.size() == 5 && s[0] == "regions" && s[2] == "encounters" && s[4] == "created") {
    auto& list = world.region_encounters[std::string(s[1])];
    if (std::find(list.begin(), list.end(), s[3]) == list.end()) list.emplace_back(s[3]);
  }
}

template <typename T>
std::vector<T> FirstOf(const std::set<T>& set, std::size_t n) {
  std::vector<T> out;
  for (const T& item : set) {
    if (out.size() == n) break;
    out.push_back(item);
  }
  return out;
}

std::vector<std::string> StpPatterns(const std::string& user, std::uint32_t u,
                                     const UserWorld& world) {
  std::vector<std::string> patterns = {"users.*.*", "users." + user + ".achievements.*.*"};
  for (const std::string& g : FirstOf(world.groups[u], kMaxGroupsPerUser)) {
    patterns.push_back("groups." + g + ".*");
    patterns.push_back("groups." + g + ".messages.*.*");
  }
  std::size_t encounters = 0;
  for (const std::string& r : FirstOf(world.regions[u], kMaxRegionsPerUser)) {
    patterns.push_back("regions." + r + ".*");
    patterns.push_back("regions." + r + ".messages.*.*");
    patterns.push_back("regions." + r + ".trainers.*.*");
    patterns.push_back("regions." + r + ".encounters.*.*");
    auto it = world.region_encounters.find(r);
    if (it == world.region_encounters.end()) continue;
    for (const std::string& e : it->second) {
      if (encounters++ == kMaxEncountersPerUser) break;
      patterns.push_back("encounters." + e + ".opponents.*.*");
    }
  }
  for (const std::string& t : FirstOf(world.trainers[u], kMaxTrainersPerUser)) {
    patterns.push_back("trainers." + t + ".monsters.*.*");
    patterns.push_back("trainers." + t + ".items.*.*");
    patterns.push_back("encounters.*.trainers." + t + ".opponents.*.*");
  }
  return patterns;
}

}  // namespace

std::string SyntheticId(char kind, std::uint64_t n) {
  char text[32];
  std::snprintf(text, sizeof(text), "%c%023llx", kind,
                static_cast<unsigned long long>(n * 0x9E3779B97F4A7C15ull >> 8));
  return text;
}

std::vector<std::string> SyntheticPatterns(std::size_t user, std::size_t regions,
                                           std::size_t count) {
  std::string u = SyntheticId('a', user), g = SyntheticId('b', user / 5),
              r = SyntheticId('c', user % std::max<std::size_t>(regions, 1)),
              t = SyntheticId('d', user);
  std::vector<std::string> all = {
      "users." + u + ".achievements.*.*",
      "users.*.*",
      "groups." + g + ".*",
      "groups." + g + ".messages.*.*",
      "regions." + r + ".trainers.*.*",
      "trainers." + t + ".monsters.*.*",
      "trainers." + t + ".items.*.*",
      "regions." + r + ".encounters.*.*",
      "encounters.*.trainers." + t + ".opponents.*.*",
  };
  all.resize(std::clamp<std::size_t>(count, 1, all.size()));
  return all;
}

StpWorkload BuildStpWorkload(std::size_t users, std::size_t warmup, std::size_t events,
                             std::uint64_t seed, std::int64_t tombstone_grace_ms) {
  membership::testing::GeneratorOptions options;
  int n = static_cast<int>(users);
  options.users = n;
  options.regions = std::max(4, n / 500);
  options.groups = std::max(15, n / 5);
  options.trainers = std::max(80, n / 2);
  options.encounters = std::max(25, n / 50);
  // The server's clock is real time: the stream must not jump past a grace.
  options.clock_jumps = false;
  options.model.tombstone_grace_ms = tombstone_grace_ms;
  membership::testing::StpGenerator generator(seed, options);

  StpWorkload w;
  w.users = generator.user_ids();
  std::map<std::string, std::uint32_t> user_index;
  for (std::uint32_t i = 0; i < w.users.size(); ++i) user_index[w.users[i]] = i;

  std::vector<membership::testing::GeneratedEvent> stream;
  stream.reserve(warmup + events);
  UserWorld world;
  world.groups.resize(users);
  world.regions.resize(users);
  world.trainers.resize(users);
  for (std::size_t i = 0; i < warmup + events; ++i) {
    stream.push_back(generator.Next());
    Learn(stream.back(), user_index, world);
  }

  core::SubscriptionTrie<std::uint32_t> trie;
  w.patterns.resize(users);
  for (std::uint32_t u = 0; u < users; ++u) {
    w.patterns[u] = StpPatterns(w.users[u], u, world);
    for (const std::string& p : w.patterns[u]) trie.Add(p, u);
  }

  simdjson::dom::parser parser;
  std::vector<std::uint64_t> seen(users, 0);
  for (std::size_t i = 0; i < stream.size(); ++i) {
    const auto& event = stream[i];
    std::string item = PublishItem(event, parser);
    if (i < warmup) {
      w.warmup_items.push_back(std::move(item));
      continue;
    }
    w.items.push_back(std::move(item));
    const auto& audience = event.expected;
    std::vector<std::uint32_t> to;
    trie.ForEachMatch(event.name, [&](std::uint32_t u) {
      if (seen[u] == i + 1) return;
      seen[u] = i + 1;
      if (audience.everyone ||
          std::binary_search(audience.users.begin(), audience.users.end(), w.users[u])) {
        to.push_back(u);
      }
    });
    if (!audience.everyone && audience.users.empty()) ++w.dropped_items;
    w.deliveries.push_back(to.size());
    w.name_hashes.push_back(NameHash(event.name));
    bool all = to.size() == users;
    w.to_all.push_back(all);
    w.recipients.push_back(all ? std::vector<std::uint32_t>() : std::move(to));
  }
  return w;
}

void StpWorkload::Expected(std::size_t published, std::vector<std::uint64_t>* counts,
                           std::vector<std::uint64_t>* hash_sums) const {
  counts->assign(users.size(), 0);
  hash_sums->assign(users.size(), 0);
  std::uint64_t all_count = 0, all_hash = 0;
  for (std::size_t i = 0; i < published && i < items.size(); ++i) {
    if (to_all[i]) {
      ++all_count;
      all_hash += name_hashes[i];
      continue;
    }
    for (std::uint32_t u : recipients[i]) {
      ++(*counts)[u];
      (*hash_sums)[u] += name_hashes[i];
    }
  }
  for (std::size_t u = 0; u < users.size(); ++u) {
    (*counts)[u] += all_count;
    (*hash_sums)[u] += all_hash;
  }
}

}  // namespace herald::cli::bench
