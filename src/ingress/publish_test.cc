#include "ingress/publish.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald::ingress {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Parses body and expects it to be accepted.
std::vector<fanout::PublishItem> Accepted(std::string_view body) {
  PublishParse parse = ParsePublishBody(body);
  EXPECT_THAT(parse.problems, IsEmpty()) << body;
  return parse.items;
}

// Parses body and expects it to be refused as a whole.
std::vector<std::string> Refused(std::string_view body) {
  PublishParse parse = ParsePublishBody(body);
  EXPECT_THAT(parse.items, IsEmpty()) << body;
  EXPECT_THAT(parse.problems, Not(IsEmpty())) << body;
  return parse.problems;
}

// The data of a single-event body `{"event":"a.b","data":<data>}`.
std::string DataOf(std::string_view data) {
  std::vector<fanout::PublishItem> items =
      Accepted(R"({"event":"a.b","data":)" + std::string(data) + "}");
  return items.size() == 1 ? items[0].data : "<not one item>";
}

TEST(ParsePublishBodyTest, ReadsOneEventObject) {
  std::vector<fanout::PublishItem> items =
      Accepted(R"({"event":"users.u1.created","data":{"name":"Ash"}})");
  ASSERT_THAT(items, SizeIs(1));
  EXPECT_EQ(items[0].name, "users.u1.created");
  EXPECT_EQ(items[0].data, R"({"name":"Ash"})");
  EXPECT_FALSE(items[0].users.has_value());
}

TEST(ParsePublishBodyTest, ReadsAnArrayInOrder) {
  std::vector<fanout::PublishItem> items =
      Accepted(R"([{"event":"a.one","data":1},{"event":"a.two","data":[2]},{"event":"a.three"}])");
  ASSERT_THAT(items, SizeIs(3));
  EXPECT_EQ(items[0].name, "a.one");
  EXPECT_EQ(items[0].data, "1");
  EXPECT_EQ(items[1].name, "a.two");
  EXPECT_EQ(items[1].data, "[2]");
  EXPECT_EQ(items[2].name, "a.three");
  EXPECT_EQ(items[2].data, "");
}

TEST(ParsePublishBodyTest, KeepsObjectDataByteForByte) {
  std::string data =
      "{ \"x\" : 1.50E+3,\n\t\"s\":\"caf\\u00e9 \\\"q\\\" \\n\",  \"n\" : [ 1 , {\"y\":null} ,"
      "-0.0, 1e-7 ], \"t\":true }";
  EXPECT_EQ(DataOf(data), data);
  EXPECT_EQ(DataOf(" \n" + data), data);
}

// Disabled: whitespace after an object or array `data` ends up in the data
// (and so in every frame), while it is trimmed after scalar data. The frame
// stays valid JSON; reported to the owner of publish.cc (RawJson).
TEST(ParsePublishBodyTest, WhitespaceAfterStructuredDataIsNotKept) {
  EXPECT_EQ(DataOf("{\"a\":1} \n "), "{\"a\":1}");
  EXPECT_EQ(DataOf("[1, 2]\t"), "[1, 2]");
}

TEST(ParsePublishBodyTest, KeepsArrayDataByteForByte) {
  EXPECT_EQ(DataOf("[ 1,2 ,  \"\\u0041\" ,{ } ]"), "[ 1,2 ,  \"\\u0041\" ,{ } ]");
  EXPECT_EQ(DataOf("[]"), "[]");
}

TEST(ParsePublishBodyTest, KeepsScalarDataByteForByte) {
  EXPECT_EQ(DataOf("1.0"), "1.0");
  EXPECT_EQ(DataOf("  -12.500e+02  "), "-12.500e+02");
  EXPECT_EQ(DataOf("\"\\u00e9\\/\""), "\"\\u00e9\\/\"");
  EXPECT_EQ(DataOf("\"\""), "\"\"");
  EXPECT_EQ(DataOf("null"), "null");
  EXPECT_EQ(DataOf("false\n"), "false");
}

// JSON puts no limit on numbers but lets a parser set one; simdjson refuses
// integers outside 64 bits and doubles past 1.8e308, and so does Herald, with
// a message that says so. Tiny doubles round to zero and are kept as sent.
TEST(ParsePublishBodyTest, NumbersBeyondMachineRangeAreNamedInTheRefusal) {
  for (std::string_view data : {"10000000000000000000000000", "{\"n\":18446744073709551616}",
                                "[-9223372036854775809]", "1e400", "01", "[1.]"}) {
    std::string body = R"({"event":"a.b","data":)" + std::string(data) + "}";
    EXPECT_THAT(Refused(body), ElementsAre(HasSubstr("does not fit a 64-bit integer or a double")))
        << data;
  }
  EXPECT_EQ(DataOf("[18446744073709551615,-9223372036854775808]"),
            "[18446744073709551615,-9223372036854775808]");
  EXPECT_EQ(DataOf("1e-400"), "1e-400");
}

TEST(ParsePublishBodyTest, DataBeforeEventIsKept) {
  std::vector<fanout::PublishItem> items =
      Accepted(R"({"data" : {"a": [1, 2]}, "users":["u1"], "event":"x.y"})");
  ASSERT_THAT(items, SizeIs(1));
  EXPECT_EQ(items[0].name, "x.y");
  EXPECT_EQ(items[0].data, R"({"a": [1, 2]})");
}

TEST(ParsePublishBodyTest, AbsentDataIsEmpty) {
  std::vector<fanout::PublishItem> items = Accepted(R"({"event":"groups.g1.deleted"})");
  ASSERT_THAT(items, SizeIs(1));
  EXPECT_EQ(items[0].data, "");
}

