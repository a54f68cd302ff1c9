#include "auth/jwt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "auth/test_signer.h"

namespace herald::auth {
namespace {

using testing::DecodeB64Url;
using testing::DerEcdsaSigner;
using testing::EcdsaSigner;
using testing::EncodeB64Url;
using testing::GenerateEcKey;
using testing::GenerateRsaKey;
using testing::HmacSigner;
using testing::KeyPtr;
using testing::MakeToken;
using testing::PublicKeyPem;
using testing::RsaSigner;
using testing::Signer;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-test-secret-64-bytes-long-enough";
constexpr char kPayload[] = R"({"sub":"user-42","exp":1700000600})";

std::string Header(std::string_view alg) {
  return std::string(R"({"alg":")") + std::string(alg) + R"(","typ":"JWT"})";
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = GenerateRsaKey(2048).release();
    ec256_ = GenerateEcKey("P-256").release();
    ec384_ = GenerateEcKey("P-384").release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(ec256_);
    EVP_PKEY_free(ec384_);
  }

  static std::unique_ptr<JwtVerifier> MakeVerifier(VerifierConfig config) {
    std::string error;
    auto verifier = JwtVerifier::Create(config, &error);
    EXPECT_NE(verifier, nullptr) << error;
    return verifier;
  }

  static std::unique_ptr<JwtVerifier> HsVerifier(std::vector<Algorithm> algorithms = {
                                                     Algorithm::kHS256}) {
    VerifierConfig config;
    config.algorithms = std::move(algorithms);
    config.secret = kSecret;
    return MakeVerifier(config);
  }

  static std::unique_ptr<JwtVerifier> PemVerifier(Algorithm algorithm, EVP_PKEY* key) {
    VerifierConfig config;
    config.algorithms = {algorithm};
    config.public_key_pem = PublicKeyPem(key);
    return MakeVerifier(config);
  }

  static std::string Hs256(std::string_view payload) {
    return MakeToken(Header("HS256"), payload, HmacSigner(kSecret, "SHA256"));
  }

  static std::string CreateError(const VerifierConfig& config) {
    std::string error;
    EXPECT_EQ(JwtVerifier::Create(config, &error), nullptr);
    EXPECT_FALSE(error.empty());
    return error;
  }

  static EVP_PKEY* rsa_;
  static EVP_PKEY* ec256_;
  static EVP_PKEY* ec384_;
};

EVP_PKEY* JwtTest::rsa_ = nullptr;
EVP_PKEY* JwtTest::ec256_ = nullptr;
EVP_PKEY* JwtTest::ec384_ = nullptr;

AuthError ErrorOf(const std::variant<Claims, AuthError>& result) {
  EXPECT_TRUE(std::holds_alternative<AuthError>(result)) << "token was accepted";
  return std::holds_alternative<AuthError>(result) ? std::get<AuthError>(result)
                                                   : AuthError::kMissingToken;
}

void ExpectAccepted(const std::variant<Claims, AuthError>& result, std::string_view sub) {
  ASSERT_TRUE(std::holds_alternative<Claims>(result))
      << "refused: " << Describe(std::get<AuthError>(result));
  EXPECT_EQ(std::get<Claims>(result).sub, sub);
}

// Re-encodes `token` with one byte of its decoded signature flipped.
std::string FlipSignatureByte(const std::string& token) {
  const std::size_t dot = token.rfind('.');
  std::string signature = DecodeB64Url(token.substr(dot + 1));
  signature[signature.size() / 2] ^= 0x01;
  return token.substr(0, dot + 1) + EncodeB64Url(signature);
}

TEST_F(JwtTest, HmacAlgorithmsVerify) {
  const std::pair<Algorithm, const char*> cases[] = {
      {Algorithm::kHS256, "SHA256"}, {Algorithm::kHS384, "SHA384"}, {Algorithm::kHS512, "SHA512"}};
  for (const auto& [algorithm, digest] : cases) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    auto verifier = HsVerifier({algorithm});
    const std::string token =
        MakeToken(Header(AlgorithmName(algorithm)), kPayload, HmacSigner(kSecret, digest));
    const auto result = verifier->Verify(token, kNow);
    ExpectAccepted(result, "user-42");
    EXPECT_EQ(std::get<Claims>(result).exp, 1700000600);
  }
}

TEST_F(JwtTest, RsaAlgorithmsVerify) {
  const std::tuple<Algorithm, const char*, bool> cases[] = {{Algorithm::kRS256, "SHA256", false},
                                                            {Algorithm::kRS384, "SHA384", false},
                                                            {Algorithm::kRS512, "SHA512", false},
                                                            {Algorithm::kPS256, "SHA256", true}};
  for (const auto& [algorithm, digest, pss] : cases) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    auto verifier = PemVerifier(algorithm, rsa_);
    const std::string token =
        MakeToken(Header(AlgorithmName(algorithm)), kPayload, RsaSigner(rsa_, digest, pss));
    ExpectAccepted(verifier->Verify(token, kNow), "user-42");
  }
}

