#include "http/target.h"

#include <boost/url/parse.hpp>

namespace imgd::http {

std::optional<Target> ParseTarget(std::string_view target) {
  auto r = boost::urls::parse_origin_form(target);
  if (!r) return std::nullopt;
  Target out;
  out.path = std::string(r->path());
  for (auto p : r->params()) out.query.emplace(std::string(p.key), std::string(p.value));
  return out;
}

}  // namespace imgd::http
