#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace herald::config {
namespace {

using ::testing::HasSubstr;

// Every environment variable Resolve() reads.
std::vector<std::string> AllEnvNames() {
  std::vector<std::string> names = {"HERALD_CONFIG"};
  for (const Option& option : Options()) {
    std::string name = "HERALD_";
    for (char c : option.name)
      name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    names.push_back(name);
    for (std::string_view alias : option.env) names.emplace_back(alias);
  }
  return names;
}

// Clears every variable Resolve() reads for the test and puts the previous
// values back afterwards, so tests neither see nor leak the environment.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& name : AllEnvNames()) {
      const char* value = std::getenv(name.c_str());
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      unsetenv(name.c_str());
    }
  }

  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
    for (const std::string& path : files_) std::remove(path.c_str());
  }

  // Parses args as `herald <args>` would be and resolves the configuration.
  bool Load(std::vector<std::string> args, Config* config, std::string* error) {
    CLI::App app("herald test");
    FlagValues flags;
    AddFlags(app, flags);
    std::vector<const char*> argv = {"herald"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return Resolve(flags, config, error);
  }

  // Loads and expects success.
  Config LoadOk(std::vector<std::string> args = {}) {
    Config config;
    std::string error;
    EXPECT_TRUE(Load(std::move(args), &config, &error)) << error;
    return config;
  }

  // Loads and expects failure; returns the error.
  std::string LoadError(std::vector<std::string> args = {}) {
    Config config;
    std::string error;
    EXPECT_FALSE(Load(std::move(args), &config, &error));
    return error;
  }

  // Writes a TOML file that is removed after the test.
  std::string WriteToml(const std::string& text) {
    std::string path = ::testing::TempDir() + "herald_config_test_" + std::to_string(getpid()) +
                       "_" + std::to_string(files_.size()) + ".toml";
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
  std::vector<std::string> files_;
};

TEST_F(ConfigTest, DefaultsWhenNothingIsSet) {
  Config config = LoadOk();
  EXPECT_EQ(config.host, "0.0.0.0");
  EXPECT_EQ(config.port, 3000);
  EXPECT_EQ(config.api_version, "v4");
  EXPECT_EQ(config.threads, 0);
  EXPECT_EQ(config.auth_secret, "");
  EXPECT_EQ(config.auth_leeway_s, 30);
  EXPECT_EQ(config.publish_path, "/publish");
  EXPECT_EQ(config.max_publish_bytes, 1 << 20);
  EXPECT_EQ(config.max_frame_bytes, 4096);
  EXPECT_EQ(config.max_subscriptions, 512);
  EXPECT_EQ(config.command_rate, 100);
  EXPECT_EQ(config.command_burst, 200);
  EXPECT_EQ(config.max_queue_bytes, 4 << 20);
  EXPECT_EQ(config.max_connections_per_user, 32);
  EXPECT_EQ(config.ping_interval_ms, 30000);
  EXPECT_EQ(config.tombstone_grace_ms, 5 * 60 * 1000);
  EXPECT_FALSE(config.deliver_uncovered);
  EXPECT_EQ(config.log_level, "info");
  EXPECT_FALSE(config.log_json);
}

TEST_F(ConfigTest, EveryOptionIsNamedOnceWithHelpAndADefaultInBounds) {
  Config defaults;
  std::set<std::string_view> names;
  for (const Option& option : Options()) {
    EXPECT_TRUE(names.insert(option.name).second) << option.name;
    EXPECT_FALSE(option.help.empty()) << option.name;
    if (auto* field = std::get_if<std::int64_t Config::*>(&option.field)) {
      EXPECT_LE(option.min, defaults.**field) << option.name;
      EXPECT_GE(option.max, defaults.**field) << option.name;
    }
  }
}

TEST_F(ConfigTest, HeraldEnvironmentVariablesSetOptions) {
  setenv("HERALD_PORT", "4001", 1);
  setenv("HERALD_API_VERSION", "v9", 1);
  setenv("HERALD_MAX_FRAME_BYTES", "8192", 1);
  setenv("HERALD_LOG_JSON", "yes", 1);
  setenv("HERALD_DELIVER_UNCOVERED", "1", 1);
  Config config = LoadOk();
  EXPECT_EQ(config.port, 4001);
  EXPECT_EQ(config.api_version, "v9");
  EXPECT_EQ(config.max_frame_bytes, 8192);
  EXPECT_TRUE(config.log_json);
  EXPECT_TRUE(config.deliver_uncovered);
}

TEST_F(ConfigTest, OriginalServerVariablesAreHonoured) {
  setenv("PORT", "4002", 1);
  setenv("API_VERSION", "v3", 1);
  setenv("AUTH_SECRET", "s3cret", 1);
  setenv("AUTH_ALGORITHMS", "HS256,HS512", 1);
  setenv("AUTH_ISSUER", "stp", 1);
  setenv("AUTH_AUDIENCE", "clients", 1);
  setenv("NATS_URL", "nats://localhost:4222", 1);
  Config config = LoadOk();
  EXPECT_EQ(config.port, 4002);
  EXPECT_EQ(config.api_version, "v3");
  EXPECT_EQ(config.auth_secret, "s3cret");
  EXPECT_EQ(config.auth_algorithms, "HS256,HS512");
  EXPECT_EQ(config.auth_issuer, "stp");
  EXPECT_EQ(config.auth_audience, "clients");
  EXPECT_EQ(config.nats_url, "nats://localhost:4222");
}

TEST_F(ConfigTest, HeraldVariableWinsOverTheOriginalAlias) {
  setenv("PORT", "4002", 1);
  setenv("HERALD_PORT", "4003", 1);
  setenv("AUTH_SECRET", "alias", 1);
  setenv("HERALD_AUTH_SECRET", "herald", 1);
  Config config = LoadOk();
  EXPECT_EQ(config.port, 4003);
  EXPECT_EQ(config.auth_secret, "herald");
}

TEST_F(ConfigTest, InvalidAliasIsIgnoredWhenTheHeraldVariableWins) {
  setenv("PORT", "not-a-port", 1);
  setenv("HERALD_PORT", "4003", 1);
  EXPECT_EQ(LoadOk().port, 4003);
}

TEST_F(ConfigTest, FlagsWinOverEnvironment) {
  setenv("HERALD_PORT", "4001", 1);
  setenv("PORT", "4002", 1);
  setenv("AUTH_ISSUER", "env-issuer", 1);
  Config config = LoadOk({"--port", "5000", "--auth-issuer=flag-issuer"});
  EXPECT_EQ(config.port, 5000);
  EXPECT_EQ(config.auth_issuer, "flag-issuer");
}

TEST_F(ConfigTest, FlagsUseKebabCaseNames) {
  Config config = LoadOk({"--max-frame-bytes", "65536", "--ping-interval-ms", "1000",
                          "--deliver-uncovered", "true", "--data-dir", "/tmp/x"});
  EXPECT_EQ(config.max_frame_bytes, 65536);
  EXPECT_EQ(config.ping_interval_ms, 1000);
  EXPECT_TRUE(config.deliver_uncovered);
  EXPECT_EQ(config.data_dir, "/tmp/x");
}

TEST_F(ConfigTest, HelpNamesTheEnvironmentVariablesOfEachFlag) {
  CLI::App app("herald test");
  FlagValues flags;
  AddFlags(app, flags);
  std::string help = app.help();
  EXPECT_THAT(help, HasSubstr("--port"));
  EXPECT_THAT(help, HasSubstr("HERALD_PORT, PORT"));
  EXPECT_THAT(help, HasSubstr("HERALD_AUTH_SECRET, AUTH_SECRET"));
  EXPECT_THAT(help, HasSubstr("--max-queue-bytes"));
}

TEST_F(ConfigTest, TomlFileSetsOptions) {
  std::string path = WriteToml(
      "port = 4100\n"
      "api_version = \"v5\"\n"
      "log_json = true\n"
      "auth_leeway_s = 10\n"
      "deliver_uncovered = \"on\"\n");
  Config config = LoadOk({"--config", path});
  EXPECT_EQ(config.port, 4100);
  EXPECT_EQ(config.api_version, "v5");
  EXPECT_TRUE(config.log_json);
  EXPECT_EQ(config.auth_leeway_s, 10);
  EXPECT_TRUE(config.deliver_uncovered);
  EXPECT_EQ(config.max_frame_bytes, 4096);  // untouched options keep defaults
}

TEST_F(ConfigTest, ConfigFileCanComeFromTheEnvironment) {
  setenv("HERALD_CONFIG", WriteToml("port = 4200\n").c_str(), 1);
  EXPECT_EQ(LoadOk().port, 4200);
}

TEST_F(ConfigTest, EnvironmentAndFlagsWinOverTheFile) {
  std::string path = WriteToml("port = 4100\napi_version = \"v5\"\nhost = \"127.0.0.1\"\n");
  setenv("PORT", "4300", 1);
  setenv("HERALD_API_VERSION", "v6", 1);
  Config config = LoadOk({"--config", path, "--api-version", "v7"});
  EXPECT_EQ(config.port, 4300);
  EXPECT_EQ(config.api_version, "v7");
  EXPECT_EQ(config.host, "127.0.0.1");
}

TEST_F(ConfigTest, UnknownTomlKeyIsAnError) {
  std::string path = WriteToml("port = 4100\nmax_frame_size = 10\n");
  std::string error = LoadError({"--config", path});
  EXPECT_THAT(error, HasSubstr("unknown key 'max_frame_size'"));
  EXPECT_THAT(error, HasSubstr(path));
}

TEST_F(ConfigTest, TomlSyntaxErrorIsAnError) {
  std::string path = WriteToml("port = = 4100\n");
  EXPECT_THAT(LoadError({"--config", path}), HasSubstr("config file " + path));
}

TEST_F(ConfigTest, MissingConfigFileIsAnError) {
  std::string path = ::testing::TempDir() + "herald_config_test_does_not_exist.toml";
  EXPECT_THAT(LoadError({"--config", path}), HasSubstr(path));
}

TEST_F(ConfigTest, TomlValueOfUnsupportedTypeIsAnError) {
  EXPECT_THAT(LoadError({"--config", WriteToml("command_rate = 1.5\n")}),
              HasSubstr("'command_rate' has an unsupported type"));
  EXPECT_THAT(LoadError({"--config", WriteToml("port = [1, 2]\n")}),
              HasSubstr("'port' has an unsupported type"));
}

TEST_F(ConfigTest, OutOfRangeValuesNameTheBounds) {
  EXPECT_EQ(LoadError({"--port", "70000"}), "invalid port '70000': must be between 0 and 65535");
  EXPECT_EQ(LoadError({"--max-frame-bytes", "10"}),
            "invalid max_frame_bytes '10': must be between 64 and 1048576");
  EXPECT_THAT(LoadError({"--command-rate", "0"}), HasSubstr("must be between 1 and"));

  setenv("HERALD_THREADS", "-1", 1);
  EXPECT_EQ(LoadError(), "invalid threads '-1': must be between 0 and 1024");
}

TEST_F(ConfigTest, OutOfRangeValueInTheFileIsAnError) {
  EXPECT_EQ(LoadError({"--config", WriteToml("max_subscriptions = 0\n")}),
            "invalid max_subscriptions '0': must be between 1 and 1048576");
}

TEST_F(ConfigTest, NonIntegerValuesAreErrors) {
  for (std::string bad : {"abc", "12abc", "", " 80", "80 ", "1e3", "3000.0"}) {
    EXPECT_EQ(LoadError({"--port", bad}), "invalid port '" + bad + "': expected an integer") << bad;
  }
  setenv("PORT", "http", 1);
  EXPECT_EQ(LoadError(), "invalid port 'http': expected an integer");
}

TEST_F(ConfigTest, NonBooleanValuesAreErrors) {
  EXPECT_EQ(LoadError({"--log-json", "maybe"}), "invalid log_json 'maybe': expected true or false");
  EXPECT_THAT(LoadError({"--config", WriteToml("log_json = 2\n")}),
              HasSubstr("expected true or false"));
}

TEST_F(ConfigTest, BooleanSpellings) {
  for (std::string yes : {"1", "true", "yes", "on"}) {
    EXPECT_TRUE(LoadOk({"--log-json", yes}).log_json) << yes;
  }
  for (std::string no : {"0", "false", "no", "off"}) {
    EXPECT_FALSE(LoadOk({"--log-json", no}).log_json) << no;
  }
}

TEST_F(ConfigTest, IntegerBoundsAreInclusive) {
  EXPECT_EQ(LoadOk({"--port", "0"}).port, 0);
  EXPECT_EQ(LoadOk({"--port", "65535"}).port, 65535);
  EXPECT_EQ(LoadOk({"--max-queue-bytes", "4294967296"}).max_queue_bytes, 1LL << 32);
}

}  // namespace
}  // namespace herald::config
