#include "service/edge_purger.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "core/clock.h"
#include "core/ids.h"
#include "obs/log.h"

namespace imgd {
namespace {

// Tasks read per edge per round, and keys per PURGE request (one header line).
constexpr int kTasksPerRound = 500;
constexpr size_t kKeysPerRequest = 64;

}  // namespace

namespace {
constexpr std::string_view kImageKey = "img-", kBlobKey = "blob-";
}  // namespace

std::string ImageSurrogateKey(const std::string& image_id) {
  return std::string(kImageKey) + image_id;
}
std::string BlobSurrogateKey(const std::string& sha256) { return std::string(kBlobKey) + sha256; }

void AppendContentSurrogateKeys(std::string& out, std::string_view image_id,
                                std::string_view sha256) {
  out += kImageKey;
  out += image_id;
  out += ' ';
  out += kBlobKey;
  out += sha256;
}

EdgePurger::EdgePurger(PurgeOutboxStore& outbox, Metrics& metrics, EdgePurgeOptions opts)
    : outbox_(outbox), metrics_(metrics), opts_(std::move(opts)) {
  for (const auto& entry : opts_.edges) {
    PurgeEdge edge = ParsePurgeEdge(entry);
    for (const auto& e : edges_) {
      if (e.name == edge.name) {
        throw std::invalid_argument("edge '" + edge.name + "' is listed twice");
      }
    }
    edges_.push_back(std::move(edge));
  }
}

EdgePurger::~EdgePurger() { Stop(); }

void EdgePurger::Enqueue(const std::vector<std::string>& keys) {
  if (edges_.empty() || keys.empty()) return;
  std::string joined;
  for (const auto& k : keys) joined += (joined.empty() ? "" : " ") + k;
  const int64_t now = NowMs();
  std::vector<PurgeTask> tasks;
  std::vector<int64_t> dues = {now};
  for (const auto& r : opts_.repeats) dues.push_back(now + r.count());
  for (const int64_t due : dues) {
    const std::string id = NewUuidV7();
    for (const auto& e : edges_) tasks.push_back({id, e.name, joined, now, due, 0});
  }
  outbox_.AddPurges(tasks);
  metrics_.Inc("imgd_edge_purges_enqueued_total", {}, static_cast<double>(tasks.size()));
}

void EdgePurger::Kick() {
  {
    std::lock_guard lock(mu_);
    kicked_ = true;
  }
  cv_.notify_all();
}

void EdgePurger::Start() {
  if (edges_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopped_) {
      kicked_ = false;
      lock.unlock();
      try {
        DeliverDue();
      } catch (const std::exception& e) {
        LogJson("warn", "edge purge round failed", {{"error", e.what()}});
      }
      lock.lock();
      cv_.wait_for(lock, opts_.poll, [this] { return stopped_ || kicked_; });
    }
  });
}

void EdgePurger::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t EdgePurger::DeliverDue() {
  if (std::chrono::steady_clock::now() >= next_unconfigured_check_) {
    DropUnconfigured();
    next_unconfigured_check_ = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  }
  size_t acknowledged = 0;
  for (const auto& edge : edges_) acknowledged += DeliverTo(edge, NowMs());
  return acknowledged;
}

size_t EdgePurger::DeliverTo(const PurgeEdge& edge, int64_t now_ms) {
  const Labels labels = {{"edge", edge.name}};
  std::vector<PurgeTask> tasks = outbox_.PendingPurges(edge.name, kTasksPerRound);
  int64_t oldest = now_ms;
  std::vector<PurgeTask> due;
  for (auto& t : tasks) {
    if (on_pending_key_) {
      std::string_view keys = t.keys;
      while (!keys.empty()) {
        const size_t space = keys.find(' ');
        on_pending_key_(keys.substr(0, space));
        keys = space == std::string_view::npos ? std::string_view() : keys.substr(space + 1);
      }
    }
    oldest = std::min(oldest, t.created_ms);
    if (t.due_ms <= now_ms) due.push_back(std::move(t));
  }
  size_t pending = tasks.size();
  size_t acknowledged = 0;
  for (size_t begin = 0; begin < due.size(); begin += kKeysPerRequest) {
    const size_t end = std::min(due.size(), begin + kKeysPerRequest);
    std::set<std::string> unique;
    std::string keys;
    for (size_t i = begin; i < end; ++i) {
      if (unique.insert(due[i].keys).second) keys += (keys.empty() ? "" : " ") + due[i].keys;
    }
    std::string failure;
    try {
      const unsigned status = SendPurge(edge.endpoint, keys, opts_.token, opts_.timeout);
      if (status != 200) failure = "the edge answered " + std::to_string(status);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure.empty()) {
      for (size_t i = begin; i < end; ++i) outbox_.RemovePurge(due[i]);
      acknowledged += end - begin;
      pending -= end - begin;
      metrics_.Inc("imgd_edge_purges_sent_total", labels, static_cast<double>(end - begin));
      continue;
    }
    // The edge is down or refusing: every due task waits its backoff, and this round
    // sends it nothing more.
    metrics_.Inc("imgd_edge_purges_failed_total", labels);
    LogJson("warn", "edge purge failed", {{"edge", edge.name}, {"error", failure}});
    for (size_t i = begin; i < due.size(); ++i) {
      const int attempts = due[i].attempts + 1;
      outbox_.RetryPurge(due[i], now_ms + Backoff(attempts).count(), attempts);
    }
    break;
  }
  if (pending == 0) oldest = now_ms;
  metrics_.Set("imgd_edge_purges_pending", labels, static_cast<double>(pending));
  metrics_.Set("imgd_edge_purge_oldest_pending_seconds", labels,
               static_cast<double>(now_ms - oldest) / 1000.0);
  return acknowledged;
}

void EdgePurger::DropUnconfigured() {
  for (const auto& name : outbox_.PurgeEdges()) {
    if (std::any_of(edges_.begin(), edges_.end(),
                    [&](const PurgeEdge& e) { return e.name == name; })) {
      continue;
    }
    auto tasks = outbox_.PendingPurges(name, kTasksPerRound);
    for (const auto& t : tasks) outbox_.RemovePurge(t);
    metrics_.Inc("imgd_edge_purges_dropped_total", {}, static_cast<double>(tasks.size()));
    LogJson("warn", "dropped purges of an edge no longer configured",
            {{"edge", name}, {"count", tasks.size()}});
  }
}

std::chrono::milliseconds EdgePurger::Backoff(int attempts) {
  // min_backoff doubled per failed attempt, capped, with ±20% jitter so nodes spread out.
  const double base = std::min<double>(
      static_cast<double>(opts_.max_backoff.count()),
      static_cast<double>(opts_.min_backoff.count()) * std::pow(2.0, std::min(attempts - 1, 20)));
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(rng)));
}

}  // namespace imgd
