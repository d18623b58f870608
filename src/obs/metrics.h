#pragma once
// A small Prometheus registry: labelled counters, gauges and histograms, rendered in the
// text exposition format. Thread-safe; updates take one short lock.
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace imgd {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  Metrics();

  void Inc(const std::string& name, const Labels& labels = {}, double by = 1);
  void Set(const std::string& name, const Labels& labels, double value);
  void Observe(const std::string& name, const Labels& labels, double value);

  // Gauges computed at scrape time.
  void AddCallback(const std::string& name, std::function<double()> fn);

  std::string Render();

 private:
  struct Family {
    std::string type;  // counter | gauge | histogram
    std::string help;
    std::vector<double> buckets;
  };
  struct Histogram {
    std::vector<uint64_t> counts;
    uint64_t count = 0;
    double sum = 0;
  };
  void Declare(const std::string& name, const std::string& type, const std::string& help,
               std::vector<double> buckets = {});
  // The label set as Prometheus text (name="value",...), written into out.
  static void Key(const Labels& labels, std::string& out);
  // The series of `name` with these labels, created on first use; lookups of existing
  // series allocate nothing (they run on every request).
  template <typename T>
  static T& Series(std::map<std::string, std::map<std::string, T, std::less<>>, std::less<>>& all,
                   const std::string& name, const Labels& labels);

  std::mutex mu_;
  std::map<std::string, Family> families_;
  std::map<std::string, std::map<std::string, double, std::less<>>, std::less<>> values_;
  std::map<std::string, std::map<std::string, Histogram, std::less<>>, std::less<>> histograms_;
  std::map<std::string, std::function<double()>> callbacks_;
};

}  // namespace imgd
