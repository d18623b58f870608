// The similarity index at library scale: COUNT hashes in one user's library of a metadata
// store (URL), then QUERIES lookups at the default distance (10) of hashes near a stored
// one. Prints insert rate, lookup p50/p99 and the candidates a lookup read.
// The hashes are random 64-bit values with exactly 32 bits set (as pHash's median split
// makes them), so every band value is about equally likely: 1,000,000 / 65,536 = 15 images
// share each band value, and a lookup reads 4 x 137 band values.
// usage: imgd-similar-index URL COUNT QUERIES [both|index|query]
// (index, then query: the same hashes (a fixed seed), so a database can be analysed between.)
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "meta/meta_store.h"

namespace {

uint64_t Balanced(std::mt19937_64& rng) {
  for (;;) {
    const uint64_t h = rng();
    if (std::popcount(h) == 32) return h;
  }
}

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: imgd-similar-index URL COUNT QUERIES [both|index|query]\n");
    return 2;
  }
  const std::string phase = argc == 5 ? argv[4] : "both";
  auto store = imgd::OpenMetaStore(argv[1]);
  store->Migrate();
  const long count = std::atol(argv[2]);
  const long queries = std::atol(argv[3]);
  std::mt19937_64 rng(42);
  std::vector<uint64_t> hashes;
  hashes.reserve(static_cast<size_t>(count));
  const std::string user = "bench-user";
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    hashes.push_back(Balanced(rng));
    if (phase != "query") store->IndexSimilar(user, "img-" + std::to_string(i), hashes.back());
    if ((i + 1) % 100000 == 0) std::fprintf(stderr, "%ld indexed\n", i + 1);
  }
  const double insert_s = Ms(std::chrono::steady_clock::now() - t0) / 1000;
  if (phase == "index") {
    std::printf("%ld hashes indexed in %.1f s (%.0f/s)\n", count, insert_s, count / insert_s);
    return 0;
  }
  std::vector<double> lat;
  size_t found = 0;
  for (long q = 0; q < queries; ++q) {
    // A stored hash with 6 bits moved (3 set, 3 cleared): a near-duplicate to find.
    uint64_t h = hashes[static_cast<size_t>(rng() % hashes.size())];
    for (int k = 0; k < 3; ++k) {
      int one, zero;
      do one = static_cast<int>(rng() % 64);
      while (!((h >> one) & 1));
      do zero = static_cast<int>(rng() % 64);
      while ((h >> zero) & 1);
      h ^= (uint64_t{1} << one) | (uint64_t{1} << zero);
    }
    const auto s = std::chrono::steady_clock::now();
    auto r = store->FindSimilar(user, h, 10, 20);
    lat.push_back(Ms(std::chrono::steady_clock::now() - s));
    found += !r.empty();
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  std::printf(
      "%ld hashes indexed in %.1f s (%.0f/s); %ld lookups at distance 10: p50 %.2f ms, p99 %.2f "
      "ms; %zu found their near-duplicate\n",
      count, insert_s, count / insert_s, queries, pct(0.50), pct(0.99), found);
  return 0;
}
