// imgd-meta-ops URL SECONDS THREADS...: MetaStore operations per second against the store a
// --meta URL names (sqlite://, postgres://, cassandra://), at each given number of concurrent
// callers: first commits of new images (the upload path's store work: duplicate rule, blob
// reference, image rows), then reads of them by id (the delivery path's lookup). Prints one
// line per caller count. For bench/store_latency.py.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "meta/meta_store.h"

using namespace imgd;
using Clock = std::chrono::steady_clock;

namespace {

// Runs op(thread, i) on `threads` threads for `seconds`; returns operations per second.
template <class Op>
double Measure(int threads, double seconds, Op op) {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        op(t, i);
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(done.load()) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: imgd-meta-ops META_URL SECONDS THREADS...\n");
    return 2;
  }
  auto store = OpenMetaStore(argv[1]);
  store->Migrate();
  const double seconds = std::stod(argv[2]);
  for (int a = 3; a < argc; ++a) {
    const int threads = std::stoi(argv[a]);
    // Each caller commits its own images (as many users uploading at once would).
    std::vector<std::vector<std::string>> ids(threads);
    const std::string run = NewUuidV7();
    const double commits = Measure(threads, seconds, [&](int t, long i) {
      Image im;
      im.id = NewUuidV7();
      im.user_id = "bench-" + std::to_string(t);
      im.created_by = im.modified_by = im.user_id;
      im.created_ms = im.modified_ms = NowMs();
      im.size = 100'000;
      im.width = 800;
      im.height = 600;
      im.sha256 = run + "-" + std::to_string(t) + "-" + std::to_string(i);
      ids[t].push_back(store->CommitImage(im, DuplicatePolicy::kReturnExisting).image.id);
    });
    const double reads = Measure(threads, seconds, [&](int t, long i) {
      const auto& mine = ids[t];
      if (!store->GetImage(mine[static_cast<size_t>(i) % mine.size()])) std::abort();
    });
    std::printf("%d callers: %.0f commits/s, %.0f reads/s\n", threads, commits, reads);
    std::fflush(stdout);
  }
  return 0;
}
