// The visibility rules of DESIGN.md section 2 as data: one row per event family.
//
// Thread-safety: the table is immutable after static initialisation; Match() is
// const and may be called from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace herald::membership {

// Who an event of a family reaches (before the publisher's `users` override).
enum class AudienceKind {
  kEveryone,
  kGroupMembers,           // members of group {g}
  kRegionMembers,          // members of region {r}
  kTrainerRegionAndOwner,  // members of trainer {t}'s region, and {t}'s owner
  kEncounterRegion,        // members of encounter {e}'s region
};

// Whether the family also feeds the membership index (DESIGN.md section 2,
// "Membership"). The last segment of the name says how: created/updated upsert,
// deleted removes; any other verb changes nothing.
enum class MembershipSource { kNone, kGroup, kTrainer, kEncounter };

// One row of the table. Pattern syntax, segment by segment:
//   literal      matches itself
//   a|b|c        matches any of the listed literals
//   {x}          matches any one segment; g, r, t and e are captured, other
//                names only document what the segment is
//   *            matches any one segment
struct RuleSpec {
  std::string_view pattern;
  AudienceKind audience;
  MembershipSource source = MembershipSource::kNone;
};

// The rows of the API doc's "Visible to" table. Adding a family is one line.
inline constexpr RuleSpec kRuleSpecs[] = {
    {"users.{u}.created|updated|deleted", AudienceKind::kEveryone},
    {"users.{u}.achievements.{a}.*", AudienceKind::kEveryone},
    {"groups.{g}.created|updated|deleted", AudienceKind::kGroupMembers, MembershipSource::kGroup},
    {"groups.{g}.messages.{m}.*", AudienceKind::kGroupMembers},
    {"regions.{r}.updated", AudienceKind::kEveryone},
    {"regions.{r}.messages.{m}.*", AudienceKind::kEveryone},
    {"regions.{r}.trainers.{t}.*", AudienceKind::kRegionMembers, MembershipSource::kTrainer},
    {"trainers.{t}.monsters.{m}.*", AudienceKind::kTrainerRegionAndOwner},
    {"trainers.{t}.items.{i}.*", AudienceKind::kTrainerRegionAndOwner},
    {"regions.{r}.encounters.{e}.created|deleted", AudienceKind::kRegionMembers,
     MembershipSource::kEncounter},
    // Deprecated in the API doc, still published by existing backends.
    {"encounters.{e}.opponents.{o}.*", AudienceKind::kEncounterRegion},
    {"encounters.{e}.trainers.{t}.opponents.{o}.*", AudienceKind::kEncounterRegion},
};

// The result of matching a name: the row and the captured placeholders. The
// string_views point into the matched name and live as long as it does.
struct RuleMatch {
  const RuleSpec* rule = nullptr;
  std::string_view group;      // {g}
  std::string_view region;     // {r}
  std::string_view trainer;    // {t}
  std::string_view encounter;  // {e}
  std::string_view verb;       // the last segment
};

// Returns the first row whose pattern matches `name`, or nothing when no rule
// covers the name. Cost: one split of the name plus a segment compare per row
// with the same segment count; no allocation.
std::optional<RuleMatch> MatchRule(std::string_view name);

// True if `name` starts with the first segment of a row whose audience is
// restricted (groups, regions, trainers, encounters): an uncovered name there
// is about something private even when no row covers it, so the switch that
// sends uncovered names to everyone leaves it dropped.
bool InRestrictedFamily(std::string_view name);

// Like MatchRule, against a caller-given table (for tests of the matcher).
// Note: this one parses the patterns on every call; use it off the hot path.
std::optional<RuleMatch> MatchRule(std::string_view name, std::span<const RuleSpec> rules);

}  // namespace herald::membership