TEST_F(JwtTest, PkcsSignatureIsNotAcceptedAsPss) {
  auto verifier = PemVerifier(Algorithm::kPS256, rsa_);
  const std::string token = MakeToken(Header("PS256"), kPayload, RsaSigner(rsa_, "SHA256", false));
  EXPECT_EQ(ErrorOf(verifier->Verify(token, kNow)), AuthError::kBadSignature);
}

TEST_F(JwtTest, EcdsaAlgorithmsVerify) {
  auto es256 = PemVerifier(Algorithm::kES256, ec256_);
  ExpectAccepted(
      es256->Verify(MakeToken(Header("ES256"), kPayload, EcdsaSigner(ec256_, "SHA256", 32)), kNow),
      "user-42");

  auto es384 = PemVerifier(Algorithm::kES384, ec384_);
  ExpectAccepted(
      es384->Verify(MakeToken(Header("ES384"), kPayload, EcdsaSigner(ec384_, "SHA384", 48)), kNow),
      "user-42");
}

TEST_F(JwtTest, EcdsaDerOrWrongLengthSignatureIsBad) {
  auto verifier = PemVerifier(Algorithm::kES256, ec256_);
  const std::string good = MakeToken(Header("ES256"), kPayload, EcdsaSigner(ec256_, "SHA256", 32));
  const std::size_t dot = good.rfind('.');
  const std::string raw = DecodeB64Url(good.substr(dot + 1));
  const std::string short_sig = good.substr(0, dot + 1) + EncodeB64Url(raw.substr(0, 63));
  EXPECT_EQ(ErrorOf(verifier->Verify(short_sig, kNow)), AuthError::kBadSignature);

  const std::string der = MakeToken(Header("ES256"), kPayload, DerEcdsaSigner(ec256_, "SHA256"));
  EXPECT_EQ(ErrorOf(verifier->Verify(der, kNow)), AuthError::kBadSignature);
}

TEST_F(JwtTest, FlippedSignatureByteIsBadSignature) {
  auto hs = HsVerifier();
  EXPECT_EQ(ErrorOf(hs->Verify(FlipSignatureByte(Hs256(kPayload)), kNow)),
            AuthError::kBadSignature);

  auto rs = PemVerifier(Algorithm::kRS256, rsa_);
  const std::string rs_token =
      MakeToken(Header("RS256"), kPayload, RsaSigner(rsa_, "SHA256", false));
  EXPECT_EQ(ErrorOf(rs->Verify(FlipSignatureByte(rs_token), kNow)), AuthError::kBadSignature);

  auto es = PemVerifier(Algorithm::kES256, ec256_);
  const std::string es_token =
      MakeToken(Header("ES256"), kPayload, EcdsaSigner(ec256_, "SHA256", 32));
  EXPECT_EQ(ErrorOf(es->Verify(FlipSignatureByte(es_token), kNow)), AuthError::kBadSignature);
}

TEST_F(JwtTest, TamperedPayloadIsBadSignature) {
  auto verifier = HsVerifier();
  const std::string token = Hs256(kPayload);
  const std::size_t first = token.find('.');
  const std::size_t second = token.find('.', first + 1);
  const std::string forged = token.substr(0, first + 1) +
                             EncodeB64Url(R"({"sub":"admin","exp":1700000600})") +
                             token.substr(second);
  EXPECT_EQ(ErrorOf(verifier->Verify(forged, kNow)), AuthError::kBadSignature);
}

TEST_F(JwtTest, ExpiredTokenIsRefused) {
  auto verifier = HsVerifier();  // Default leeway 30 s.
  const std::string token = Hs256(R"({"sub":"u","exp":1700000000})");
  EXPECT_EQ(ErrorOf(verifier->Verify(token, kNow + 30)), AuthError::kExpired);
  EXPECT_EQ(ErrorOf(verifier->Verify(token, kNow + 3600)), AuthError::kExpired);
}

