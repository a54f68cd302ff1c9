// `herald serve`: the server itself.
#pragma once

#include "config/config.h"

namespace herald::cli {

// Runs until SIGINT/SIGTERM; returns the process exit code.
int Serve(config::Config config);

}  // namespace herald::cli
