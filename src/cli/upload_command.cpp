#include "cli/upload_command.h"

#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "cli/progress.h"
#include "core/hash.h"
#include "core/ids.h"

namespace imgd::cli {

void AddUploadFlags(CLI::App* cmd, UploadOptions& o) {
  cmd->add_option("files", o.files, "JPEG files")->required()->check(CLI::ExistingFile);
  cmd->add_option("--server", o.server, "imgd base URL")->envname("IMGD_SERVER");
  cmd->add_option("--key", o.key, "API key")->envname("IMGD_API_KEY")->required();
  cmd->add_option("--name", o.name, "imageName (default: the file name)");
  cmd->add_option("--description", o.description, "imageDescription");
  cmd->add_option("--on-duplicate", o.on_duplicate, "return | reject | new")
      ->check(CLI::IsMember({"return", "reject", "new"}));
  cmd->add_option("--threshold", o.threshold,
                  "files larger than this many bytes use the resumable flow");
  cmd->add_option("--chunk", o.chunk, "bytes per resumable request")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd->add_flag("!--no-check", o.check,
                "send every file without first asking (by its SHA-256) whether it is stored");
  cmd->add_option("--retries", o.retries, "attempts after a lost connection, per file")
      ->check(CLI::Range(0, 1000));
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// A connection failed: the request may be retried.
struct ConnectionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Answer {
  unsigned status = 0;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : std::string(it->value());
  }
  bhttp::fields headers;
};

// Bytes [offset, offset + length) of a file as a request body.
struct FileRange {
  const std::string* path = nullptr;
  uint64_t offset = 0;
  uint64_t length = 0;
  const std::string* bytes = nullptr;  // in memory instead of path (length of them)
};

class Client {
 public:
  Client(const std::string& server, std::string key) : key_(std::move(key)) {
    auto u = boost::urls::parse_absolute_uri(server);
    if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty()) {
      throw std::invalid_argument("--server must be an http:// or https:// URL");
    }
    tls_ = u->scheme() == "https";
    host_ = u->host_address();
    port_ = u->has_port() ? std::string(u->port()) : (tls_ ? "443" : "80");
    base_path_ = std::string(u->encoded_path());
    while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
    host_header_ = u->encoded_host_and_port();
    tls_ctx_.set_default_verify_paths();
    tls_ctx_.set_verify_mode(asio::ssl::verify_peer);
  }

  const std::string& base_path() const { return base_path_; }

  // One request on a fresh connection. Throws ConnectionError when it could not complete.
  Answer Send(bhttp::verb verb, const std::string& target, const bhttp::fields& extra,
              const FileRange* body, const std::function<void(uint64_t)>& sent) {
    try {
      asio::ip::tcp::resolver resolver(ioc_);
      auto endpoints = resolver.resolve(host_, port_);
      if (tls_) {
        beast::ssl_stream<beast::tcp_stream> s(ioc_, tls_ctx_);
        if (!SSL_set_tlsext_host_name(s.native_handle(), host_.c_str())) {
          throw ConnectionError("cannot set TLS server name");
        }
        s.set_verify_callback(asio::ssl::host_name_verification(host_));
        beast::get_lowest_layer(s).connect(endpoints);
        SetTimeouts(beast::get_lowest_layer(s).socket());
        s.handshake(asio::ssl::stream_base::client);
        return Exchange(s, verb, target, extra, body, sent);
      }
      beast::tcp_stream s(ioc_);
      s.connect(endpoints);
      SetTimeouts(s.socket());
      return Exchange(s, verb, target, extra, body, sent);
    } catch (const boost::system::system_error& e) {
      throw ConnectionError(e.what());
    }
  }