TEST(ParsePublishBodyTest, ReadsTheUsersList) {
  std::vector<fanout::PublishItem> items =
      Accepted(R"([{"event":"a.b","users":["u1","u\u0032"]},{"event":"a.c","users":[]}])");
  ASSERT_THAT(items, SizeIs(2));
  ASSERT_TRUE(items[0].users.has_value());
  EXPECT_THAT(*items[0].users, ElementsAre("u1", "u2"));
  ASSERT_TRUE(items[1].users.has_value());
  EXPECT_THAT(*items[1].users, IsEmpty());
}

TEST(ParsePublishBodyTest, ReportsEveryBadItemWithItsIndexAndReturnsNothing) {
  std::vector<std::string> problems = Refused(
      R"([{"event":"a.ok"},{"event":"a..bad"},{"event":"b.ok"},42,{"event":"c.ok","x":1}])");
  ASSERT_THAT(problems, SizeIs(3));
  EXPECT_THAT(problems[0], StartsWith("item 1: "));
  EXPECT_THAT(problems[0], HasSubstr("not a valid event name"));
  EXPECT_THAT(problems[1], StartsWith("item 3: "));
  EXPECT_THAT(problems[1], HasSubstr("must be an object"));
  EXPECT_THAT(problems[2], StartsWith("item 4: "));
  EXPECT_THAT(problems[2], HasSubstr("unknown field \"x\""));
}

TEST(ParsePublishBodyTest, BadItemsThatStopEarlyDoNotDisturbTheNext) {
  // Each bad item is left half-read; the items after it must still be read.
  std::vector<std::string> problems =
      Refused(R"([{"event":5,"data":{"deep":[1,{"a":2}]}},)"
              R"({"event":"a.b","users":["u1",2,"u3"],"data":[1]},)"
              R"({"event":"a.b","extra":{"nested":[1,2]},"data":"x"},)"
              R"({"event":"a.*"},)"
              R"({"event":"ok.one","data":{"k":[1,2,3]}}])");
  ASSERT_THAT(problems, SizeIs(4));
  EXPECT_THAT(problems[0], StartsWith("item 0: "));
  EXPECT_THAT(problems[1], StartsWith("item 1: "));
  EXPECT_THAT(problems[2], StartsWith("item 2: "));
  EXPECT_THAT(problems[3], StartsWith("item 3: "));
}

TEST(ParsePublishBodyTest, SingleObjectProblemHasNoIndex) {
  std::vector<std::string> problems = Refused(R"({"event":"a..b"})");
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_EQ(problems[0], "\"event\" is not a valid event name");
}

TEST(ParsePublishBodyTest, InvalidJsonBodyIsRefused) {
  for (std::string_view body :
       {"", "{", R"({"event":"a.b",})", R"({"event":"a.b"} x)", R"({"event":"a.b","data":{"x":}})",
        R"([{"event":"a.b"},])", R"({"event":"a.b","data":tru})"}) {
    std::vector<std::string> problems = Refused(body);
    EXPECT_THAT(problems, ElementsAre("body is not valid JSON")) << body;
  }
}

TEST(ParsePublishBodyTest, EmptyArrayIsRefused) {
  EXPECT_THAT(Refused("[]"), ElementsAre("empty batch"));
  EXPECT_THAT(Refused(" [ ] "), ElementsAre("empty batch"));
}

TEST(ParsePublishBodyTest, NonObjectBodyIsRefused) {
  Refused("42");
  Refused(R"("a.b")");
  Refused("null");
}

TEST(ParsePublishBodyTest, NonObjectItemIsRefused) {
  EXPECT_THAT(Refused(R"([["a.b"]])"), ElementsAre("item 0: must be an object"));
  EXPECT_THAT(Refused(R"([{"event":"a.b"},null])"), ElementsAre("item 1: must be an object"));
}

TEST(ParsePublishBodyTest, BadEventNamesAreRefused) {
  for (std::string_view name : {"", "a..b", "a.*", "groups.>", "a b", ".a", "caf\\u00e9"}) {
    std::vector<std::string> problems =
        Refused(R"({"event":")" + std::string(name) + R"(","data":1})");
    EXPECT_THAT(problems, ElementsAre("\"event\" is not a valid event name")) << name;
  }
}

TEST(ParsePublishBodyTest, NonStringOrMissingEventIsRefused) {
  EXPECT_THAT(Refused(R"({"event":1})"), ElementsAre("\"event\" must be a string"));
  EXPECT_THAT(Refused(R"({"event":null})"), ElementsAre("\"event\" must be a string"));
  EXPECT_THAT(Refused(R"({"data":{}})"), ElementsAre("missing \"event\""));
  EXPECT_THAT(Refused("{}"), ElementsAre("missing \"event\""));
}

TEST(ParsePublishBodyTest, UnknownFieldIsRefusedAndNamed) {
  EXPECT_THAT(Refused(R"({"event":"a.b","pattern":"a.b"})"),
              ElementsAre("unknown field \"pattern\""));
  std::string long_key(100, 'k');
  std::vector<std::string> problems = Refused(R"({"event":"a.b",")" + long_key + R"(":1})");
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_EQ(problems[0], "unknown field \"" + std::string(32, 'k') + "\"");
}

TEST(ParsePublishBodyTest, UsersMustBeAnArrayOfNonEmptyStrings) {
  for (std::string_view users :
       {R"(["u1",2])", R"("u1")", "null", R"([["u1"]])", R"([""])", R"({"u1":true})"}) {
    std::vector<std::string> problems =
        Refused(R"({"event":"a.b","users":)" + std::string(users) + "}");
    EXPECT_THAT(problems, ElementsAre("\"users\" must be an array of user ID strings")) << users;
  }
}

}  // namespace
}  // namespace herald::ingress
