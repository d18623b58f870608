#include "http/load_shedder.h"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "core/ids.h"
#include "obs/log.h"

namespace imgd::http {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Per 5 ms spent over the target, 2% more refused; per 5 ms under half of it, 1% fewer: a
// burst of a few ms moves little, a persistent overload reaches its level in a few hundred
// ms, and the recovery is slower than the rise (as CoDel's is) so the fraction does not
// swing.
constexpr double kUpPerProbe = 0.02;
constexpr double kDownPerProbe = 0.01;
// Some requests always get through: they keep the service useful and show recovery.
constexpr double kMaxFraction = 0.98;

}  // namespace

struct LoadShedder::Probe {
  explicit Probe(asio::io_context& ctx) : timer(ctx) {}
  asio::steady_timer timer;
  Clock::time_point last{};
  double fraction = 0;  // this thread's alone
  uint64_t shed_since_log = 0;
  Clock::time_point last_log{};
  bool stopped = false;
  // For the metrics (read from the scraping thread).
  std::atomic<double> published_fraction{0};
  std::atomic<double> published_lag_s{0};
};

struct LoadShedder::PoolProbe {
  explicit PoolProbe(asio::thread_pool& p) : pool(p) {}
  asio::thread_pool& pool;
  std::atomic<bool> outstanding{false};
  std::atomic<Clock::rep> posted_at{0};  // while outstanding
  std::atomic<Clock::rep> last_delay{0};
};

LoadShedder::LoadShedder(std::chrono::milliseconds target, Metrics& metrics,
                         std::vector<asio::thread_pool*> pools)
    : target_(target),
      metrics_(metrics),
      shed_total_(metrics.CounterCell("imgd_http_shed_total", {})) {
  for (asio::thread_pool* p : pools) pools_.push_back(std::make_shared<PoolProbe>(*p));
  metrics_.AddCallback("imgd_overload_shed_fraction", [this] {
    double most = pool_fraction_.load();
    for (const auto& p : probes_) most = std::max(most, p->published_fraction.load());
    return most;
  });
  metrics_.AddCallback("imgd_overload_queue_delay_seconds", [this] {
    double most = 0;
    for (const auto& p : probes_) most = std::max(most, p->published_lag_s.load());
    for (const auto& p : pools_) {
      most = std::max(most, std::chrono::duration<double>(Clock::duration(p->last_delay)).count());
    }
    return most;
  });
}

LoadShedder::~LoadShedder() { Stop(); }

LoadShedder::Probe* LoadShedder::Watch(asio::io_context& ctx) {
  probes_.push_back(std::make_unique<Probe>(ctx));
  Probe& p = *probes_.back();
  p.last = Clock::now();
  Arm(p);
  return &p;
}

void LoadShedder::Stop() {
  for (auto& p : probes_) {
    // On the probe's own thread: the handler reads `stopped` there.
    asio::post(p->timer.get_executor(), [probe = p.get()] {
      probe->stopped = true;
      probe->timer.cancel();
    });
  }
}

void LoadShedder::Arm(Probe& p) {
  p.timer.expires_at(Clock::now() + kProbeEvery);
  p.timer.async_wait([this, &p](boost::system::error_code ec) {
    if (ec || p.stopped) return;
    const Clock::time_point now = Clock::now();
    const Clock::duration lag = std::max(Clock::duration::zero(), now - p.timer.expiry());
    if (target_.count() > 0) p.fraction = NextFraction(p.fraction, lag, now - p.last, target_);
    if (&p == probes_.front().get()) ProbePools(now, now - p.last);
    if (p.shed_since_log > 0 && now - p.last_log >= std::chrono::seconds(1)) {
      LogJson("warn", "overloaded: requests refused",
              {{"refused", p.shed_since_log},
               {"fraction", p.fraction},
               {"queueDelayMs", std::chrono::duration<double, std::milli>(lag).count()}});
      p.shed_since_log = 0;
      p.last_log = now;
    }
    p.last = now;
    p.published_fraction = p.fraction;
    p.published_lag_s = std::chrono::duration<double>(lag).count();
    Arm(p);
  });
}

double LoadShedder::NextFraction(double fraction, Clock::duration lag, Clock::duration elapsed,
                                 std::chrono::milliseconds target) {
  // A late probe stands for the probes that could not run meanwhile (at most 20 of them).
  const double probes = std::clamp(
      std::chrono::duration<double>(elapsed) / std::chrono::duration<double>(kProbeEvery), 1.0,
      20.0);
  if (lag > target) return std::min(kMaxFraction, fraction + kUpPerProbe * probes);
  if (lag < target / 2) return std::max(0.0, fraction - kDownPerProbe * probes);
  return fraction;
}

void LoadShedder::ProbePools(Clock::time_point now, Clock::duration elapsed) {
  Clock::duration worst{};
  for (auto& pp : pools_) {
    PoolProbe& p = *pp;
    if (p.outstanding) {  // not started yet: it has waited at least this long
      worst = std::max(worst, now - Clock::time_point(Clock::duration(p.posted_at.load())));
    } else {
      worst = std::max(worst, Clock::duration(p.last_delay.load()));
      p.outstanding = true;
      p.posted_at = now.time_since_epoch().count();
      asio::post(p.pool, [probe = pp] {
        probe->last_delay =
            (Clock::now() - Clock::time_point(Clock::duration(probe->posted_at.load()))).count();
        probe->outstanding = false;
      });
    }
  }
  if (target_.count() > 0) {
    pool_fraction_ = NextFraction(pool_fraction_.load(), worst, elapsed, target_);
  }
}

bool LoadShedder::Shed(Probe* probe, boost::beast::http::verb method, std::string_view target) {
  if (!probe) return false;
  const bool reads = method == boost::beast::http::verb::get ||
                     method == boost::beast::http::verb::head ||
                     method == boost::beast::http::verb::options;
  const double fraction =
      reads ? probe->fraction : std::max(probe->fraction, pool_fraction_.load());
  if (fraction <= 0) return false;
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") return false;
  const double draw = static_cast<double>(FastRandom64() >> 11) * 0x1.0p-53;
  if (draw >= fraction) return false;
  metrics_.Update({{shed_total_, 1}}, nullptr, 0);
  ++probe->shed_since_log;
  return true;
}

std::string ShedAnswer(const std::string& request_id, bool keep_alive) {
  std::string body = R"({"type":"/problems/overloaded","title":"Service Unavailable","status":503,)"
                     R"("detail":"the server is overloaded; retry in a second","requestId":")";
  body += request_id;  // a request id is [A-Za-z0-9._-]: nothing to escape
  body += "\"}";
  std::string out =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
      "Retry-After: 1\r\nX-Request-Id: ";
  out += request_id;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace imgd::http
