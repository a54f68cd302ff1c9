// The client subcommands: `token`, `publish`, `subscribe`.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace herald::cli {

struct TokenArgs {
  std::string sub;
  std::string ttl = "1h";
};

struct PublishArgs {
  std::string event;
  std::string data;   // JSON text; empty = no data
  std::string users;  // comma-separated user IDs; empty = rules decide
};

struct SubscribeArgs {
  std::vector<std::string> patterns;
  std::string sub = "herald-cli";
  std::string token;  // instead of minting one with the local secret
};

int Token(config::Config config, const TokenArgs& args);
int Publish(config::Config config, const PublishArgs& args);
int Subscribe(config::Config config, const SubscribeArgs& args);

}  // namespace herald::cli
