// stp_stream: prints a seeded STP-like event stream with the reference
// model's audience of each event, one JSON object per line, for end-to-end
// tests that replay it through the real server (tests/visibility).
//
//   stp_stream <seed> <count> [--users N] [--deliver-uncovered]
//
// First line: {"users":[...]} (every user ID the stream may name). Then one
// line per event:
//   {"event":..., "data":<raw JSON>, "users":[...], "expected":"everyone"|[...], "drop":"..."}
// `data` is absent when the event has none; a payload that is not valid JSON
// (the generator's odd payloads) is given as the string `data_text` instead,
// which a publisher can only send as a JSON string: for the visibility rules
// both are "not an object". `users` is the publisher's list, when given;
// `drop` is the model's drop reason when the audience is empty.
//
// The clock never jumps and tombstones never expire in this stream (a real
// server's clock cannot be moved), so run the server with a tombstone grace
// longer than the test.
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "membership/stp_generator.h"

namespace {

using herald::membership::testing::GeneratedEvent;
using herald::membership::testing::GeneratorOptions;
using herald::membership::testing::StpGenerator;

// A tombstone grace no stream of this tool outlives: ~30 years of model time.
constexpr std::int64_t kNeverExpiresMs = 1'000'000'000'000;

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string QuoteList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + Quote(items[i]);
  return out + "]";
}

bool IsValidJson(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::element ignored;
  return !parser.parse(text).get(ignored);
}

std::string Line(simdjson::dom::parser& parser, const GeneratedEvent& event) {
  std::string line = "{\"event\":" + Quote(event.name);
  if (!event.data_json.empty()) {
    if (IsValidJson(parser, event.data_json)) {
      line += ",\"data\":" + event.data_json;
    } else {
      line += ",\"data_text\":" + Quote(event.data_json);
    }
  }
  if (event.users) line += ",\"users\":" + QuoteList(*event.users);
  line += ",\"expected\":";
  line += event.expected.everyone ? "\"everyone\"" : QuoteList(event.expected.users);
  if (!event.expected.drop.empty()) line += ",\"drop\":" + Quote(event.expected.drop);
  return line + "}";
}

int Usage() {
  std::fprintf(stderr, "usage: stp_stream <seed> <count> [--users N] [--deliver-uncovered]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  std::uint64_t seed = std::strtoull(argv[1], nullptr, 10);
  long count = std::strtol(argv[2], nullptr, 10);
  GeneratorOptions options;
  options.clock_jumps = false;
  options.model.tombstone_grace_ms = kNeverExpiresMs;
  for (int i = 3; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--users" && i + 1 < argc) {
      options.users = std::atoi(argv[++i]);
      if (options.users < 1) return Usage();
    } else if (arg == "--deliver-uncovered") {
      options.model.deliver_uncovered_to_everyone = true;
    } else {
      return Usage();
    }
  }

  StpGenerator generator(seed, options);
  simdjson::dom::parser parser;
  std::string out = "{\"users\":" + QuoteList(generator.user_ids()) + "}\n";
  for (long i = 0; i < count; ++i) {
    out += Line(parser, generator.Next());
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
