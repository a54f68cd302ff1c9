#include "auth/base64url.h"

#include <gtest/gtest.h>

namespace herald::auth {
namespace {

TEST(Base64UrlTest, MatchesRfc7515AppendixC) {
  const std::string bytes = {3, static_cast<char>(236), static_cast<char>(255),
                             static_cast<char>(224), static_cast<char>(193)};
  EXPECT_EQ(Base64UrlEncode(bytes), "A-z_4ME");
  EXPECT_EQ(Base64UrlDecode("A-z_4ME"), bytes);
}

TEST(Base64UrlTest, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes) << "length " << i;
    bytes.push_back(static_cast<char>(i * 7 + 3));
  }
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
}

TEST(Base64UrlTest, DecodeRejectsNonAlphabetPaddingAndImpossibleLengths) {
  EXPECT_EQ(Base64UrlDecode("Zg=="), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("a+b/"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9 v"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode(std::string_view("Zm\0v", 4)), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9vY"), std::nullopt);  // 4n+1 characters.
}

TEST(Base64UrlTest, DecodeRejectsNonZeroTrailingBits) {
  EXPECT_EQ(Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(Base64UrlDecode("Zh"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9"), std::nullopt);
}

TEST(RandomTokenTest, HasExpectedLengthAndDiffers) {
  EXPECT_EQ(RandomToken(32).size(), 43u);
  EXPECT_EQ(RandomHex(16).size(), 32u);
  EXPECT_NE(RandomToken(32), RandomToken(32));
  EXPECT_TRUE(Base64UrlDecode(RandomToken(48)).has_value());
  EXPECT_EQ(RandomHex(8).find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace herald::auth
