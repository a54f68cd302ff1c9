// The HTTP side of a shard: accepts sockets, serves /publish, /healthz,
// /readyz and /metrics, and upgrades the WebSocket endpoint.
//
// Owner: one Listener per shard, running on that shard's io_context with its
// own SO_REUSEPORT socket, so the kernel spreads connections over shards.
// This is the only place (with the CLI clients) that includes Beast.
#pragma once

#include <memory>
#include <string>

#include "ingress/server_context.h"

namespace herald::ingress {

class Listener {
 public:
  Listener(fanout::Shard& shard, ServerContext& context);
  ~Listener();

  // Binds and listens; false with *error on failure (port in use, ...).
  bool Open(std::string* error);
  void Start();
  // Stops accepting (shutdown); runs on the shard thread.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::ingress
