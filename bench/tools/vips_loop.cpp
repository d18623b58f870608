// The library floor for cold transforms: Debian's libvips in a plain C++ loop, no HTTP, no
// storage. Each thread runs vips_thumbnail_buffer + vips_jpegsave_buffer (q80) on the same
// in-memory JPEG, like sharp's loop; libvips' own worker threads are set to 1 so parallelism
// comes from CONCURRENCY alone.
// usage: vips-loop FILE WIDTH CONCURRENCY SECONDS MAX_IMAGES
// prints {"images_per_s":..,"latencies_ms":[...],"vips":"8.14.1"} on stdout.
#include <vips/vips.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

bool ThumbnailOnce(const std::string& jpeg, int width) {
  VipsImage* out = nullptr;
  if (vips_thumbnail_buffer(const_cast<char*>(jpeg.data()), jpeg.size(), &out, width, nullptr) !=
      0) {
    return false;
  }
  void* bytes = nullptr;
  size_t length = 0;
  const int rc = vips_jpegsave_buffer(out, &bytes, &length, "Q", 80, nullptr);
  g_object_unref(out);
  g_free(bytes);
  return rc == 0 && length > 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s FILE WIDTH CONCURRENCY SECONDS MAX_IMAGES\n", argv[0]);
    return 2;
  }
  if (VIPS_INIT(argv[0]) != 0) return 1;
  vips_concurrency_set(1);
  vips_cache_set_max(0);  // cold: no operation cache between iterations
  std::ifstream in(argv[1], std::ios::binary);
  const std::string jpeg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const int width = std::atoi(argv[2]);
  const int threads = std::atoi(argv[3]);
  const auto end = Clock::now() + std::chrono::duration<double>(std::atof(argv[4]));
  const long max_images = std::atol(argv[5]);

  std::atomic<long> started{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::vector<double> latencies;
  const auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (Clock::now() < end && started.fetch_add(1) < max_images) {
        const auto a = Clock::now();
        if (!ThumbnailOnce(jpeg, width)) {
          failed = true;
          return;
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
        std::lock_guard lock(mu);
        latencies.push_back(ms);
      }
    });
  }
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed) {
    std::fprintf(stderr, "vips: %s\n", vips_error_buffer());
    return 1;
  }
  std::printf("{\"images_per_s\":%.3f,\"vips\":\"%s\",\"latencies_ms\":[",
              latencies.size() / seconds, vips_version_string());
  for (size_t i = 0; i < latencies.size(); ++i) {
    std::printf("%s%.3f", i ? "," : "", latencies[i]);
  }
  std::printf("]}\n");
  vips_shutdown();
  return 0;
}