 private:
  static void SetTimeouts(asio::ip::tcp::socket& socket) {
    timeval tv{120, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  template <class Stream>
  Answer Exchange(Stream& s, bhttp::verb verb, const std::string& target,
                  const bhttp::fields& extra, const FileRange* body,
                  const std::function<void(uint64_t)>& sent) {
    bhttp::request<bhttp::buffer_body> req{verb, base_path_ + target, 11};
    for (const auto& f : extra) req.set(f.name_string(), f.value());
    req.set(bhttp::field::host, host_header_);
    req.set(bhttp::field::user_agent, "imgd-cli/" IMGD_VERSION);
    req.set(bhttp::field::authorization, "Bearer " + key_);
    req.content_length(body ? body->length : 0);
    req.body().data = nullptr;
    req.body().more = body && body->length > 0;
    bhttp::request_serializer<bhttp::buffer_body> sr{req};
    bhttp::write_header(s, sr);
    if (body && body->bytes) {
      req.body().data = const_cast<char*>(body->bytes->data());
      req.body().size = body->bytes->size();
      req.body().more = false;
      beast::error_code ec;
      bhttp::write(s, sr, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) throw boost::system::system_error(ec);
    } else if (body && body->length > 0) {
      std::ifstream in(*body->path, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(body->offset));
      std::vector<char> buf(1 << 20);
      uint64_t left = body->length;
      while (left > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
        if (!in.read(buf.data(), static_cast<std::streamsize>(n))) {
          throw std::runtime_error("cannot read " + *body->path);
        }
        left -= n;
        req.body().data = buf.data();
        req.body().size = n;
        req.body().more = left > 0;
        beast::error_code ec;
        bhttp::write(s, sr, ec);
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) throw boost::system::system_error(ec);
        sent(body->length - left);
      }
    }
    if (!sr.is_done()) bhttp::write(s, sr);
    beast::flat_buffer b;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(16 << 20);
    if (verb == bhttp::verb::head) parser.skip(true);  // a HEAD answer has no body
    bhttp::read(s, b, parser);
    auto res = parser.release();
    Answer a;
    a.status = res.result_int();
    a.body = std::move(res.body());
    a.headers = std::move(res.base());
    return a;
  }

  std::string key_;
  bool tls_ = false;
  std::string host_, port_, base_path_, host_header_;
  asio::io_context ioc_;
  asio::ssl::context tls_ctx_{asio::ssl::context::tls_client};
};

std::string Escape(const std::string& s) {
  boost::urls::url u;
  u.params().append({"v", s});
  return std::string(u.encoded_query()).substr(2);
}

// A failed answer as the error member of the file's JSON line.
json::value ProblemOf(const Answer& a) {
  boost::system::error_code ec;
  json::value v = json::parse(a.body, ec);
  if (!ec && v.is_object()) return v;
  return json::object{{"status", a.status}, {"detail", a.body.substr(0, 200)}};
}

struct Outcome {
  bool ok = false;
  json::object line;
};

class Uploader {
 public:
  Uploader(const UploadOptions& o, Client& c, bool tty) : o_(o), client_(c), tty_(tty) {}

  Outcome Upload(const std::string& path) {
    Outcome out;
    out.line["file"] = path;
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) {
      out.line["error"] = json::object{{"detail", "cannot read file: " + ec.message()}};
      return out;
    }
    const std::string name =
        o_.name.empty() ? std::filesystem::path(path).filename().string() : o_.name;
    if (std::optional<Answer> known = AlreadyStored(path, size, name)) {
      out.ok = true;
      out.line["image"] = json::parse(known->body);
      out.line["flow"] = "already-stored";  // nothing sent but the question
      return out;
    }
    ProgressBar bar(tty_, std::filesystem::path(path).filename().string(), size);
    Answer a =
        size > o_.threshold ? Resumable(path, size, name, bar) : Direct(path, size, name, bar);
    bar.Update(size, true);
    bar.Finish();
    boost::system::error_code pec;
    json::value v = json::parse(a.body, pec);
    if (a.status / 100 == 2 && !pec && v.is_object()) {
      out.ok = true;
      out.line["image"] = v;
      out.line["flow"] = size > o_.threshold ? "resumable" : "direct";
    } else {
      out.line["error"] = ProblemOf(a);
    }
    return out;
  }

