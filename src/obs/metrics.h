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
  static std::string Key(const Labels& labels);

  std::mutex mu_;
  std::map<std::string, Family> families_;
  std::map<std::string, std::map<std::string, double>> values_;
  std::map<std::string, std::map<std::string, Histogram>> histograms_;
  std::map<std::string, std::function<double()>> callbacks_;
};

}  // namespace imgd
