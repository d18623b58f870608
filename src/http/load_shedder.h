#pragma once
// Grace under overload: queueing bounded by time, not by count. Each network thread's queue
// delay is measured by a probe (a timer due every 5 ms; how late it runs is how long work
// now waits behind the thread's ready queue: CPU saturation, a burst, a slow store all show
// there). While that delay stays over the target, the thread refuses a growing fraction of
// new requests with a fast 503 + Retry-After; once it is back under half the target, the
// fraction falls again. So the requests taken are served within about the target's delay
// plus their own time, instead of every request waiting seconds in an unbounded queue.
//
// Why the delay and not a count or a latency: a count (max in flight) is wrong as soon as
// requests differ in cost (a cached 304 against a 20 MP upload), and a request's own
// latency hides the wait before imgd reads it, which is where an open-loop overload queues.
// This is CoDel's signal (sojourn time over a target, acted on only when it persists)
// with an additive-increase, additive-decrease refusal fraction as the control law.
//
// Work that leaves the network threads (an upload's validation and storage) waits in the
// worker pools instead: their queue delay is probed the same way (a no-op task posted every
// 5 ms; how long until it starts), against the same target: under CPU contention an upload's
// validation already runs several times slower than alone, so each task waiting before it
// adds to an accepted upload's tail (at twice the target, 2x capacity left accepted uploads
// at 0.8-1.3 s p99; at the target, 0.5-0.7 s). A request that writes (any method
// but GET, HEAD, OPTIONS) is refused by the larger of the two fractions, a read by its thread's
// alone: a backlog of uploads does not turn cheap cached reads away.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obs/metrics.h"

namespace imgd::http {

class LoadShedder {
 public:
  // target 0 turns shedding off (probes still measure the delay for the metrics).
  LoadShedder(std::chrono::milliseconds target, Metrics& metrics,
              std::vector<boost::asio::thread_pool*> pools = {});
  ~LoadShedder();

  // One network thread's probe and refusal fraction; used only on that thread.
  struct Probe;
  // Starts probing ctx (call before it runs); the connections it serves pass the result
  // to Shed.
  Probe* Watch(boost::asio::io_context& ctx);
  // Stops every probe (at shutdown, before the contexts stop).
  void Stop();
  // Whether to refuse a request now (its method and raw target), on probe's thread.
  // Operations endpoints (health, readiness, metrics) are never refused: they are how an
  // overload is seen. Refusals are counted, and logged once a second per thread as one
  // line (a line per refusal would feed the overload).
  bool Shed(Probe* probe, boost::beast::http::verb method, std::string_view target);

  // The control law, on its own for tests: the new refusal fraction after a probe that ran
  // `lag` late, `elapsed` after the previous one.
  static double NextFraction(double fraction, std::chrono::steady_clock::duration lag,
                             std::chrono::steady_clock::duration elapsed,
                             std::chrono::milliseconds target);

  static constexpr std::chrono::milliseconds kProbeEvery{5};

 private:
  struct PoolProbe;
  void Arm(Probe& p);
  // On the first network thread's probe: measures the pools and moves their fraction.
  void ProbePools(std::chrono::steady_clock::time_point now,
                  std::chrono::steady_clock::duration elapsed);
  const std::chrono::milliseconds target_;
  std::vector<std::shared_ptr<PoolProbe>> pools_;  // shared with the task in flight
  std::atomic<double> pool_fraction_{0};  // written by the first probe, read by every thread
  Metrics& metrics_;
  double* shed_total_;
  std::vector<std::unique_ptr<Probe>> probes_;
};

// The whole answer to a refused request: 503 problem+json "overloaded", Retry-After: 1,
// X-Request-Id, and Connection: close unless keep_alive.
std::string ShedAnswer(const std::string& request_id, bool keep_alive);

}  // namespace imgd::http
