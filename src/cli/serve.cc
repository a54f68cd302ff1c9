#include "cli/serve.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "auth/jwt.h"
#include "cli/data_dir.h"
#include "fanout/router.h"
#include "fanout/shard.h"
#include "ingress/http_server.h"
#include "membership/store.h"

namespace herald::cli {
namespace {

using Clock = std::chrono::steady_clock;

session::SessionLimits LimitsFrom(const config::Config& c) {
  session::SessionLimits limits;
  limits.max_message_bytes = static_cast<std::size_t>(c.max_frame_bytes);
  limits.max_subscriptions = static_cast<std::size_t>(c.max_subscriptions);
  limits.commands_per_s = static_cast<double>(c.command_rate);
  limits.command_burst = static_cast<double>(c.command_burst);
  limits.rate_abuse_limit = static_cast<int>(c.rate_abuse_limit);
  limits.max_queue_bytes = static_cast<std::size_t>(c.max_queue_bytes);
  limits.ping_interval = std::chrono::milliseconds(c.ping_interval_ms);
  limits.ping_timeout = std::chrono::milliseconds(c.ping_timeout_ms);
  return limits;
}

bool ReadFile(const std::string& path, std::string* text, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return true;
}

std::unique_ptr<auth::JwtVerifier> MakeVerifier(const config::Config& c, std::string* error) {
  auth::VerifierConfig vc;
  vc.secret = c.auth_secret;
  vc.leeway_s = c.auth_leeway_s;
  vc.issuer = c.auth_issuer;
  vc.audience = c.auth_audience;
  if (!c.auth_public_key.empty() && !ReadFile(c.auth_public_key, &vc.public_key_pem, error)) {
    return nullptr;
  }
  std::string names = c.auth_algorithms;
  if (names.empty()) names = c.auth_public_key.empty() ? "HS256" : "RS256";
  std::stringstream list(names);
  for (std::string name; std::getline(list, name, ',');) {
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    auto algorithm = auth::ParseAlgorithm(name);
    if (!algorithm) {
      *error = "unsupported algorithm '" + name + "' in auth_algorithms";
      return nullptr;
    }
    vc.algorithms.push_back(*algorithm);
  }
  return auth::JwtVerifier::Create(vc, error);
}

// Logs go to stderr, as a service manager expects; stdout carries only the
// welcome text.
void ConfigureLogging(const config::Config& c) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("herald"));
  spdlog::set_level(spdlog::level::from_str(c.log_level));
  if (c.log_json) {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
}

void PrintWelcome(const config::Config& c, const std::string& program, const std::string& endpoint,
                  bool generated) {
  std::string host = ClientHost(c);
  std::string port = std::to_string(c.port);
  spdlog::info("herald listening on ws://{}:{}{} threads={}", c.host, port, endpoint, c.threads);
  if (!generated) return;
  std::printf(
      "\nHerald is running on its embedded defaults. Secrets are in %s.\n"
      "  token:      %s token --sub <userId>\n"
      "  listen:     %s subscribe 'users.*.*' --sub <userId>\n"
      "  publish:    %s publish users.507f191e810c19729de860ea.created '{\"name\":\"Alice\"}'\n"
      "  WebSocket:  ws://%s:%s%s?authToken=<token>\n"
      "  HTTP:       curl -H \"Authorization: Bearer $(cat %s/publish-key)\" \\\n"
      "                -d '{\"event\":\"users.1.created\",\"data\":{}}' http://%s:%s%s\n\n",
      c.data_dir.c_str(), program.c_str(), program.c_str(), program.c_str(), host.c_str(),
      port.c_str(), endpoint.c_str(), c.data_dir.c_str(), host.c_str(), port.c_str(),
      c.publish_path.c_str());
  std::fflush(stdout);
}

// Owns everything `serve` builds, in dependency order.
class Server {
 public:
  explicit Server(config::Config config) : config_(std::move(config)) {}

