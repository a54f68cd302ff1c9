#include "config/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdlib>

namespace herald::config {
namespace {

using C = Config;

std::string Kebab(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c == '_') c = '-';
  }
  return out;
}

std::string HeraldEnv(std::string_view name) {
  std::string out = "HERALD_";
  for (char c : name) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool ParseBool(std::string_view text, bool* out) {
  if (text == "1" || text == "true" || text == "yes" || text == "on") {
    *out = true;
    return true;
  }
  if (text == "0" || text == "false" || text == "no" || text == "off") {
    *out = false;
    return true;
  }
  return false;
}

bool ApplyFile(const std::string& path, Config* config, std::string* error) {
  // Note: Debian's toml++ is built with exceptions, so parse errors throw.
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    *error = "config file " + path + ": " + std::string(e.description());
    return false;
  }
  for (auto&& [key, node] : table) {
    const Option* option = nullptr;
    for (const Option& o : Options()) {
      if (o.name == key.str()) option = &o;
    }
    if (!option) {
      *error = "config file " + path + ": unknown key '" + std::string(key.str()) + "'";
      return false;
    }
    std::string text;
    if (auto s = node.value<std::string>()) {
      text = *s;
    } else if (auto i = node.value<std::int64_t>()) {
      text = std::to_string(*i);
    } else if (auto b = node.value<bool>()) {
      text = *b ? "true" : "false";
    } else {
      *error = "config file " + path + ": '" + std::string(key.str()) + "' has an unsupported type";
      return false;
    }
    if (!SetFromText(*option, text, config, error)) return false;
  }
  return true;
}

}  // namespace

// The table. Every limit says why it has its default.
const std::vector<Option>& Options() {
  static const std::vector<Option> kOptions = {
      {"host", {}, &C::host, 0, 0, "address to listen on"},
      {"port", {"PORT"}, &C::port, 0, 65535, "port for WebSocket clients, publishing and /metrics"},
      {"api_version",
       {"API_VERSION"},
       &C::api_version,
       0,
       0,
       "version segment of the endpoint path /ws/<version>/events"},
      {"threads",
       {},
       &C::threads,
       0,
       1024,
       "shard threads, each with its own listener and connections (0 = one per core)"},
      {"data_dir",
       {},
       &C::data_dir,
       0,
       0,
       "directory for the generated secret, publisher key and membership database"},
      {"auth_secret",
       {"AUTH_SECRET"},
       &C::auth_secret,
       0,
       0,
       "HMAC secret for HS256/384/512 tokens (default: generated in the data directory)",
       true},
      {"auth_public_key",
       {},
       &C::auth_public_key,
       0,
       0,
       "PEM public key file for RS256/384/512, PS256, ES256/384 tokens"},
      {"auth_algorithms",
       {"AUTH_ALGORITHMS"},
       &C::auth_algorithms,
       0,
       0,
       "comma-separated accepted algorithms (default: HS256, or RS256 with a public key)"},
      {"auth_issuer", {"AUTH_ISSUER"}, &C::auth_issuer, 0, 0, "required iss claim (empty: any)"},
      {"auth_audience",
       {"AUTH_AUDIENCE"},
       &C::auth_audience,
       0,
       0,
       "required aud claim (empty: any)"},
      {"auth_leeway_s",
       {},
       &C::auth_leeway_s,
       0,
       3600,
       "seconds of clock skew allowed on exp and nbf"},
      {"publish_key",
       {},
       &C::publish_key,
       0,
       0,
       "bearer key for POST /publish (default: generated in the data directory)",
       true},
      {"publish_path", {}, &C::publish_path, 0, 0, "HTTP path of the publish endpoint"},
      {"max_publish_bytes",
       {},
       &C::max_publish_bytes,
       1024,
       64 << 20,
       "largest publish request body; 1 MiB fits a batch of hundreds of events"},
      {"max_frame_bytes",
       {},
       &C::max_frame_bytes,
       64,
       1 << 20,
       "largest inbound WebSocket message; commands are tiny, 4 KiB leaves room"},
      {"max_subscriptions",
       {},
       &C::max_subscriptions,
       1,
       1 << 20,
       "patterns per connection; an STP client needs a few dozen"},
      {"command_rate", {}, &C::command_rate, 1, 1000000, "commands per second per connection"},
      {"command_burst",
       {},
       &C::command_burst,
       1,
       1000000,
       "commands a connection may send at once (a client subscribing at start)"},
      {"rate_abuse_limit",
       {},
       &C::rate_abuse_limit,
       1,
       1000000,
       "rate-limited commands in a row before the connection is closed with 1008"},
      {"max_queue_bytes",
       {},
       &C::max_queue_bytes,
       4096,
       1LL << 32,
       "outbound bytes queued per connection before it is closed with 1013 (slow consumer)"},
      {"max_connections_per_user",
       {},
       &C::max_connections_per_user,
       1,
       1000000,
       "connections one user may hold (tabs, devices)"},
      {"ping_interval_ms",
       {},
       &C::ping_interval_ms,
       100,
       3600000,
       "idle time before the server pings a connection"},
      {"ping_timeout_ms",
       {},
       &C::ping_timeout_ms,
       100,
       3600000,
       "time a pinged connection has to answer before it is dropped"},
      {"max_request_header_bytes",
       {},
       &C::max_request_header_bytes,
       1024,
       1 << 20,
       "largest HTTP request header, checked before any token work"},
      {"tombstone_grace_ms",
       {},
       &C::tombstone_grace_ms,
       0,
       86400000,
       "how long deleted trainers and encounters still resolve cascaded events"},
      {"deliver_uncovered",
       {},
       &C::deliver_uncovered,
       0,
       0,
       "deliver events that no visibility rule covers to everyone, except in families with a "
       "restricted rule (groups, regions, trainers, encounters); default: drop them"},
      {"log_level", {}, &C::log_level, 0, 0, "trace, debug, info, warn, error"},
      {"log_json", {}, &C::log_json, 0, 0, "write logs as JSON lines"},
      {"nats_url", {"NATS_URL"}, &C::nats_url, 0, 0, "NATS server for cluster mode (not yet)"},
  };
  return kOptions;
}

