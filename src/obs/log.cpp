#include "obs/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "core/clock.h"

namespace imgd {
namespace {

// Asynchronous: a network thread only enqueues. If stderr stalls (a slow pipe) and the
// queue fills, the oldest lines are dropped instead of blocking request handling.
spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    spdlog::init_thread_pool(16384, 1);
    auto l = std::make_shared<spdlog::async_logger>(
        "imgd", std::make_shared<spdlog::sinks::stderr_sink_mt>(), spdlog::thread_pool(),
        spdlog::async_overflow_policy::overrun_oldest);
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

void FlushLogs() {
  Logger().flush();
  spdlog::shutdown();
}

}  // namespace imgd
