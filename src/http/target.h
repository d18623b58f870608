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

}  // namespace imgd::http
