// The workloads of `herald bench`: who connects, what each connection
// subscribes to, what is published and what each connection must receive.
//
// Pure computation, no I/O; built on the main thread before any connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace herald::cli::bench {

// The patterns a realistic STP client holds, in the order it subscribes:
// its user's achievements, the users list, its group and the group's
// messages, its region's trainers, its trainer's monsters and items, its
// region's encounters and its trainer's opponents. `count` takes the first
// ones (1..9); user i of a synthetic world is in group i/5, region i%regions
// and owns trainer i.
std::vector<std::string> SyntheticPatterns(std::size_t user, std::size_t regions,
                                           std::size_t count);

// A 24-hex-digit ID like the STP backend's MongoDB IDs.
std::string SyntheticId(char kind, std::uint64_t n);

// The `stp` scenario: a seeded STP event stream (membership/stp_generator.h)
// whose reference model says who may see each event. One connection per
// generated user, subscribed to that user's groups, regions, trainers and
// encounters as the stream reveals them. `warmup_items` are published before
// anyone connects, to build memberships; `items` are measured.
struct StpWorkload {
  std::vector<std::string> users;
  std::vector<std::vector<std::string>> patterns;  // per user
  std::vector<std::string> warmup_items;           // JSON objects for POST /publish
  std::vector<std::string> items;
  std::vector<std::uint64_t> deliveries;  // per item: connections that must receive it
  std::size_t dropped_items = 0;          // items the rules give an empty audience

  // What each user must have received once the first `published` items are
  // delivered: a count and the sum of NameHash over the names.
  void Expected(std::size_t published, std::vector<std::uint64_t>* counts,
                std::vector<std::uint64_t>* hash_sums) const;

  // Per item: every user receives it, or the listed users do.
  std::vector<bool> to_all;
  std::vector<std::vector<std::uint32_t>> recipients;
  std::vector<std::uint64_t> name_hashes;
};

// tombstone_grace_ms must be the server's; the stream's clock advances
// ~0.75 s per event, so it must exceed that times warmup + events.
StpWorkload BuildStpWorkload(std::size_t users, std::size_t warmup, std::size_t events,
                             std::uint64_t seed, std::int64_t tombstone_grace_ms);

}  // namespace herald::cli::bench
