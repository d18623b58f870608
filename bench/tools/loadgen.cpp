// Open-loop HTTP load generator for the seed's mix: requests leave on a Poisson schedule at a
// fixed rate whether or not earlier ones were answered, and each latency is measured from the
// moment the request was due, so queueing anywhere (client backlog, connection setup, server)
// shows in the percentiles (no coordinated omission). Reads pick a path from --reads by a Zipf
// law over its line order; one request in --upload-every is an upload of one of the --upload
// files, made unique by a COM segment so every upload is new content.
//
// usage: imgd-loadgen --port P --rate R --seconds S --reads FILE --key KEY
//                     [--upload FILE]... [--upload-every 101] [--zipf 1.0] [--max-conns 512]
//                     [--timeout 10] [--seed 1]
// prints one JSON object: offered and achieved rates, per class (read, upload) counts, errors
// by kind and latency percentiles in ms.
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  double rate = 100;
  double seconds = 10;
  std::string reads_file;
  std::vector<std::string> upload_files;
  int upload_every = 101;  // 1 upload per 100 reads
  double zipf = 1.0;
  int max_conns = 512;
  double timeout = 10;
  unsigned seed = 1;
  std::string key;
};

enum class Kind { kRead, kUpload };

struct Job {
  long id;
  Kind kind;
  size_t index;  // read path or upload file
  Clock::time_point due;
};

