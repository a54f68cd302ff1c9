#include "core/name.h"

namespace herald::core {
namespace {

bool IsSegmentChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Checks the shape shared by names and patterns; `allow_wildcards` admits "*" anywhere
// and ">" as the last segment.
bool IsValidSegmentList(std::string_view text, bool allow_wildcards) {
  if (text.empty() || text.size() > kMaxNameBytes) return false;

  SegmentCursor cursor(text);
  std::string_view segment;
  std::size_t count = 0;
  bool after_rest_wildcard = false;
  while (cursor.Next(&segment)) {
    if (after_rest_wildcard || ++count > kMaxSegments) return false;
    if (IsValidLiteralSegment(segment)) continue;
    if (!allow_wildcards) return false;
    if (segment == kWildcardRest) {
      after_rest_wildcard = true;
    } else if (segment != kWildcardOne) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool SegmentCursor::Next(std::string_view* segment) {
  if (done_) return false;

  std::size_t dot = rest_.find('.');
  if (dot == std::string_view::npos) {
    *segment = rest_;
    done_ = true;
    return true;
  }
  *segment = rest_.substr(0, dot);
  rest_.remove_prefix(dot + 1);
  return true;
}

bool IsValidLiteralSegment(std::string_view segment) {
  if (segment.empty()) return false;
  for (char c : segment) {
    if (!IsSegmentChar(c)) return false;
  }
  return true;
}

bool IsValidName(std::string_view name) { return IsValidSegmentList(name, false); }

bool IsValidPattern(std::string_view pattern) { return IsValidSegmentList(pattern, true); }

bool PatternMatches(std::string_view pattern, std::string_view name) {
  SegmentCursor pattern_cursor(pattern);
  SegmentCursor name_cursor(name);
  std::string_view pattern_segment;
  std::string_view name_segment;
  while (pattern_cursor.Next(&pattern_segment)) {
    if (!name_cursor.Next(&name_segment)) return false;
    // ">" is last and has just consumed at least one segment: the rest all match.
    if (pattern_segment == kWildcardRest) return true;
    if (pattern_segment != kWildcardOne && pattern_segment != name_segment) return false;
  }
  return !name_cursor.Next(&name_segment);
}

}  // namespace herald::core
