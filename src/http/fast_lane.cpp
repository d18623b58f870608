#include "http/fast_lane.h"

namespace imgd::http {

namespace bhttp = boost::beast::http;

void FastAnswerHead(const FastAnswer& answer, std::string_view request_id, bool keep_alive,
                    std::string& head) {
  head.clear();
  AppendStatusLine(head, answer.status);
  head += answer.header_lines;
  AppendHeaderLine(head, "X-Request-Id", request_id);
  // As the general path: a 304 carries no length; a 200 the whole body's.
  std::optional<uint64_t> length;
  if (answer.status != bhttp::status::not_modified) {
    length = answer.body ? answer.body->size() : 0;
  }
  AppendHeadEnd(head, length, keep_alive);
}

}  // namespace imgd::http