struct ClassStats {
  long sent = 0;
  long ok = 0;
  std::map<std::string, long> errors;
  std::vector<double> latencies_ms;  // every request, failed ones included
  std::vector<double> ok_ms;         // the answered ones (what the SLO holds for, shedding)
  std::vector<double> shed_ms;       // 503s (refused by overload shedding)
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class LoadGen {
 public:
  explicit LoadGen(Options options) : opt_(std::move(options)), timer_(io_), rng_(opt_.seed) {
    std::ifstream in(opt_.reads_file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) reads_.push_back(line);
    }
    if (reads_.empty()) throw std::runtime_error("no read paths in " + opt_.reads_file);
    double sum = 0;
    for (size_t k = 1; k <= reads_.size(); ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k), opt_.zipf);
      zipf_cdf_.push_back(sum);
    }
    for (auto& c : zipf_cdf_) c /= sum;
    for (const auto& f : opt_.upload_files) uploads_.push_back(ReadFile(f));
    endpoint_ = tcp::endpoint(asio::ip::make_address(opt_.host), opt_.port);
  }

  void Run() {
    start_ = Clock::now();
    end_ = start_ +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt_.seconds));
    next_due_ = start_;
    Schedule();
    io_.run();
  }

  void Print() const {
    const double elapsed = std::chrono::duration<double>(finished_ - start_).count();
    long done = 0;
    for (const auto* s : {&read_, &upload_}) done += static_cast<long>(s->latencies_ms.size());
    std::printf("{\"offered_rate\":%.1f,\"seconds\":%.3f,\"achieved_rate\":%.1f,", opt_.rate,
                opt_.seconds, (read_.ok + upload_.ok) / opt_.seconds);
    std::printf("\"max_conns_used\":%d,\"drain_seconds\":%.3f,\"read\":", max_open_,
                elapsed - opt_.seconds);
    PrintClass(read_);
    std::printf(",\"upload\":");
    PrintClass(upload_);
    std::printf(",\"answered\":%ld}\n", done);
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    std::optional<http::response_parser<http::string_body>> parser;
    bool connected = false;
  };

  static double Percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const double k = (v.size() - 1) * p / 100;
    const size_t lo = static_cast<size_t>(k);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (k - static_cast<double>(lo));
  }

  static void PrintClass(const ClassStats& s) {
    const auto& v = s.latencies_ms;
    auto pct = [&](double p) { return Percentile(v, p); };
    std::printf("{\"sent\":%ld,\"ok\":%ld,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f,",
                s.sent, s.ok, pct(50), pct(90), pct(99),
                v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
    std::printf("\"ok_p50\":%.2f,\"ok_p99\":%.2f,\"shed\":%zu,\"shed_p50\":%.2f,\"shed_p99\":%.2f,",
                Percentile(s.ok_ms, 50), Percentile(s.ok_ms, 99), s.shed_ms.size(),
                Percentile(s.shed_ms, 50), Percentile(s.shed_ms, 99));
    std::printf("\"errors\":{");
    bool first = true;
    for (const auto& [kind, n] : s.errors) {
      std::printf("%s\"%s\":%ld", first ? "" : ",", kind.c_str(), n);
      first = false;
    }
    std::printf("}}");
  }

  // Issues every request due by now, then sleeps until the next one is due.
  void Schedule() {
    const auto now = Clock::now();
    std::exponential_distribution<double> gap(opt_.rate);
    while (next_due_ <= now && next_due_ < end_) {
      Job job{++counter_, Kind::kRead, 0, next_due_};
      if (!uploads_.empty() && counter_ % opt_.upload_every == 0) {
        job.kind = Kind::kUpload;
        job.index = upload_turn_++ % uploads_.size();
      } else {
        const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
        job.index = static_cast<size_t>(std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u) -
                                        zipf_cdf_.begin());
        job.index = std::min(job.index, reads_.size() - 1);
      }
      Dispatch(job);
      next_due_ +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(rng_)));
    }
    if (next_due_ < end_) {
      timer_.expires_at(next_due_);
      timer_.async_wait([this](beast::error_code ec) {
        if (!ec) Schedule();
      });
    } else {
      scheduling_done_ = true;
      // Whatever has not been answered timeout seconds after the last send counts as failed.
      timer_.expires_at(end_ + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(opt_.timeout)));
      timer_.async_wait([this](beast::error_code ec) {
        if (!ec) Finish();
      });
      MaybeFinish();
    }
  }

  void Dispatch(const Job& job) {
    (job.kind == Kind::kRead ? read_ : upload_).sent++;
    in_flight_.emplace(job.id, job);
    if (!idle_.empty()) {
      auto conn = idle_.back();
      idle_.pop_back();
      Send(conn, job);
    } else if (open_ < opt_.max_conns) {
      Open(job);
    } else {
      backlog_.push_back(job);
    }
  }

  void Open(const Job& job) {
    auto conn = std::make_shared<Conn>(io_);
    ++open_;
    max_open_ = std::max(max_open_, open_);
    conn->stream.expires_after(Timeout());
    conn->stream.async_connect(endpoint_, [this, conn, job](beast::error_code ec) {
      if (ec) return Fail(conn, job, "connect");
      conn->connected = true;
      Send(conn, job);
    });
  }

  void Send(const std::shared_ptr<Conn>& conn, const Job& job) {
    auto& req = conn->req;
    req = {};
    req.version(11);
    req.set(http::field::host, opt_.host);
    req.keep_alive(true);
    if (job.kind == Kind::kRead) {
      req.method(http::verb::get);
      req.target(reads_[job.index]);
    } else {
      req.method(http::verb::post);
      req.target("/v1/images");
      req.set(http::field::authorization, "Bearer " + opt_.key);
      req.set(http::field::content_type, "image/jpeg");
      req.body() = UniqueUpload(job.index);
    }
    req.prepare_payload();
    conn->stream.expires_after(Timeout());
    http::async_write(conn->stream, req, [this, conn, job](beast::error_code ec, size_t) {
      if (ec) return Fail(conn, job, "write");
      conn->parser.emplace();
      conn->parser->body_limit(512u << 20);
      http::async_read(conn->stream, conn->buffer, *conn->parser,
                       [this, conn, job](beast::error_code ec2, size_t) {
                         if (ec2) return Fail(conn, job, "read");
                         const unsigned status = conn->parser->get().result_int();
                         const bool keep = conn->parser->get().keep_alive();
                         const bool good = job.kind == Kind::kRead
                                               ? (status == 200 || status == 304)
                                               : (status == 201 || status == 200);
                         Record(job, good ? "" : "status-" + std::to_string(status));
                         if (keep) {
                           Reuse(conn);
                         } else {
                           Close(conn);
                         }
                       });
    });
  }

  // The upload file with a 20-byte COM segment after SOI: new bytes, same picture.
  std::string UniqueUpload(size_t index) {
    const std::string& jpeg = uploads_[index];
    std::string tag(16, '\0');
    for (auto& c : tag) c = static_cast<char>(rng_());
    std::string body;
    body.reserve(jpeg.size() + 20);
    body.append(jpeg, 0, 2);
    body += "\xff\xfe";
    body += static_cast<char>(0);
    body += static_cast<char>(tag.size() + 2);
    body += tag;
    body.append(jpeg, 2, std::string::npos);
    return body;
  }

  void Record(const Job& job, const std::string& error) {
    auto& s = job.kind == Kind::kRead ? read_ : upload_;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - job.due).count();
    s.latencies_ms.push_back(ms);
    if (error == "status-503") s.shed_ms.push_back(ms);
    if (error.empty()) {
      s.ok_ms.push_back(ms);
      s.ok++;
    } else {
      s.errors[error]++;
    }
    in_flight_.erase(job.id);
    MaybeFinish();
  }

  void Fail(const std::shared_ptr<Conn>& conn, const Job& job, const char* stage) {
    Record(job, std::string(stage) + "-error");
    Close(conn);
  }

  void Reuse(const std::shared_ptr<Conn>& conn) {
    if (!backlog_.empty()) {
      const Job job = backlog_.front();
      backlog_.pop_front();
      Send(conn, job);
    } else {
      idle_.push_back(conn);
    }
  }

  void Close(const std::shared_ptr<Conn>& conn) {
    beast::error_code ignored;
    conn->stream.socket().close(ignored);
    --open_;
    if (!backlog_.empty() && !finished_flag_) {
      const Job job = backlog_.front();
      backlog_.pop_front();
      Open(job);
    }
  }

  void MaybeFinish() {
    if (scheduling_done_ && in_flight_.empty()) Finish();
  }

  void Finish() {
    if (finished_flag_) return;
    finished_flag_ = true;
    finished_ = Clock::now();
    // Requests not answered (still queued here or at the server) count as failed, with the time
    // they have waited so far.
    for (const auto& [id, job] : in_flight_) {
      auto& s = job.kind == Kind::kRead ? read_ : upload_;
      s.latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(finished_ - job.due).count());
      s.errors["unanswered"]++;
    }
    backlog_.clear();
    io_.stop();
  }

  Clock::duration Timeout() const {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt_.timeout));
  }

  Options opt_;
  asio::io_context io_;
  asio::steady_timer timer_;
  std::mt19937_64 rng_;
  tcp::endpoint endpoint_;
  std::vector<std::string> reads_;
  std::vector<double> zipf_cdf_;
  std::vector<std::string> uploads_;
  Clock::time_point start_, end_, next_due_, finished_;
  long counter_ = 0;
  size_t upload_turn_ = 0;
  std::unordered_map<long, Job> in_flight_;
  int open_ = 0;
  int max_open_ = 0;
  bool scheduling_done_ = false;
  bool finished_flag_ = false;
  std::vector<std::shared_ptr<Conn>> idle_;
  std::deque<Job> backlog_;
  ClassStats read_, upload_;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value for " + a);
    const std::string v = argv[++i];
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      o.port = static_cast<unsigned short>(std::stoi(v));
    } else if (a == "--rate") {
      o.rate = std::stod(v);
    } else if (a == "--seconds") {
      o.seconds = std::stod(v);
    } else if (a == "--reads") {
      o.reads_file = v;
    } else if (a == "--upload") {
      o.upload_files.push_back(v);
    } else if (a == "--upload-every") {
      o.upload_every = std::max(1, std::stoi(v));
    } else if (a == "--zipf") {
      o.zipf = std::stod(v);
    } else if (a == "--max-conns") {
      o.max_conns = std::max(1, std::stoi(v));
    } else if (a == "--timeout") {
      o.timeout = std::stod(v);
    } else if (a == "--seed") {
      o.seed = static_cast<unsigned>(std::stoul(v));
    } else if (a == "--key") {
      o.key = v;
    } else {
      throw std::runtime_error("unknown option " + a);
    }
  }
  if (o.port == 0 || o.reads_file.empty() || o.rate <= 0 || o.seconds <= 0) {
    throw std::runtime_error("need --port, --reads, --rate > 0 and --seconds > 0");
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    LoadGen gen(ParseArgs(argc, argv));
    gen.Run();
    gen.Print();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "imgd-loadgen: %s\n", e.what());
    return 2;
  }
  return 0;
}
