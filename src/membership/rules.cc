#include "membership/rules.h"

#include <algorithm>
#include <vector>

namespace herald::membership {
namespace {

// A name has at most 16 segments (DESIGN.md section 1); longer names are
// covered by no rule.
constexpr std::size_t kMaxSegments = 16;

using Segments = std::array<std::string_view, kMaxSegments>;

// Splits `text` at '.'; returns the segment count, or 0 when there are more
// than kMaxSegments.
std::size_t Split(std::string_view text, Segments& out) {
  std::size_t count = 0;
  while (true) {
    if (count == kMaxSegments) return 0;
    std::size_t dot = text.find('.');
    out[count++] = text.substr(0, dot);
    if (dot == std::string_view::npos) return count;
    text.remove_prefix(dot + 1);
  }
}

enum class SegmentKind { kLiteral, kAlternatives, kAny };

// Where a placeholder's capture goes in RuleMatch.
enum class Slot { kNone, kGroup, kRegion, kTrainer, kEncounter };

struct PatternSegment {
  SegmentKind kind = SegmentKind::kLiteral;
  std::string_view text;  // the literal, or "a|b|c"
  Slot slot = Slot::kNone;
};

struct CompiledRule {
  const RuleSpec* spec = nullptr;
  std::vector<PatternSegment> segments;
};

Slot SlotFor(std::string_view placeholder) {
  if (placeholder == "g") return Slot::kGroup;
  if (placeholder == "r") return Slot::kRegion;
  if (placeholder == "t") return Slot::kTrainer;
  if (placeholder == "e") return Slot::kEncounter;
  return Slot::kNone;
}

PatternSegment CompileSegment(std::string_view text) {
  if (text == "*") return {SegmentKind::kAny, text, Slot::kNone};
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
    return {SegmentKind::kAny, text, SlotFor(text.substr(1, text.size() - 2))};
  }
  if (text.find('|') != std::string_view::npos) return {SegmentKind::kAlternatives, text};
  return {SegmentKind::kLiteral, text};
}

CompiledRule Compile(const RuleSpec& spec) {
  CompiledRule rule{&spec, {}};
  Segments parts;
  std::size_t count = Split(spec.pattern, parts);
  for (std::size_t i = 0; i < count; ++i) rule.segments.push_back(CompileSegment(parts[i]));
  return rule;
}

std::vector<CompiledRule> CompileAll(std::span<const RuleSpec> specs) {
  std::vector<CompiledRule> rules;
  for (const RuleSpec& spec : specs) rules.push_back(Compile(spec));
  return rules;
}

bool AlternativesContain(std::string_view alternatives, std::string_view segment) {
  while (true) {
    std::size_t bar = alternatives.find('|');
    if (alternatives.substr(0, bar) == segment) return true;
    if (bar == std::string_view::npos) return false;
    alternatives.remove_prefix(bar + 1);
  }
}

bool SegmentMatches(const PatternSegment& pattern, std::string_view segment) {
  switch (pattern.kind) {
    case SegmentKind::kLiteral:
      return pattern.text == segment;
    case SegmentKind::kAlternatives:
      return AlternativesContain(pattern.text, segment);
    case SegmentKind::kAny:
      return !segment.empty();
  }
  return false;
}

void Capture(Slot slot, std::string_view segment, RuleMatch& match) {
  switch (slot) {
    case Slot::kNone:
      return;
    case Slot::kGroup:
      match.group = segment;
      return;
    case Slot::kRegion:
      match.region = segment;
      return;
    case Slot::kTrainer:
      match.trainer = segment;
      return;
    case Slot::kEncounter:
      match.encounter = segment;
      return;
  }
}

std::optional<RuleMatch> TryRule(const CompiledRule& rule, const Segments& parts,
                                 std::size_t count) {
  if (rule.segments.size() != count) return std::nullopt;
  RuleMatch match;
  for (std::size_t i = 0; i < count; ++i) {
    if (!SegmentMatches(rule.segments[i], parts[i])) return std::nullopt;
    Capture(rule.segments[i].slot, parts[i], match);
  }
  match.rule = rule.spec;
  match.verb = parts[count - 1];
  return match;
}

std::optional<RuleMatch> MatchCompiled(std::string_view name,
                                       const std::vector<CompiledRule>& rules) {
  Segments parts;
  std::size_t count = Split(name, parts);
  if (count == 0) return std::nullopt;
  for (const CompiledRule& rule : rules) {
    if (auto match = TryRule(rule, parts, count)) return match;
  }
  return std::nullopt;
}

const std::vector<CompiledRule>& CompiledTable() {
  static const std::vector<CompiledRule> kCompiled = CompileAll(kRuleSpecs);
  return kCompiled;
}

}  // namespace

std::optional<RuleMatch> MatchRule(std::string_view name) {
  return MatchCompiled(name, CompiledTable());
}

bool InRestrictedFamily(std::string_view name) {
  std::string_view first = name.substr(0, name.find('.'));
  const std::vector<CompiledRule>& rules = CompiledTable();
  return std::any_of(rules.begin(), rules.end(), [first](const CompiledRule& rule) {
    return rule.spec->audience != AudienceKind::kEveryone &&
           SegmentMatches(rule.segments.front(), first);
  });
}

std::optional<RuleMatch> MatchRule(std::string_view name, std::span<const RuleSpec> rules) {
  return MatchCompiled(name, CompileAll(rules));
}

}  // namespace herald::membership