TEST_F(JwtTest, ExpWithinLeewayIsAccepted) {
  auto verifier = HsVerifier();
  const std::string token = Hs256(R"({"sub":"u","exp":1700000000})");
  ExpectAccepted(verifier->Verify(token, kNow + 29), "u");
}

TEST_F(JwtTest, FractionalExpIsRoundedDown) {
  auto verifier = HsVerifier();
  const auto result = verifier->Verify(Hs256(R"({"sub":"u","exp":1700000000.9})"), kNow);
  ExpectAccepted(result, "u");
  EXPECT_EQ(std::get<Claims>(result).exp, 1700000000);
}

TEST_F(JwtTest, NbfInFutureIsRefused) {
  auto verifier = HsVerifier();
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u","nbf":1700000031})"), kNow)),
            AuthError::kNotYetValid);
  ExpectAccepted(verifier->Verify(Hs256(R"({"sub":"u","nbf":1700000030})"), kNow), "u");
}

TEST_F(JwtTest, NonNumericTimeClaimsAreMalformed) {
  auto verifier = HsVerifier();
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u","exp":"1700000600"})"), kNow)),
            AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u","nbf":null})"), kNow)),
            AuthError::kMalformed);
}

TEST_F(JwtTest, IssuerIsCheckedOnlyWhenConfigured) {
  VerifierConfig config;
  config.algorithms = {Algorithm::kHS256};
  config.secret = kSecret;
  config.issuer = "https://auth.example";
  auto verifier = MakeVerifier(config);
  ExpectAccepted(verifier->Verify(Hs256(R"({"sub":"u","iss":"https://auth.example"})"), kNow), "u");
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u","iss":"https://evil.example"})"), kNow)),
            AuthError::kWrongIssuer);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u"})"), kNow)), AuthError::kWrongIssuer);

  ExpectAccepted(HsVerifier()->Verify(Hs256(R"({"sub":"u","iss":"anyone"})"), kNow), "u");
}

TEST_F(JwtTest, AudienceMayBeStringOrArray) {
  VerifierConfig config;
  config.algorithms = {Algorithm::kHS256};
  config.secret = kSecret;
  config.audience = "herald";
  auto verifier = MakeVerifier(config);
  ExpectAccepted(verifier->Verify(Hs256(R"({"sub":"u","aud":"herald"})"), kNow), "u");
  ExpectAccepted(verifier->Verify(Hs256(R"({"sub":"u","aud":["other","herald"]})"), kNow), "u");
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u","aud":"other"})"), kNow)),
            AuthError::kWrongAudience);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u","aud":["a","b"]})"), kNow)),
            AuthError::kWrongAudience);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u"})"), kNow)), AuthError::kWrongAudience);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"u","aud":["herald",7]})"), kNow)),
            AuthError::kMalformed);
}

TEST_F(JwtTest, AlgNoneIsAlwaysRefused) {
  auto verifier = HsVerifier();
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    SCOPED_TRACE(alg);
    const std::string token =
        EncodeB64Url(Header(alg)) + "." + EncodeB64Url(R"({"sub":"admin"})") + ".";
    EXPECT_EQ(ErrorOf(verifier->Verify(token, kNow)), AuthError::kAlgorithmNotAllowed);
  }
}

TEST_F(JwtTest, HmacSignedWithRsaPublicKeyIsRefused) {
  auto verifier = PemVerifier(Algorithm::kRS256, rsa_);
  const std::string token =
      MakeToken(Header("HS256"), kPayload, HmacSigner(PublicKeyPem(rsa_), "SHA256"));
  EXPECT_EQ(ErrorOf(verifier->Verify(token, kNow)), AuthError::kAlgorithmNotAllowed);
}

TEST_F(JwtTest, AlgorithmOutsidePinnedListIsRefused) {
  auto verifier = HsVerifier({Algorithm::kHS256});
  const std::string hs384 = MakeToken(Header("HS384"), kPayload, HmacSigner(kSecret, "SHA384"));
  EXPECT_EQ(ErrorOf(verifier->Verify(hs384, kNow)), AuthError::kAlgorithmNotAllowed);

  auto rs = PemVerifier(Algorithm::kRS256, rsa_);
  const std::string ps = MakeToken(Header("PS256"), kPayload, RsaSigner(rsa_, "SHA256", true));
  EXPECT_EQ(ErrorOf(rs->Verify(ps, kNow)), AuthError::kAlgorithmNotAllowed);
  const std::string unknown = MakeToken(Header("EdDSA"), kPayload, HmacSigner(kSecret, "SHA256"));
  EXPECT_EQ(ErrorOf(rs->Verify(unknown, kNow)), AuthError::kAlgorithmNotAllowed);
}

