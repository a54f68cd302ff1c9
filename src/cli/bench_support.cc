#include "cli/bench_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "protocol/protocol.h"

namespace herald::cli::bench {

std::int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepNs(std::int64_t ns) {
  if (ns <= 0) return;
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  nanosleep(&ts, nullptr);
}

// ---- Histogram ----

int Histogram::BucketOf(std::int64_t ns) {
  if (ns < kSub) return static_cast<int>(std::max<std::int64_t>(ns, 0));
  int exponent = 63 - std::countl_zero(static_cast<std::uint64_t>(ns));
  int sub = static_cast<int>((ns >> (exponent - kSubBits)) & (kSub - 1));
  return (exponent - kSubBits + 1) * kSub + sub;
}

std::int64_t Histogram::UpperBound(int bucket) {
  if (bucket < kSub) return bucket;
  int exponent = bucket / kSub + kSubBits - 1;
  std::int64_t sub = bucket % kSub;
  return ((kSub + sub + 1) << (exponent - kSubBits)) - 1;
}

void Histogram::Record(std::int64_t ns) {
  ++counts_[BucketOf(ns)];
  ++count_;
  max_ns_ = std::max(max_ns_, ns);
}

void Histogram::Merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

std::int64_t Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(UpperBound(static_cast<int>(i)), max_ns_);
  }
  return max_ns_;
}

// ---- /proc and limits ----

std::int64_t ProcessCpuNs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return -1;
  // The command name may hold spaces; fields are counted after its ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  std::int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return (utime + stime) * (1'000'000'000 / sysconf(_SC_CLK_TCK));
}

std::int64_t ProcessRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

std::int64_t SystemSlabKiB() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Slab:", 0) == 0) return std::stoll(line.substr(5));
  }
  return -1;
}

std::int64_t SelfCpuNs() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ns = [](const timeval& tv) {
    return static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 + tv.tv_usec * 1000;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

std::int64_t RaiseFileLimit(std::int64_t needed) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_max != RLIM_INFINITY && static_cast<std::int64_t>(limit.rlim_max) < needed) {
    rlimit wider = limit;
    wider.rlim_max = wider.rlim_cur = static_cast<rlim_t>(needed);
    if (setrlimit(RLIMIT_NOFILE, &wider) == 0) return needed;  // CAP_SYS_RESOURCE
  }
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur == RLIM_INFINITY ? INT64_MAX : static_cast<std::int64_t>(limit.rlim_cur);
}

std::int64_t LocalPortCount() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  std::int64_t low = 32768, high = 60999;
  in >> low >> high;
  return std::max<std::int64_t>(1, high - low + 1);
}

// ---- HttpClient ----

HttpClient::~HttpClient() { Disconnect(); }

void HttpClient::Disconnect() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool HttpClient::Connect(std::string* error) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port_));
  if (inet_pton(AF_INET, host_.c_str(), &address.sin_addr) != 1) {
    *error = "not an IPv4 address: " + host_;
    Disconnect();
    return false;
  }
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    *error = "connect " + host_ + ":" + std::to_string(port_) + ": " + std::strerror(errno);
    Disconnect();
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return true;
}

int HttpClient::Request(std::string_view method, std::string_view path, std::string_view bearer,
                        std::string_view body, std::string* response_body, std::string* error) {
  std::string request;
  request.reserve(body.size() + 256);
  request.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
  request.append(host_).append("\r\n");
  if (!bearer.empty()) request.append("Authorization: Bearer ").append(bearer).append("\r\n");
  if (!body.empty()) request.append("Content-Type: application/json\r\n");
  request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  request.append(body);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0 && !Connect(error)) return -1;
    int status = RoundTrip(request, response_body, error);
    if (status >= 0) return status;
    Disconnect();
  }
  return -1;
}

int HttpClient::RoundTrip(const std::string& request, std::string* response_body,
                          std::string* error) {
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      *error = std::string("send: ") + std::strerror(errno);
      return -1;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::size_t header_end = std::string::npos;
  std::size_t content_length = 0;
  char chunk[65536];
  while (true) {
    if (header_end == std::string::npos) {
      header_end = buffer_.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string head = buffer_.substr(0, header_end);
        for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto at = head.find("\r\ncontent-length:");
        if (at != std::string::npos) content_length = std::stoul(head.substr(at + 17));
      }
    }
    if (header_end != std::string::npos && buffer_.size() >= header_end + 4 + content_length) {
      break;
    }
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      *error = n == 0 ? "connection closed by server" : std::string("recv: ") + strerror(errno);
      return -1;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  int status = 0;
  if (std::sscanf(buffer_.c_str(), "HTTP/1.%*d %d", &status) != 1) {
    *error = "malformed HTTP response";
    return -1;
  }
  if (response_body) *response_body = buffer_.substr(header_end + 4, content_length);
  buffer_.erase(0, header_end + 4 + content_length);
  return status;
}

// ---- ServerProcess ----

std::string MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/herald-bench-XXXXXX";
  if (!mkdtemp(pattern.data())) return {};
  return pattern;
}

