// Parsing of POST /publish bodies (DESIGN.md section 3).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fanout/router.h"

namespace herald::ingress {

struct PublishParse {
  std::vector<fanout::PublishItem> items;
  // One line per bad item, e.g. "item 2: \"event\" is not a valid event name".
  // Empty when the whole body is good; nothing is published otherwise.
  std::vector<std::string> problems;
};

// Reads one event object or an array of them. Every item is validated
// before any is accepted; `data` is kept as the exact bytes the publisher
// sent (valid JSON, not re-serialized).
PublishParse ParsePublishBody(std::string_view body);

}  // namespace herald::ingress