bool SetFromText(const Option& option, std::string_view text, Config* config, std::string* error) {
  auto fail = [&](std::string_view why) {
    *error = "invalid " + std::string(option.name) + " '" +
             (option.secret ? std::string("***") : std::string(text)) + "': " + std::string(why);
    return false;
  };
  if (auto* s = std::get_if<std::string Config::*>(&option.field)) {
    config->** s = std::string(text);
    return true;
  }
  if (auto* b = std::get_if<bool Config::*>(&option.field)) {
    return ParseBool(text, &(config->**b)) || fail("expected true or false");
  }
  auto* i = std::get_if<std::int64_t Config::*>(&option.field);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return fail("expected an integer");
  if (value < option.min || value > option.max) {
    return fail("must be between " + std::to_string(option.min) + " and " +
                std::to_string(option.max));
  }
  config->** i = value;
  return true;
}

std::string OptionsMarkdown() {
  Config defaults;
  std::string out =
      "# Configuration\n\n"
      "Generated by `herald config-doc` from the table in src/config/config.cc; a test\n"
      "keeps this file in sync. Precedence: flags > environment > TOML file\n"
      "(`--config FILE` or `HERALD_CONFIG`, keys as in the first column) > defaults.\n\n"
      "| key / flag | environment | default | meaning |\n|---|---|---|---|\n";
  for (const Option& option : Options()) {
    std::string env = HeraldEnv(option.name);
    for (std::string_view alias : option.env) env += ", " + std::string(alias);
    std::string value;
    if (auto* s = std::get_if<std::string Config::*>(&option.field)) value = defaults.**s;
    if (auto* i = std::get_if<std::int64_t Config::*>(&option.field)) {
      value = std::to_string(defaults.**i);
    }
    if (auto* b = std::get_if<bool Config::*>(&option.field)) {
      value = defaults.**b ? "true" : "false";
    }
    if (value.empty()) value = option.secret ? "generated" : "(empty)";
    out += "| `" + std::string(option.name) + "` / `--" + Kebab(option.name) + "` | " + env +
           " | " + value + " | " + std::string(option.help) + " |\n";
  }
  return out;
}

void AddFlags(CLI::App& app, FlagValues& flags) {
  app.add_option("--config", flags.config_file, "TOML configuration file (env HERALD_CONFIG)");
  for (const Option& option : Options()) {
    std::string env = HeraldEnv(option.name);
    for (std::string_view alias : option.env) env += ", " + std::string(alias);
    app.add_option_function<std::string>(
           "--" + Kebab(option.name),
           [&flags, name = option.name](const std::string& v) { flags.values[name] = v; },
           std::string(option.help) + " (env " + env + ")")
        ->group("Configuration");
  }
}

bool Resolve(const FlagValues& flags, Config* config, std::string* error) {
  std::string file = flags.config_file;
  if (file.empty()) {
    if (const char* env = std::getenv("HERALD_CONFIG")) file = env;
  }
  if (!file.empty() && !ApplyFile(file, config, error)) return false;

  for (const Option& option : Options()) {
    std::vector<std::string> names = {HeraldEnv(option.name)};
    names.insert(names.end(), option.env.begin(), option.env.end());
    for (const std::string& name : names) {
      const char* value = std::getenv(name.c_str());
      if (!value) continue;
      if (!SetFromText(option, value, config, error)) return false;
      break;  // HERALD_* wins over the original server's alias
    }
  }
  for (const auto& [name, value] : flags.values) {
    for (const Option& option : Options()) {
      if (option.name == name && !SetFromText(option, value, config, error)) return false;
    }
  }
  return true;
}

}  // namespace herald::config
