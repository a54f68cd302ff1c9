#include "ingress/publish.h"

#include <simdjson.h>

#include "core/name.h"

namespace herald::ingress {
namespace {

namespace od = simdjson::ondemand;

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// The exact JSON text of a value, whatever its type.
simdjson::error_code RawJson(od::value value, std::string_view* out) {
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == od::json_type::object) {
    od::object object;
    if (auto error = value.get_object().get(object)) return error;
    if (auto error = object.raw_json().get(*out)) return error;
    *out = TrimRight(*out);
    return simdjson::SUCCESS;
  }
  if (type == od::json_type::array) {
    od::array array;
    if (auto error = value.get_array().get(array)) return error;
    if (auto error = array.raw_json().get(*out)) return error;
    *out = TrimRight(*out);
    return simdjson::SUCCESS;
  }
  *out = TrimRight(value.raw_json_token());
  return simdjson::SUCCESS;
}

// Reads the users field: an array of non-empty strings.
bool ReadUsers(od::value value, std::vector<std::string>* users) {
  od::array array;
  if (value.get_array().get(array)) return false;
  for (auto element : array) {
    std::string_view user;
    if (element.get_string().get(user) || user.empty()) return false;
    users->emplace_back(user);
  }
  return true;
}

// Reads one item; returns an empty string or what is wrong with it.
std::string ReadItem(od::value value, fanout::PublishItem* item) {
  od::object object;
  if (value.get_object().get(object)) return "must be an object";
  bool has_event = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return "invalid JSON";
    if (key == "event") {
      std::string_view name;
      if (field.value().get_string().get(name)) return "\"event\" must be a string";
      if (!core::IsValidName(name)) return "\"event\" is not a valid event name";
      item->name = std::string(name);
      has_event = true;
    } else if (key == "data") {
      std::string_view raw;
      if (RawJson(field.value(), &raw)) return "invalid JSON in \"data\"";
      item->data = std::string(raw);
    } else if (key == "users") {
      item->users.emplace();
      if (!ReadUsers(field.value(), &*item->users)) {
        return "\"users\" must be an array of user ID strings";
      }
    } else {
      return "unknown field \"" + std::string(key.substr(0, 32)) + "\"";
    }
  }
  if (!has_event) return "missing \"event\"";
  return {};
}

constexpr const char* kNumberProblem =
    "body has a number that is malformed or does not fit a 64-bit integer or a double "
    "(send such numbers as strings)";

// simdjson 3.0 reports every bad number as NUMBER_ERROR; later versions give
// integers beyond 64 bits their own BIGINT_ERROR. Either is a number problem.
template <class Code>
bool IsNumberError(Code error) {
  if constexpr (requires { Code::BIGINT_ERROR; }) {
    if (error == Code::BIGINT_ERROR) return true;
  }
  return error == Code::NUMBER_ERROR;
}

void Add(PublishParse& result, std::size_t index, bool batch, std::string problem) {
  result.problems.push_back(batch ? "item " + std::to_string(index) + ": " + problem : problem);
}

}  // namespace

PublishParse ParsePublishBody(std::string_view body) {
  PublishParse result;
  // The DOM parse validates the whole body first: On Demand alone would
  // skip over nested `data` without checking every byte of it.
  simdjson::dom::parser validator;
  simdjson::dom::element root;
  if (auto error = validator.parse(body.data(), body.size()).get(root)) {
    // simdjson cannot tell a malformed number from one outside
    // int64/uint64/double; JSON lets parsers limit the range (RFC 8259
    // section 9), so say which limit applies and how to get past it.
    result.problems.push_back(IsNumberError(error) ? kNumberProblem : "body is not valid JSON");
    return result;
  }
  bool batch = root.is_array();
  od::parser parser;
  simdjson::padded_string padded(body);
  od::document doc = parser.iterate(padded);
  auto read = [&](od::value value, std::size_t index) {
    fanout::PublishItem item;
    std::string problem = ReadItem(value, &item);
    if (!problem.empty()) {
      Add(result, index, batch, std::move(problem));
    } else {
      result.items.push_back(std::move(item));
    }
  };
  if (batch) {
    std::size_t index = 0;
    for (auto element : doc.get_array()) {
      od::value value;
      if (element.get(value)) {
        result.problems.push_back("body is not valid JSON");
        break;
      }
      read(value, index++);
    }
    if (index == 0) result.problems.push_back("empty batch");
  } else {
    od::value value;
    if (doc.get_value().get(value)) {
      result.problems.push_back("body must be an event object or an array of them");
    } else {
      read(value, 0);
    }
  }
  if (!result.problems.empty()) result.items.clear();
  return result;
}

}  // namespace herald::ingress