TEST_F(JwtTest, MalformedBase64IsMalformed) {
  auto verifier = HsVerifier();
  const std::string token = Hs256(kPayload);
  const std::size_t dot = token.find('.');
  EXPECT_EQ(ErrorOf(verifier->Verify("*" + token.substr(1), kNow)), AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(token.substr(0, dot) + "=" + token.substr(dot), kNow)),
            AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(token + "+", kNow)), AuthError::kMalformed);
}

TEST_F(JwtTest, NonJsonHeaderIsMalformed) {
  auto verifier = HsVerifier();
  const Signer sign = HmacSigner(kSecret, "SHA256");
  EXPECT_EQ(ErrorOf(verifier->Verify(MakeToken("alg=HS256", kPayload, sign), kNow)),
            AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(MakeToken(R"(["HS256"])", kPayload, sign), kNow)),
            AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(MakeToken(R"({"typ":"JWT"})", kPayload, sign), kNow)),
            AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(MakeToken(R"({"alg":256})", kPayload, sign), kNow)),
            AuthError::kMalformed);
}

TEST_F(JwtTest, RepeatedAlgOrCritHeaderIsMalformed) {
  auto verifier = HsVerifier();
  const Signer sign = HmacSigner(kSecret, "SHA256");
  EXPECT_EQ(
      ErrorOf(verifier->Verify(MakeToken(R"({"alg":"HS256","alg":"none"})", kPayload, sign), kNow)),
      AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(MakeToken(R"({"alg":"HS256","crit":["exp"]})", kPayload, sign),
                                     kNow)),
            AuthError::kMalformed);
}

TEST_F(JwtTest, PayloadArrayIsMalformed) {
  auto verifier = HsVerifier();
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"([{"sub":"u"}])"), kNow)), AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256("not json"), kNow)), AuthError::kMalformed);
}

TEST_F(JwtTest, SubjectMustBeNonEmptyString) {
  auto verifier = HsVerifier();
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"exp":1700000600})"), kNow)),
            AuthError::kMissingSubject);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":""})"), kNow)), AuthError::kMissingSubject);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":42})"), kNow)), AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(Hs256(R"({"sub":"a","sub":"b"})"), kNow)),
            AuthError::kMalformed);
}

TEST_F(JwtTest, TokenMustHaveExactlyThreeParts) {
  auto verifier = HsVerifier();
  const std::string token = Hs256(kPayload);
  EXPECT_EQ(ErrorOf(verifier->Verify(token.substr(0, token.rfind('.')), kNow)),
            AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify(token + ".", kNow)), AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify("abc", kNow)), AuthError::kMalformed);
  EXPECT_EQ(ErrorOf(verifier->Verify("..", kNow)), AuthError::kMalformed);
}

TEST_F(JwtTest, EmptyTokenIsMissingAndHugeTokenIsMalformed) {
  auto verifier = HsVerifier();
  EXPECT_EQ(ErrorOf(verifier->Verify("", kNow)), AuthError::kMissingToken);
  const std::string huge =
      Hs256(R"({"sub":"u","pad":")" + std::string(kMaxTokenBytes, 'x') + R"("})");
  EXPECT_EQ(ErrorOf(verifier->Verify(huge, kNow)), AuthError::kMalformed);
}

TEST_F(JwtTest, CreateRefusesUnusableConfig) {
  VerifierConfig none;
  none.secret = kSecret;
  CreateError(none);

  VerifierConfig hs_without_secret;
  hs_without_secret.algorithms = {Algorithm::kHS256};
  CreateError(hs_without_secret);

  VerifierConfig rs_without_key;
  rs_without_key.algorithms = {Algorithm::kRS256};
  rs_without_key.secret = kSecret;
  CreateError(rs_without_key);

  VerifierConfig garbage_key = rs_without_key;
  garbage_key.public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  CreateError(garbage_key);

  VerifierConfig rs_with_ec_key;
  rs_with_ec_key.algorithms = {Algorithm::kRS256};
  rs_with_ec_key.public_key_pem = PublicKeyPem(ec256_);
  CreateError(rs_with_ec_key);

  VerifierConfig es_with_rsa_key;
  es_with_rsa_key.algorithms = {Algorithm::kES256};
  es_with_rsa_key.public_key_pem = PublicKeyPem(rsa_);
  CreateError(es_with_rsa_key);

  VerifierConfig es256_with_p384 = es_with_rsa_key;
  es256_with_p384.public_key_pem = PublicKeyPem(ec384_);
  EXPECT_NE(CreateError(es256_with_p384).find("P-256"), std::string::npos);

  VerifierConfig short_rsa = rs_with_ec_key;
  short_rsa.public_key_pem = PublicKeyPem(GenerateRsaKey(1024).get());
  CreateError(short_rsa);

  VerifierConfig negative_leeway;
  negative_leeway.algorithms = {Algorithm::kHS256};
  negative_leeway.secret = kSecret;
  negative_leeway.leeway_s = -1;
  CreateError(negative_leeway);
}

