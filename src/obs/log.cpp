#include "obs/log.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/trace.h"

namespace imgd {
namespace {

// Lines are appended to a buffer that one writer thread drains to stderr every 50 ms, or at
// once for warnings and errors. A network thread never writes to stderr itself and never
// wakes another thread for an access-log line (waking one per line cost ~10% of a cached
// read's CPU). If stderr stalls and the buffer reaches its cap, new lines are dropped and
// counted, so logging can never block or grow memory without bound.
class LogWriter {
 public:
  LogWriter() : thread_([this] { Loop(); }) {
    std::atexit([] { FlushLogs(); });
  }

  void Append(std::string_view line, bool urgent) {
    std::lock_guard lock(mu_);
    if (stopped_) {  // after the final flush (exit handlers): write through
      Write(std::string(line) + '\n');
      return;
    }
    if (buffer_.size() + line.size() > kCap) {
      ++dropped_;
      return;
    }
    buffer_ += line;
    buffer_ += '\n';
    if (urgent || buffer_.size() >= kWakeAt) cv_.notify_one();
  }

  // Writes everything appended so far; stops the writer thread when final.
  void Flush(bool final) {
    std::unique_lock lock(mu_);
    if (final) {
      if (stopped_) return;
      stopped_ = true;
      cv_.notify_one();
      lock.unlock();
      if (thread_.joinable()) thread_.join();
      lock.lock();
    }
    std::string out;
    out.swap(buffer_);
    lock.unlock();
    Write(out);
  }

 private:
  static constexpr size_t kWakeAt = 256 * 1024;
  static constexpr size_t kCap = 16u << 20;

  void Loop() {
    std::unique_lock lock(mu_);
    std::string out;
    while (!stopped_) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      if (dropped_ > 0) {
        buffer_ += R"({"level":"warn","msg":"log lines dropped: stderr too slow","dropped":)" +
                   std::to_string(dropped_) + "}\n";
        dropped_ = 0;
      }
      out.swap(buffer_);
      lock.unlock();
      Write(out);
      out.clear();
      lock.lock();
    }
  }

  static void Write(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::write(STDERR_FILENO, s.data() + off, s.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stderr closed: nothing sensible to do
      off += static_cast<size_t>(n);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;
  size_t dropped_ = 0;
  bool stopped_ = false;
  std::thread thread_;
};

LogWriter& Writer() {
  static LogWriter* writer = new LogWriter();  // never destroyed: usable until exit
  return *writer;
}

}  // namespace

void LogJson(const std::string& level, const std::string& msg, boost::json::object fields) {
  boost::json::object line;
  line["time"] = FormatIsoMs(NowMs());
  line["level"] = level;
  line["msg"] = msg;
  // Inside a request (or a store call it made), its trace.
  if (const TraceContext* t = CurrentTrace()) {
    line["traceId"] = t->trace_id;
    line["spanId"] = t->span_id;
  }
  for (auto& [k, v] : fields) line[k] = std::move(v);
  Writer().Append(boost::json::serialize(line), level != "info" && level != "debug");
}

void LogRawJson(std::string_view line, bool urgent) { Writer().Append(line, urgent); }

namespace {
// Whether any of the 8 bytes in w needs escaping in a JSON string: a control byte (< 0x20),
// a byte >= 0x80, '"' or '\\'. Bit tricks over a word, since most log text needs none.
bool WordNeedsEscape(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) !=
         0;
}
}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  // Bytes that need no escaping go out in runs (an access-log line is mostly such runs).
  static const auto kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
    return t;
  }();
  out += '"';
  for (size_t i = 0; i < s.size();) {
    size_t run = i;
    for (uint64_t w; run + 8 <= s.size(); run += 8) {
      std::memcpy(&w, s.data() + run, 8);
      if (WordNeedsEscape(w)) break;
    }
    while (run < s.size() && kPlain[static_cast<unsigned char>(s[run])]) ++run;
    out.append(s.data() + i, run - i);
    if (run == s.size()) break;
    i = run + 1;
    const char ch = s[run];
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c >= 0x80) {  // bytes, not text: a line stays valid JSON whatever
                                         // a client sent
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

void FlushLogs() { Writer().Flush(true); }

}  // namespace imgd
