#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "auth/jwt.h"

namespace herald::cli {
namespace {

namespace fs = std::filesystem;

// Secrets are 32 random bytes: as strong as HS256's key size.
constexpr std::size_t kSecretBytes = 32;

bool ReadOrCreate(const fs::path& path, bool create, std::string* value, std::string* error) {
  std::ifstream in(path);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    *value = text.str();
    while (!value->empty() && (value->back() == '\n' || value->back() == '\r')) value->pop_back();
    if (!value->empty()) return true;
  }
  if (!create) {
    *error = path.string() + " not found: run `herald serve` once to create it, or configure it";
    return false;
  }
  *value = auth::RandomToken(kSecretBytes);
  // Created 0600 from the start: never readable by others, not even briefly.
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  std::string line = *value + "\n";
  bool written =
      fd >= 0 && write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (fd >= 0) close(fd);
  if (!written) {
    *error = "cannot create " + path.string() + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

bool LoadSecrets(config::Config* config, bool create, std::string* error) {
  fs::path dir(config->data_dir);
  if (create) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      *error = "cannot create data directory " + dir.string() + ": " + ec.message();
      return false;
    }
  }
  if (config->auth_secret.empty() && config->auth_public_key.empty() &&
      !ReadOrCreate(dir / "auth-secret", create, &config->auth_secret, error)) {
    return false;
  }
  if (config->publish_key.empty() &&
      !ReadOrCreate(dir / "publish-key", create, &config->publish_key, error)) {
    return false;
  }
  return true;
}

std::string ClientHost(const config::Config& config) {
  if (config.host == "0.0.0.0" || config.host.empty()) return "127.0.0.1";
  if (config.host == "::") return "::1";
  return config.host;
}

bool ParseDuration(std::string_view text, std::int64_t* seconds) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) return false;
  std::string_view unit(end, text.data() + text.size() - end);
  std::int64_t scale = unit.empty() || unit == "s" ? 1
                       : unit == "m"               ? 60
                       : unit == "h"               ? 3600
                       : unit == "d"               ? 86400
                                                   : 0;
  *seconds = value * scale;
  return scale != 0;
}

}  // namespace herald::cli
