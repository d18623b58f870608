#include "core/types.h"

namespace imgd {

std::string PolicyName(DuplicatePolicy p) {
  switch (p) {
    case DuplicatePolicy::kReject:
      return "reject";
    case DuplicatePolicy::kRejectSimilar:
      return "reject-similar";
    case DuplicatePolicy::kNew:
      return "new";
    case DuplicatePolicy::kReturnExisting:
      break;
  }
  return "return";
}

std::optional<DuplicatePolicy> ParsePolicyName(std::string_view name) {
  if (name == "return") return DuplicatePolicy::kReturnExisting;
  if (name == "reject") return DuplicatePolicy::kReject;
  if (name == "new") return DuplicatePolicy::kNew;
  if (name == "reject-similar") return DuplicatePolicy::kRejectSimilar;
  return std::nullopt;
}

}  // namespace imgd