  bool Init(std::string* error) {
    if (config_.threads == 0) config_.threads = std::max(1u, std::thread::hardware_concurrency());
    verifier_ = MakeVerifier(config_, error);
    if (!verifier_) return false;

    std::string db = (std::filesystem::path(config_.data_dir) / "membership.db").string();
    store_ = membership::Store::Open(db, error);
    if (!store_) return false;
    membership::IndexOptions options;
    options.tombstone_grace_ms = config_.tombstone_grace_ms;
    options.deliver_uncovered_to_everyone = config_.deliver_uncovered;
    index_ = std::make_unique<membership::MembershipIndex>(options, store_.get());

    limits_ = LimitsFrom(config_);
    user_limiter_ =
        std::make_unique<fanout::UserLimiter>(static_cast<int>(config_.max_connections_per_user));
    std::vector<fanout::Shard*> shard_ptrs;
    for (int i = 0; i < config_.threads; ++i) {
      shards_.push_back(std::make_unique<fanout::Shard>(i, limits_, *user_limiter_));
      shard_ptrs.push_back(shards_.back().get());
    }
    router_ = std::make_unique<fanout::Router>(shard_ptrs, *index_);

    context_.config = &config_;
    context_.endpoint_path = "/ws/" + config_.api_version + "/events";
    context_.verifier = verifier_.get();
    context_.router = router_.get();
    context_.shards = shard_ptrs;
    for (auto& shard : shards_) {
      listeners_.push_back(std::make_unique<ingress::Listener>(*shard, context_));
      if (!listeners_.back()->Open(error)) return false;
    }
    return true;
  }

  const std::string& endpoint() const { return context_.endpoint_path; }
  const config::Config& config() const { return config_; }

  // Runs every shard on its own thread (shard 0 on this one) until shutdown.
  void Run() {
    asio::signal_set signals(shards_[0]->io(), SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (!ec) Shutdown(signal);
    });
    for (auto& listener : listeners_) listener->Start();
    context_.ready = true;
    retry_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->io());
    ArmMembershipRetry();

    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < shards_.size(); ++i) {
      threads.emplace_back([shard = shards_[i].get()] { shard->io().run(); });
    }
    shards_[0]->io().run();
    for (auto& thread : threads) thread.join();
    if (!store_->RetryUnsaved()) {
      spdlog::error(
          "{} membership change(s) could not be saved ({}); the next start will not "
          "know them",
          store_->unsaved(), store_->last_error());
    }
    spdlog::info("herald stopped");
  }

 private:
  // Stops accepting, sends close 1001 to every client, and stops the shards
  // once all sessions have ended or the close timeout has passed.
  void Shutdown(int signal) {
    spdlog::info("shutting down signal={}", signal);
    context_.ready = false;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      asio::post(shards_[i]->io(), [this, i] {
        listeners_[i]->Stop();
        shards_[i]->CloseAll(protocol::CloseCode::kGoingAway, "server shutdown");
      });
    }
    shutdown_deadline_ = Clock::now() + limits_.close_timeout + std::chrono::milliseconds(500);
    shutdown_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->io());
    WaitForSessions();
  }

  // Membership writes that failed are retried every second, so that the
  // database catches up without waiting for events.
  void ArmMembershipRetry() {
    retry_timer_->expires_after(std::chrono::seconds(1));
    retry_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      router_->RetryUnsavedMemberships();
      ArmMembershipRetry();
    });
  }

  void WaitForSessions() {
    shutdown_timer_->expires_after(std::chrono::milliseconds(50));
    shutdown_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      std::int64_t open = 0;
      for (auto& shard : shards_) open += shard->stats().connections.load();
      if (open > 0 && Clock::now() < shutdown_deadline_) return WaitForSessions();
      for (auto& shard : shards_) shard->io().stop();
    });
  }

  config::Config config_;
  std::unique_ptr<auth::JwtVerifier> verifier_;
  std::unique_ptr<membership::Store> store_;
  std::unique_ptr<membership::MembershipIndex> index_;
  session::SessionLimits limits_;
  std::unique_ptr<fanout::UserLimiter> user_limiter_;
  std::vector<std::unique_ptr<fanout::Shard>> shards_;
  std::unique_ptr<fanout::Router> router_;
  ingress::ServerContext context_;
  std::vector<std::unique_ptr<ingress::Listener>> listeners_;
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::unique_ptr<asio::steady_timer> retry_timer_;
  Clock::time_point shutdown_deadline_;
};

}  // namespace

int Serve(config::Config config, const std::string& program) {
  ConfigureLogging(config);
  bool generated = config.auth_secret.empty() && config.auth_public_key.empty();
  std::string error;
  if (!LoadSecrets(&config, /*create=*/true, &error)) {
    spdlog::error("{}", error);
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  auto server = std::make_unique<Server>(std::move(config));
  if (!server->Init(&error)) {
    spdlog::error("cannot start: {}", error);
    return 1;
  }
  PrintWelcome(server->config(), program, server->endpoint(), generated);
  server->Run();
  return 0;
}

}  // namespace herald::cli
