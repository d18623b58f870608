#pragma once
// The request target (origin form, "/path?query") split into its decoded path and query
// parameters.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace imgd::http {

struct Target {
  std::string path;                          // percent-decoded
  std::map<std::string, std::string> query;  // decoded; the first value of each name
};

// nullopt when target is not a valid origin-form URI.
std::optional<Target> ParseTarget(std::string_view target);

// A target that needs no decoding, split into views of it: what the warm path reads
// without copying. Parameters are in the order sent, duplicates kept (ParseTarget keeps a
// name's first value: so does a reader of these that takes the first).
struct PlainTarget {
  static constexpr size_t kMaxParams = 8;
  std::string_view path;
  std::pair<std::string_view, std::string_view> params[kMaxParams];
  size_t param_count = 0;
};

// True and out filled when target is valid origin form (as ParseTarget) with no '%' and
// no '+' (so each view equals what ParseTarget decodes) and at most kMaxParams
// parameters; false otherwise (ParseTarget then decides).
bool ParsePlainTarget(std::string_view target, PlainTarget& out);

}  // namespace imgd::http
