#include <benchmark/benchmark.h>

#include <variant>

#include "auth/jwt.h"
#include "auth/test_signer.h"

namespace herald::auth {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;
constexpr char kSecret[] = "bench-secret-bench-secret-bench-secret";
constexpr char kPayload[] = R"({"sub":"user-42","exp":1700000600,"iss":"herald","aud":"clients"})";

void RunVerify(benchmark::State& state, const JwtVerifier& verifier, const std::string& token) {
  for (auto _ : state) {
    auto result = verifier.Verify(token, kNow);
    if (!std::holds_alternative<Claims>(result)) state.SkipWithError("token refused");
    benchmark::DoNotOptimize(result);
  }
}

std::unique_ptr<JwtVerifier> MustCreate(const VerifierConfig& config) {
  std::string error;
  auto verifier = JwtVerifier::Create(config, &error);
  if (!verifier) std::abort();
  return verifier;
}

void BM_VerifyHs256(benchmark::State& state) {
  VerifierConfig config;
  config.algorithms = {Algorithm::kHS256};
  config.secret = kSecret;
  const auto verifier = MustCreate(config);
  const std::string token = MintHs256(kSecret, "user-42", kNow, 600, "herald", "clients");
  RunVerify(state, *verifier, token);
}
BENCHMARK(BM_VerifyHs256);

void BM_VerifyRs256(benchmark::State& state) {
  const testing::KeyPtr key = testing::GenerateRsaKey(2048);
  VerifierConfig config;
  config.algorithms = {Algorithm::kRS256};
  config.public_key_pem = testing::PublicKeyPem(key.get());
  const auto verifier = MustCreate(config);
  const std::string token = testing::MakeToken(R"({"alg":"RS256","typ":"JWT"})", kPayload,
                                               testing::RsaSigner(key.get(), "SHA256", false));
  RunVerify(state, *verifier, token);
}
BENCHMARK(BM_VerifyRs256);

void BM_VerifyEs256(benchmark::State& state) {
  const testing::KeyPtr key = testing::GenerateEcKey("P-256");
  VerifierConfig config;
  config.algorithms = {Algorithm::kES256};
  config.public_key_pem = testing::PublicKeyPem(key.get());
  const auto verifier = MustCreate(config);
  const std::string token = testing::MakeToken(R"({"alg":"ES256","typ":"JWT"})", kPayload,
                                               testing::EcdsaSigner(key.get(), "SHA256", 32));
  RunVerify(state, *verifier, token);
}
BENCHMARK(BM_VerifyEs256);

}  // namespace
}  // namespace herald::auth
