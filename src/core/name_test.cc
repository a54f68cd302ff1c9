#include "core/name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/pattern_vectors_for_test.h"

namespace herald::core {
namespace {

// Joins `count` copies of `segment` with dots.
std::string Repeat(std::string_view segment, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) out += '.';
    out += segment;
  }
  return out;
}

std::vector<std::string> Segments(std::string_view text) {
  std::vector<std::string> out;
  SegmentCursor cursor(text);
  std::string_view segment;
  while (cursor.Next(&segment)) out.emplace_back(segment);
  return out;
}

TEST(SegmentCursorTest, YieldsSegmentsLeftToRight) {
  EXPECT_EQ(Segments("users.u1.created"), (std::vector<std::string>{"users", "u1", "created"}));
  EXPECT_EQ(Segments("users"), (std::vector<std::string>{"users"}));
}

TEST(SegmentCursorTest, YieldsEmptySegmentsSoValidationSeesThem) {
  EXPECT_EQ(Segments(""), (std::vector<std::string>{""}));
  EXPECT_EQ(Segments("a..b"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(Segments("a."), (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(Segments(".a"), (std::vector<std::string>{"", "a"}));
}

TEST(NameTest, AcceptsLettersDigitsUnderscoreAndDash) {
  EXPECT_TRUE(IsValidName("users.507f191e810c19729de860ea.achievements.first-road.created"));
  EXPECT_TRUE(IsValidName("win_game"));
  EXPECT_TRUE(IsValidName("A-Z_0-9"));
}

TEST(NameTest, RejectsWildcardsAndEmptySegments) {
  EXPECT_FALSE(IsValidName("users.*.created"));
  EXPECT_FALSE(IsValidName("users.>"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("users..created"));
  EXPECT_FALSE(IsValidName("users."));
  EXPECT_FALSE(IsValidName("users/created"));
  EXPECT_FALSE(IsValidName(std::string_view("users\0x", 7)));
}

TEST(NameTest, AllowsSixteenSegmentsButNotSeventeen) {
  EXPECT_TRUE(IsValidName(Repeat("a", kMaxSegments)));
  EXPECT_FALSE(IsValidName(Repeat("a", kMaxSegments + 1)));
  EXPECT_TRUE(IsValidPattern(Repeat("*", kMaxSegments)));
  EXPECT_FALSE(IsValidPattern(Repeat("*", kMaxSegments + 1)));
  EXPECT_TRUE(IsValidPattern(Repeat("a", kMaxSegments - 1) + ".>"));
  EXPECT_FALSE(IsValidPattern(Repeat("a", kMaxSegments) + ".>"));
}

TEST(NameTest, AllowsTwoHundredFiftyFiveBytesButNotMore) {
  std::string name = std::string(100, 'a') + "." + std::string(100, 'b') + "." +
                     std::string(kMaxNameBytes - 202, 'c');
  ASSERT_EQ(name.size(), kMaxNameBytes);
  EXPECT_TRUE(IsValidName(name));
  EXPECT_TRUE(IsValidPattern(name));

  name += 'c';
  EXPECT_FALSE(IsValidName(name));
  EXPECT_FALSE(IsValidPattern(name));
}

TEST(PatternTest, WildcardMustBeAWholeSegment) {
  EXPECT_TRUE(IsValidPattern("users.*.created"));
  EXPECT_TRUE(IsValidPattern("*"));
  EXPECT_FALSE(IsValidPattern("users.*x.created"));
  EXPECT_FALSE(IsValidPattern("users.**"));
}

TEST(PatternTest, RestWildcardIsAllowedOnlyAsLastSegment) {
  EXPECT_TRUE(IsValidPattern(">"));
  EXPECT_TRUE(IsValidPattern("users.>"));
  EXPECT_TRUE(IsValidPattern("*.>"));
  EXPECT_FALSE(IsValidPattern("users.>.created"));
  EXPECT_FALSE(IsValidPattern(">.users"));
  EXPECT_FALSE(IsValidPattern("users.>.>"));
}

TEST(PatternTest, RejectsEveryInvalidPatternOfTheSharedVectors) {
  testing::PatternVectors vectors = testing::LoadPatternVectors();
  ASSERT_FALSE(vectors.invalid_patterns.empty());
  for (const std::string& pattern : vectors.invalid_patterns) {
    EXPECT_FALSE(IsValidPattern(pattern)) << "pattern: '" << pattern << "'";
  }
}

TEST(PatternTest, SharedVectorsAreValid) {
  testing::PatternVectors vectors = testing::LoadPatternVectors();
  for (const testing::PatternCase& test_case : vectors.cases) {
    EXPECT_TRUE(IsValidPattern(test_case.pattern)) << test_case.pattern;
    for (const std::string& name : test_case.matches) EXPECT_TRUE(IsValidName(name)) << name;
    for (const std::string& name : test_case.rejects) EXPECT_TRUE(IsValidName(name)) << name;
  }
}

TEST(PatternMatchesTest, PassesEverySharedVector) {
  testing::PatternVectors vectors = testing::LoadPatternVectors();
  ASSERT_FALSE(vectors.cases.empty());
  for (const testing::PatternCase& test_case : vectors.cases) {
    for (const std::string& name : test_case.matches) {
      EXPECT_TRUE(PatternMatches(test_case.pattern, name)) << test_case.pattern << " ~ " << name;
    }
    for (const std::string& name : test_case.rejects) {
      EXPECT_FALSE(PatternMatches(test_case.pattern, name)) << test_case.pattern << " ~ " << name;
    }
  }
}

TEST(PatternMatchesTest, LiteralPatternMatchesOnlyItself) {
  EXPECT_TRUE(PatternMatches("users.u1.created", "users.u1.created"));
  EXPECT_FALSE(PatternMatches("users.u1.created", "users.u1.create"));
  EXPECT_FALSE(PatternMatches("users.u1", "users.u1.created"));
  EXPECT_FALSE(PatternMatches("users.u1.created", "users.u1"));
}

TEST(PatternMatchesTest, WildcardMatchesExactlyOneSegment) {
  EXPECT_TRUE(PatternMatches("users.*", "users.u1"));
  EXPECT_FALSE(PatternMatches("users.*", "users"));
  EXPECT_FALSE(PatternMatches("users.*", "users.u1.created"));
  EXPECT_TRUE(PatternMatches("*.u1.*", "groups.u1.deleted"));
}

TEST(PatternMatchesTest, RestWildcardMatchesOneOrMoreSegments) {
  EXPECT_TRUE(PatternMatches(">", "users"));
  EXPECT_TRUE(PatternMatches(">", "users.u1.created"));
  EXPECT_TRUE(PatternMatches("users.>", "users.u1"));
  EXPECT_TRUE(PatternMatches("users.>", Repeat("users", kMaxSegments)));
  EXPECT_FALSE(PatternMatches("users.>", "users"));
  EXPECT_FALSE(PatternMatches("users.*.>", "users.u1"));
}

}  // namespace
}  // namespace herald::core