 private:
  // Retries fn after connection failures with exponential backoff.
  template <typename F>
  Answer WithRetries(F fn) {
    auto delay = std::chrono::milliseconds(250);
    for (int attempt = 0;; ++attempt) {
      try {
        return fn();
      } catch (const ConnectionError& e) {
        if (attempt >= o_.retries) throw;
        if (tty_) std::fprintf(stdout, "\n  connection lost (%s), retrying\n", e.what());
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::milliseconds(8000));
      }
    }
  }

  // Asks whether the caller already has these bytes (the pre-signed flow's sha256) before
  // sending any: a file already stored comes back as its image. For new bytes the question
  // makes a pending image, which is deleted; the file then goes by its usual flow. Only
  // under onDuplicate=return (the others need the bytes sent), and not with --no-check.
  std::optional<Answer> AlreadyStored(const std::string& path, uint64_t size,
                                      const std::string& name) {
    if (!o_.check || !(o_.on_duplicate.empty() || o_.on_duplicate == "return")) {
      return std::nullopt;
    }
    Sha256 hasher;
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
      hasher.Update(buf.data(), static_cast<size_t>(in.gcount()));
    }
    const std::string question = json::serialize(
        json::object{{"imageName", name}, {"size", size}, {"sha256", hasher.FinalHex()}});
    Answer a = WithRetries([&] {
      bhttp::fields h;
      h.set(bhttp::field::content_type, "application/json");
      FileRange body{nullptr, 0, question.size(), &question};
      return client_.Send(bhttp::verb::post, "/v1/images", h, &body, [](uint64_t) {});
    });
    boost::system::error_code pec;
    json::value v = json::parse(a.body, pec);
    if (pec || !v.is_object()) return std::nullopt;
    if (a.status == 200 && v.as_object().contains("duplicate")) return a;
    if (a.status == 201 && v.as_object().contains("imageId")) {
      const std::string pending(v.as_object().at("imageId").as_string());
      WithRetries([&] {
        return client_.Send(bhttp::verb::delete_, "/v1/images/" + pending, {}, nullptr,
                            [](uint64_t) {});
      });
    }
    return std::nullopt;  // new bytes, or a server without the check: send them
  }

  std::string DuplicateQuery(char sep) const {
    return o_.on_duplicate.empty() ? "" : std::string(1, sep) + "onDuplicate=" + o_.on_duplicate;
  }

  Answer Direct(const std::string& path, uint64_t size, const std::string& name, ProgressBar& bar) {
    // The same key on every attempt: a retry after a lost answer cannot make a second image.
    const std::string idempotency_key = "imgd-cli-" + RandomToken(16);
    std::string target = "/v1/images?imageName=" + Escape(name);
    if (!o_.description.empty()) target += "&imageDescription=" + Escape(o_.description);
    target += DuplicateQuery('&');
    return WithRetries([&] {
      bhttp::fields h;
      h.set(bhttp::field::content_type, "image/jpeg");
      h.set("Idempotency-Key", idempotency_key);
      FileRange body{&path, 0, size};
      return client_.Send(bhttp::verb::post, target, h, &body, [&](uint64_t n) { bar.Update(n); });
    });
  }

  Answer Resumable(const std::string& path, uint64_t size, const std::string& name,
                   ProgressBar& bar) {
    auto b64 = [](const std::string& s) { return Base64Encode(s); };
    std::string meta = "imageName " + b64(name) + ",filename " +
                       b64(std::filesystem::path(path).filename().string());
    if (!o_.description.empty()) meta += ",imageDescription " + b64(o_.description);
    Answer created = WithRetries([&] {
      bhttp::fields h;
      h.set("Tus-Resumable", "1.0.0");
      h.set("Upload-Length", std::to_string(size));
      h.set("Upload-Metadata", meta);
      return client_.Send(bhttp::verb::post, "/v1/uploads" + DuplicateQuery('?'), h, nullptr,
                          [](uint64_t) {});
    });
    if (created.status != 201) return created;
    // The upload's path below the server's base.
    std::string location = created.Header("Location");
    auto loc = boost::urls::parse_uri_reference(location);
    std::string upload = loc ? std::string(loc->encoded_path()) : location;
    if (!client_.base_path().empty() && upload.rfind(client_.base_path(), 0) == 0) {
      upload = upload.substr(client_.base_path().size());
    }
    uint64_t offset = 0;
    auto delay = std::chrono::milliseconds(250);
    for (int failures = 0;;) {
      try {
        if (failures > 0) {
          // Where to resume: the offset the server acknowledges.
          bhttp::fields h;
          h.set("Tus-Resumable", "1.0.0");
          Answer head = client_.Send(bhttp::verb::head, upload, h, nullptr, [](uint64_t) {});
          if (head.status != 200) return head;
          offset = std::stoull(head.Header("Upload-Offset"));
          bar.Restart(offset);
        }
        const uint64_t length = std::min(o_.chunk, size - offset);
        bhttp::fields h;
        h.set("Tus-Resumable", "1.0.0");
        h.set("Upload-Offset", std::to_string(offset));
        h.set(bhttp::field::content_type, "application/offset+octet-stream");
        FileRange body{&path, offset, length};
        const uint64_t start = offset;
        Answer a = client_.Send(bhttp::verb::patch, upload, h, &body,
                                [&](uint64_t n) { bar.Update(start + n); });
        if (a.status == 423 || a.status == 409) {
          // A cut-short request still finishing, or our offset is stale: ask again.
          if (++failures > o_.retries) return a;
          std::this_thread::sleep_for(delay);
          continue;
        }
        if (a.status / 100 != 2) return a;
        offset = std::stoull(a.Header("Upload-Offset"));
        if (offset >= size) return a;  // the last PATCH answers with the image
        failures = 0;
        delay = std::chrono::milliseconds(250);
      } catch (const ConnectionError& e) {
        if (++failures > o_.retries) throw;
        if (tty_) std::fprintf(stdout, "\n  connection lost (%s), resuming\n", e.what());
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::milliseconds(8000));
      }
    }
  }

  const UploadOptions& o_;
  Client& client_;
  bool tty_;
};

}  // namespace

int RunUpload(const UploadOptions& opts) {
  Client client(opts.server, opts.key);
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  Uploader uploader(opts, client, tty);
  int failed = 0;
  for (const auto& file : opts.files) {
    Outcome out;
    try {
      out = uploader.Upload(file);
    } catch (const std::exception& e) {
      out.line["file"] = file;
      out.line["error"] = json::object{{"detail", std::string("connection failed: ") + e.what()}};
    }
    if (!out.ok) ++failed;
    if (tty) {
      if (out.ok) {
        const auto& im = out.line["image"].as_object();
        std::cout << file << " -> " << std::string_view(im.at("imageId").as_string()) << " ("
                  << im.at("width").as_int64() << "x" << im.at("height").as_int64()
                  << (im.contains("duplicate") ? ", duplicate" : "") << ")\n";
      } else {
        std::cout << file << ": " << json::serialize(out.line["error"]) << "\n";
      }
    } else {
      std::cout << json::serialize(out.line) << "\n";
    }
    std::cout.flush();
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace imgd::cli
