// Event names and subscription patterns (DESIGN.md section 1).
//
// A name is 1..kMaxSegments segments joined by '.', each segment one or more of
// [A-Za-z0-9_-]. A pattern is a name whose segments may also be exactly "*" (any one
// segment), and whose last segment may also be exactly ">" (one or more remaining
// segments; an extension kept for compatibility with the original NATS-backed server).
#pragma once

#include <cstddef>
#include <string_view>

namespace herald::core {

// Limits shared by names and patterns. kMaxSegments bounds the work of one match: the
// trie walk is at most that many levels deep and the split name fits a stack array.
// kMaxNameBytes keeps a name inside one NATS subject and one log line with room to
// spare; the longest event family of DESIGN.md section 2 (six segments, three of them
// 24-character object IDs) is about 110 bytes.
inline constexpr std::size_t kMaxSegments = 16;
inline constexpr std::size_t kMaxNameBytes = 255;

inline constexpr std::string_view kWildcardOne = "*";
inline constexpr std::string_view kWildcardRest = ">";

// Yields the '.'-separated segments of a text, left to right, without allocating.
// Note that empty segments are yielded too ("a..b" gives "a", "", "b"; "" gives one
// empty segment), so validation can see them.
class SegmentCursor {
 public:
  explicit SegmentCursor(std::string_view text) : rest_(text) {}

  // Stores the next segment in *segment and returns true; false once all were yielded.
  bool Next(std::string_view* segment);

 private:
  std::string_view rest_;
  bool done_ = false;
};

// True when `segment` is one or more of [A-Za-z0-9_-].
bool IsValidLiteralSegment(std::string_view segment);

// True when `name` is a valid event name (see the file comment).
bool IsValidName(std::string_view name);

// True when `pattern` is a valid subscription pattern (see the file comment).
bool IsValidPattern(std::string_view pattern);

// True when `pattern` matches `name`. Both must be valid; this is the reference
// matcher the trie is tested against, written for clarity rather than speed.
bool PatternMatches(std::string_view pattern, std::string_view name);

}  // namespace herald::core
