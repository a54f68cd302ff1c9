// Test-only: loads the shared matcher vectors of testdata/patterns.json.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

namespace herald::core::testing {

struct PatternCase {
  std::string pattern;
  std::vector<std::string> matches;
  std::vector<std::string> rejects;
};

struct PatternVectors {
  std::vector<PatternCase> cases;
  std::vector<std::string> invalid_patterns;
};

inline std::vector<std::string> ReadStringArray(simdjson::ondemand::value value) {
  std::vector<std::string> out;
  for (auto item : value.get_array()) out.emplace_back(std::string_view(item.get_string()));
  return out;
}

// Throws (simdjson_error) if the file is missing or malformed, which fails the test.
inline PatternVectors LoadPatternVectors() {
  auto json = simdjson::padded_string::load(std::string(HERALD_TESTDATA_DIR) + "/patterns.json");
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc = parser.iterate(json.value());

  PatternVectors vectors;
  for (auto item : doc["cases"].get_array()) {
    simdjson::ondemand::object object = item.get_object();
    PatternCase test_case;
    test_case.pattern = std::string(std::string_view(object["pattern"].get_string()));
    test_case.matches = ReadStringArray(object["matches"].value());
    test_case.rejects = ReadStringArray(object["rejects"].value());
    vectors.cases.push_back(std::move(test_case));
  }
  vectors.invalid_patterns = ReadStringArray(doc["invalid_patterns"].value());
  return vectors;
}

}  // namespace herald::core::testing
