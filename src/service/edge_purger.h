#pragma once
// Purges of the copies edges (CDN, Varnish) hold of an image, delivered through the
// durable outbox in the metadata store (see PurgeOutboxStore): a purge is recorded before
// the change that needs it (a delete, a switch to private), sent once the change is made,
// and retried with exponential backoff until each edge acknowledges it, so an edge that is
// down or cut off when the image changes is purged when it is back.
//
// Every purge is sent at once and again at each of `repeats` later. Those cover a copy an
// edge refetched in between from an origin node still holding the image's record in its
// cache (ImageService's ready cache), or from a shield purged after the edge: every node
// reads the outbox each poll and drops the records it names (OnPendingKey), so the repeat
// after two polls finds every node current, and the one after the cache TTL covers a node
// that missed its polls. Purging is idempotent: duplicates (two nodes, a lost answer, the
// repeats) cost nothing.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "meta/purge_outbox_store.h"
#include "net/purge_client.h"
#include "obs/metrics.h"

namespace imgd {

// The surrogate keys content answers carry (xkey, Surrogate-Key) and purges name.
std::string ImageSurrogateKey(const std::string& image_id);
std::string BlobSurrogateKey(const std::string& sha256);
// "<image key> <blob key>": what every answer with an image's bytes is tagged with.
void AppendContentSurrogateKeys(std::string& out, std::string_view image_id,
                                std::string_view sha256);

struct EdgePurgeOptions {
  // Each edge's purge URL (http://host:port), or NAME=URL. The name (the URL when none) is
  // the edge's identity in the shared outbox and in metrics: nodes that reach one edge by
  // different addresses (from different regions) must give it the same name.
  std::vector<std::string> edges;
  std::string token;  // sent as X-Purge-Token; the edge checks it
  std::vector<std::chrono::milliseconds> repeats{std::chrono::milliseconds(2000),
                                                 std::chrono::milliseconds(6000)};
  std::chrono::milliseconds poll{1000};  // how often the outbox is read without a Kick
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds timeout{2000};  // per purge request
};

class EdgePurger {
 public:
  // Throws std::invalid_argument for an edge URL ParsePurgeUrl refuses, or a name given twice.
  EdgePurger(PurgeOutboxStore& outbox, Metrics& metrics, EdgePurgeOptions opts);
  ~EdgePurger();
  EdgePurger(const EdgePurger&) = delete;
  EdgePurger& operator=(const EdgePurger&) = delete;

  bool enabled() const { return !edges_.empty(); }
  // Records a purge of keys at every edge, durably (blocking; throws StoreError, so the
  // change that needs it is not made either). Call before the change.
  void Enqueue(const std::vector<std::string>& keys);
  // The change is made: deliver what is due now rather than at the next poll.
  void Kick();
  // Called with every surrogate key of every task each round reads (pending at any node),
  // before anything is sent. Set before Start.
  void OnPendingKey(std::function<void(std::string_view key)> fn) {
    on_pending_key_ = std::move(fn);
  }

  // Runs the sender on a thread of its own until Stop.
  void Start();
  void Stop();
  // One round: every due task to its edge (blocking). Returns the tasks acknowledged.
  size_t DeliverDue();

 private:
  size_t DeliverTo(const PurgeEdge& edge, int64_t now_ms);
  // Drops the tasks of edges no longer configured (checked every few minutes).
  void DropUnconfigured();
  std::chrono::milliseconds Backoff(int attempts);

  PurgeOutboxStore& outbox_;
  Metrics& metrics_;
  EdgePurgeOptions opts_;
  std::vector<PurgeEdge> edges_;
  std::function<void(std::string_view)> on_pending_key_;
  std::chrono::steady_clock::time_point next_unconfigured_check_{};

  std::mutex mu_;
  std::condition_variable cv_;
  bool kicked_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace imgd
