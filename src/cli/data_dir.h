// The data directory: generated secrets shared by every subcommand.
#pragma once

#include <string>

#include "config/config.h"

namespace herald::cli {

// Fills config->auth_secret and config->publish_key from the data directory
// when they are not configured. With create, missing files are generated
// (random, mode 0600) and the directory is made; without it, a missing file
// is an error that tells the user to start `herald serve` once.
bool LoadSecrets(config::Config* config, bool create, std::string* error);

// Where the client subcommands connect: the configured host, with a
// wildcard address replaced by loopback.
std::string ClientHost(const config::Config& config);

// Parses "90", "90s", "15m", "1h", "2d" into seconds; false if malformed.
bool ParseDuration(std::string_view text, std::int64_t* seconds);

}  // namespace herald::cli
