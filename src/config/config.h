// Herald's configuration: one declarative table (name, default, bounds,
// help) that feeds the TOML file, the environment, the command-line flags
// and --help (STYLE.md habit 10). Precedence: flags > environment > file >
// defaults. The original server's variable names (PORT, API_VERSION,
// AUTH_SECRET, AUTH_ALGORITHMS, AUTH_ISSUER, NATS_URL) are honoured.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace CLI {
class App;
}

namespace herald::config {

struct Config {
  // Network.
  std::string host = "0.0.0.0";
  std::int64_t port = 3000;
  std::string api_version = "v4";
  std::int64_t threads = 0;  // 0 = one per core
  std::string data_dir = "./herald-data";

  // Authentication.
  std::string auth_secret;
  std::string auth_public_key;  // path of a PEM file
  std::string auth_algorithms;  // comma-separated; empty = HS256 or the key's family
  std::string auth_issuer;
  std::string auth_audience;
  std::int64_t auth_leeway_s = 30;

  // Publishing.
  std::string publish_key;
  std::string publish_path = "/publish";
  std::int64_t max_publish_bytes = 1 << 20;

  // Per-connection limits (DESIGN.md section 1).
  std::int64_t max_frame_bytes = 4096;
  std::int64_t max_subscriptions = 512;
  std::int64_t command_rate = 100;
  std::int64_t command_burst = 200;
  std::int64_t rate_abuse_limit = 100;
  std::int64_t max_queue_bytes = 4 << 20;
  std::int64_t max_connections_per_user = 32;
  std::int64_t ping_interval_ms = 30000;
  std::int64_t ping_timeout_ms = 10000;
  std::int64_t max_request_header_bytes = 16384;

  // Visibility.
  std::int64_t tombstone_grace_ms = 5 * 60 * 1000;
  bool deliver_uncovered = false;

  // Operations.
  std::string log_level = "info";
  bool log_json = false;
  std::string nats_url;
};

// One row of the table.
struct Option {
  std::string_view name;  // snake_case: TOML key; flag is --kebab-case
  std::vector<std::string_view> env;
  std::variant<std::string Config::*, std::int64_t Config::*, bool Config::*> field;
  std::int64_t min = 0;  // bounds for integers
  std::int64_t max = 0;
  std::string_view help;
  bool secret = false;  // never printed
};

const std::vector<Option>& Options();

// Collects raw flag values while CLI11 parses; Resolve() applies them.
struct FlagValues {
  std::string config_file;
  std::map<std::string_view, std::string> values;
};

// Registers --config and one flag per option on app.
void AddFlags(CLI::App& app, FlagValues& flags);

// Builds the configuration from defaults, file, environment and flags, in
// that order. Returns false with *error set on a bad value or file.
bool Resolve(const FlagValues& flags, Config* config, std::string* error);

// The table as a Markdown document (docs/CONFIGURATION.md is its output).
std::string OptionsMarkdown();

// Sets one option from text (as the environment or a flag gives it).
bool SetFromText(const Option& option, std::string_view text, Config* config, std::string* error);

}  // namespace herald::config