TEST_F(JwtTest, MixedFamiliesUseTheirOwnKeys) {
  VerifierConfig config;
  config.algorithms = {Algorithm::kHS256, Algorithm::kES256};
  config.secret = kSecret;
  config.public_key_pem = PublicKeyPem(ec256_);
  auto verifier = MakeVerifier(config);
  ExpectAccepted(verifier->Verify(Hs256(kPayload), kNow), "user-42");
  ExpectAccepted(verifier->Verify(
                     MakeToken(Header("ES256"), kPayload, EcdsaSigner(ec256_, "SHA256", 32)), kNow),
                 "user-42");
}

TEST_F(JwtTest, MintedTokensVerify) {
  VerifierConfig config;
  config.algorithms = {Algorithm::kHS256};
  config.secret = kSecret;
  config.issuer = "herald";
  config.audience = "clients";
  auto verifier = MakeVerifier(config);

  const std::string sub = "quote\" backslash\\ newline\n ünïcode";
  const auto result =
      verifier->Verify(MintHs256(kSecret, sub, kNow, 600, "herald", "clients"), kNow);
  ExpectAccepted(result, sub);
  EXPECT_EQ(std::get<Claims>(result).exp, kNow + 600);

  const auto forever = HsVerifier()->Verify(MintHs256(kSecret, "u", kNow, 0), kNow + 10'000'000);
  ExpectAccepted(forever, "u");
  EXPECT_FALSE(std::get<Claims>(forever).exp.has_value());

  EXPECT_EQ(ErrorOf(HsVerifier()->Verify(MintHs256("other secret", "u", kNow, 60), kNow)),
            AuthError::kBadSignature);
}

TEST_F(JwtTest, VerifyIsThreadSafe) {
  auto hs = HsVerifier();
  auto es = PemVerifier(Algorithm::kES256, ec256_);
  const std::string hs_token = Hs256(kPayload);
  const std::string es_token =
      MakeToken(Header("ES256"), kPayload, EcdsaSigner(ec256_, "SHA256", 32));
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        accepted += std::holds_alternative<Claims>(hs->Verify(hs_token, kNow));
        accepted += std::holds_alternative<Claims>(es->Verify(es_token, kNow));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), 4 * 200 * 2);
}

TEST(AlgorithmTest, NamesRoundTripAndNoneIsUnknown) {
  for (std::size_t i = 0; i < kAlgorithmCount; ++i) {
    const auto algorithm = static_cast<Algorithm>(i);
    EXPECT_EQ(ParseAlgorithm(AlgorithmName(algorithm)), algorithm);
  }
  EXPECT_EQ(ParseAlgorithm("none"), std::nullopt);
  EXPECT_EQ(ParseAlgorithm("NONE"), std::nullopt);
  EXPECT_EQ(ParseAlgorithm("hs256"), std::nullopt);
}

TEST(AuthErrorTest, DescriptionsAndLabelsAreDistinct) {
  const AuthError all[] = {
      AuthError::kMissingToken, AuthError::kMalformed,     AuthError::kAlgorithmNotAllowed,
      AuthError::kBadSignature, AuthError::kExpired,       AuthError::kNotYetValid,
      AuthError::kWrongIssuer,  AuthError::kWrongAudience, AuthError::kMissingSubject};
  std::set<std::string_view> descriptions;
  std::set<std::string_view> labels;
  for (AuthError error : all) {
    descriptions.insert(Describe(error));
    labels.insert(MetricLabel(error));
  }
  EXPECT_EQ(descriptions.size(), std::size(all));
  EXPECT_EQ(labels.size(), std::size(all));
  EXPECT_EQ(Describe(AuthError::kExpired), "token expired");
  EXPECT_EQ(MetricLabel(AuthError::kMissingToken), "missing_token");
}

}  // namespace
}  // namespace herald::auth