void RemoveTree(const std::string& path) {
  std::error_code ignored;
  if (!path.empty()) std::filesystem::remove_all(path, ignored);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::vector<std::string>& args, int port,
                                                    const std::string& data_dir,
                                                    const std::map<std::string, std::string>& env,
                                                    std::string* error) {
  std::string log_path = data_dir + "/server.log";
  std::vector<std::string> argv_text = {"herald", "serve"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    int null_fd = open("/dev/null", O_RDWR);
    int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(log_fd >= 0 ? log_fd : null_fd, 2);
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    execv("/proc/self/exe", argv.data());
    std::fprintf(stderr, "exec /proc/self/exe: %s\n", std::strerror(errno));
    _exit(127);
  }
  std::unique_ptr<ServerProcess> server(new ServerProcess(pid, log_path));

  HttpClient probe("127.0.0.1", port);
  std::int64_t deadline = NowNs() + 20'000'000'000;
  while (NowNs() < deadline) {
    std::string ignored;
    if (probe.Request("GET", "/readyz", "", "", nullptr, &ignored) == 200) return server;
    if (server->Exited()) {
      *error = "herald serve exited at start:\n" + server->LogTail();
      return nullptr;
    }
    SleepNs(20'000'000);
  }
  *error = "herald serve not ready after 20 s:\n" + server->LogTail();
  return nullptr;
}

bool ServerProcess::Exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return true;
  }
  return false;
}

ServerProcess::~ServerProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {  // 10 s: the server closes every client first
    if (Exited()) return;
    SleepNs(50'000'000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string ServerProcess::LogTail() const {
  std::ifstream in(log_path_);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > 20) lines.erase(lines.begin());
  }
  std::string out;
  for (const std::string& line : lines) out += "  | " + line + "\n";
  return out;
}

// ---- Report ----

std::string Si(double value, int decimals) {
  const char* suffix = "";
  if (std::fabs(value) >= 1e6) {
    value /= 1e6;
    suffix = " M";
  } else if (std::fabs(value) >= 1e4) {
    value /= 1e3;
    suffix = " k";
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f%s", decimals, value, suffix);
  return text;
}

double Ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

Report::Report(std::string scenario) : scenario_(std::move(scenario)) {}

void Report::Number(std::string key, double value, std::string unit, int decimals) {
  char text[64], json[64];
  if (!std::isfinite(value)) {
    values_.push_back({std::move(key), "n/a", "null", ""});
    return;
  }
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  std::snprintf(json, sizeof(json), "%.*f", std::max(decimals, 0), value);
  std::string shown = text;
  if (decimals == 0 && std::fabs(value) >= 1e4) shown = Si(value, 2);
  values_.push_back({std::move(key), shown, json, std::move(unit)});
}

void Report::Text(std::string key, std::string value) {
  std::string json = "\"";
  protocol::AppendJsonEscaped(json, value);
  json += "\"";
  values_.push_back({std::move(key), std::move(value), std::move(json), ""});
}

void Report::Row(std::string table, std::vector<std::pair<std::string, std::string>> cells) {
  for (auto& [name, rows] : tables_) {
    if (name == table) {
      rows.push_back(std::move(cells));
      return;
    }
  }
  tables_.push_back({std::move(table), {std::move(cells)}});
}

namespace {

std::string JsonCell(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  if (!text.empty() && end && *end == '\0') return text;
  std::string out = "\"";
  protocol::AppendJsonEscaped(out, text);
  return out + "\"";
}

}  // namespace

void Report::Print(bool json) const {
  if (json) {
    std::string out = "{\"scenario\":\"" + scenario_ + "\"";
    for (const Value& v : values_) out += ",\"" + v.key + "\":" + v.json;
    for (const auto& [name, rows] : tables_) {
      out += ",\"" + name + "\":[";
      for (std::size_t r = 0; r < rows.size(); ++r) {
        out += r ? ",{" : "{";
        for (std::size_t c = 0; c < rows[r].size(); ++c) {
          out += (c ? ",\"" : "\"") + rows[r][c].first + "\":" + JsonCell(rows[r][c].second);
        }
        out += "}";
      }
      out += "]";
    }
    std::cout << out << "}" << std::endl;
    return;
  }
  std::size_t width = 0;
  for (const Value& v : values_) width = std::max(width, v.key.size());
  std::printf("\n== herald bench %s ==\n", scenario_.c_str());
  for (const auto& [name, rows] : tables_) {
    std::vector<std::size_t> widths(rows[0].size(), 0);
    for (const auto& row : rows) {
      for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
        widths[c] = std::max({widths[c], row[c].first.size(), row[c].second.size()});
      }
    }
    for (std::size_t c = 0; c < widths.size(); ++c) {
      std::printf("%s%*s", c ? "  " : "", static_cast<int>(widths[c]), rows[0][c].first.c_str());
    }
    std::printf("\n");
    for (const auto& row : rows) {
      for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
        std::printf("%s%*s", c ? "  " : "", static_cast<int>(widths[c]), row[c].second.c_str());
      }
      std::printf("\n");
    }
    std::printf("\n");
  }
  for (const Value& v : values_) {
    std::printf("  %-*s  %14s %s\n", static_cast<int>(width), v.key.c_str(), v.text.c_str(),
                v.unit.c_str());
  }
  std::fflush(stdout);
}

}  // namespace herald::cli::bench
