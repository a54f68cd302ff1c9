// `herald serve`: the server itself.
#pragma once

#include <string>

#include "config/config.h"

namespace herald::cli {

// Runs until SIGINT/SIGTERM; returns the process exit code. `program` is how
// the user invoked herald (argv[0]), for the commands the welcome text shows.
int Serve(config::Config config, const std::string& program);

}  // namespace herald::cli
