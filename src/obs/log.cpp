#include "obs/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "core/clock.h"

namespace imgd {
namespace {

spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l =
        std::make_shared<spdlog::logger>("imgd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

}  // namespace

void LogJson(const std::string& level, const std::string& msg, boost::json::object fields) {
  boost::json::object line;
  line["time"] = FormatIsoMs(NowMs());
  line["level"] = level;
  line["msg"] = msg;
  for (auto& [k, v] : fields) line[k] = std::move(v);
  Logger().info(boost::json::serialize(line));
}

}  // namespace imgd
