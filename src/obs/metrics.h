#pragma once
// A small Prometheus registry: labelled counters, gauges and histograms, rendered in the
// text exposition format. Thread-safe; updates take one short lock.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace imgd {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  Metrics();
  // Unique per registry in the process (for caches of its cells).
  uint64_t id() const { return id_; }

  void Inc(const std::string& name, const Labels& labels = {}, double by = 1);
  void Set(const std::string& name, const Labels& labels, double value);
  void Observe(const std::string& name, const Labels& labels, double value);

  // Gauges computed at scrape time.
  void AddCallback(const std::string& name, std::function<double()> fn);

  // For code that runs on every request: a series resolved once (created if new), then
  // updated with no lookup and no allocation. Valid for the registry's life (series are
  // never removed).
  struct Histogram;
  double* CounterCell(const std::string& name, const Labels& labels);
  Histogram* HistogramCell(const std::string& name, const Labels& labels);
  struct Add {
    double* cell;
    double by;
  };
  // Under one lock: every cell += by, then the histogram (when given) observes value.
  void Update(std::initializer_list<Add> adds, Histogram* histogram, double value);

  std::string Render();

 private:
  struct Family {
    std::string type;  // counter | gauge | histogram
    std::string help;
    std::vector<double> buckets;
  };
  // The histogram series, created with its family's buckets if new; mu_ held.
  Histogram& HistogramLocked(const std::string& name, const Labels& labels);
  static void ObserveInto(Histogram& h, double value);
  void Declare(const std::string& name, const std::string& type, const std::string& help,
               std::vector<double> buckets = {});
  // The label set as Prometheus text (name="value",...), written into out.
  static void Key(const Labels& labels, std::string& out);
  // The series of `name` with these labels, created on first use; lookups of existing
  // series allocate nothing (they run on every request).
  template <typename T>
  static T& Series(std::map<std::string, std::map<std::string, T, std::less<>>, std::less<>>& all,
                   const std::string& name, const Labels& labels);

  const uint64_t id_;
  std::mutex mu_;
  std::map<std::string, Family> families_;
  std::map<std::string, std::map<std::string, double, std::less<>>, std::less<>> values_;
  std::map<std::string, std::map<std::string, Histogram, std::less<>>, std::less<>> histograms_;
  std::map<std::string, std::function<double()>> callbacks_;
};

struct Metrics::Histogram {
  const std::vector<double>* buckets = nullptr;  // the family's upper bounds
  std::vector<uint64_t> counts;  // cumulative: counts[i] observations <= (*buckets)[i]
  uint64_t count = 0;
  double sum = 0;
};

}  // namespace imgd
