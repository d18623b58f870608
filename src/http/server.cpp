#include "http/server.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/offload.h"
#include "core/traced_executor.h"
#include "http/access_log.h"
#include "http/drained_read.h"
#include "http/fast_lane.h"
#include "http/lane_request.h"
#include "http/response_head.h"
#include "http/server_conn.h"
#include "http/stream_io.h"
#include "http/target.h"
#include "obs/log.h"
#include "obs/spans.h"

namespace imgd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

asio::awaitable<void> Server::Accept() {
  for (;;) {
    // Round robin over the network threads' contexts; the connection stays on its thread.
    const size_t turn = next_context_++ % (extra_.size() + 1);
    asio::io_context& ctx = turn == 0 ? ioc_ : *extra_[turn - 1];
    auto [ec, socket] = co_await acceptor_.async_accept(ctx, kTuple);
    if (ec) {
      if (draining_.load() || ec == asio::error::operation_aborted) co_return;
      LogJson("warn", "accept failed", {{"error", ec.message()}});
      continue;
    }
    boost::system::error_code nd_ec;
    socket.set_option(tcp::no_delay(true), nd_ec);
    std::string ip;
    {
      boost::system::error_code ep_ec;
      auto ep = socket.remote_endpoint(ep_ec);
      if (!ep_ec) ip = ep.address().to_string();
    }
    auto conn = std::make_shared<Conn>(std::move(socket), tls_.get());
    if (turn < probes_.size()) conn->probe = probes_[turn];
    conn->client_ip = ip;
    bool over_limit = false;
    {
      std::lock_guard lock(conns_mu_);
      size_t& mine = conns_per_ip_[ip];
      over_limit = conns_.size() >= opts_.max_connections || mine >= opts_.max_connections_per_ip;
      if (!over_limit) {
        conns_.insert(conn);
        ++mine;
      } else if (mine == 0) {
        conns_per_ip_.erase(ip);
      }
    }
    if (over_limit) {
      metrics_.Inc("imgd_http_connections_refused_total");
      asio::co_spawn(conn->transport().get_executor(), Refuse(conn), asio::detached);
      continue;
    }
    ++active_;
    // The context's own executor type, not the type-erased one: the wrapper then fits in
    // any_io_executor's small buffer (callgrind: 1.3k fewer instructions a request).
    TracedExecutor ex(ctx.get_executor(), conn->trace_slot);
    asio::co_spawn(ex, conn->tls ? Secure(conn) : Session(conn, conn->plain.socket()),
                   [this, conn](std::exception_ptr) {
                     {
                       std::lock_guard lock(conns_mu_);
                       conns_.erase(conn);
                       auto it = conns_per_ip_.find(conn->client_ip);
                       if (it != conns_per_ip_.end() && --it->second == 0) conns_per_ip_.erase(it);
                     }
                     --active_;
                     MaybeStop();
                   });
  }
}

// A TLS connection: the handshake (within the header timeout, as it precedes the first
// request), the HTTP session over it, then close_notify when the session ended cleanly.
asio::awaitable<void> Server::Secure(std::shared_ptr<Conn> conn) {
  conn->deadline.Arm(opts_.header_timeout);
  auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::server, kTuple);
  if (hec) {
    metrics_.Inc("imgd_tls_handshake_failures_total");
    boost::system::error_code ec;
    conn->transport().socket().close(ec);
    co_return;
  }
  co_await Session(conn, *conn->tls);
}

template <class Stream>
asio::awaitable<void> Server::CloseNotify(const std::shared_ptr<Conn>& conn, Stream& stream) {
  if constexpr (!std::is_same_v<Stream, tcp::socket>) {
    // close_notify, so the client knows the answer was complete; bounded in time.
    conn->transport().expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kTuple);
  }
}

template <class Stream>
asio::awaitable<boost::system::error_code> Server::ReadHeader(Conn& conn, Stream& stream,
                                                              beast::flat_buffer& buf,
                                                              HeaderParser& parser) {
  parser.header_limit(static_cast<std::uint32_t>(opts_.header_limit));
  // The declared length is checked against the route's limit later, with a 413.
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  size_t n = ParseBufferedHeader(parser, buf, ec);
  if (ec == bhttp::error::need_more) {
    // Once a request has started, its whole header must come within header_timeout (a
    // client dripping it byte by byte cannot hold the connection for long).
    conn.deadline.Arm(opts_.header_timeout);
    size_t more = 0;
    std::tie(ec, more) = co_await bhttp::async_read_header(stream, buf, parser, kTuple);
    n += more;
  }
  // Beast applies header_limit per parse attempt: a header of many small fields that all
  // arrive after the first read can pass it. The whole header's size is checked here.
  if (!ec && n > opts_.header_limit) ec = bhttp::error::header_limit;
  if (ec) {
    // Answered as problem+json like every other error; the connection closes after it.
    const std::string problem = HeaderFailureAnswer(ec, opts_.header_limit);
    if (!problem.empty()) co_await asio::async_write(stream, asio::buffer(problem), kTuple);
  }
  co_return ec;
}

template <class Stream>
asio::awaitable<void> Server::Session(std::shared_ptr<Conn> conn, Stream& stream) {
  beast::flat_buffer buf;
  const std::string& client_ip = conn->client_ip;
  // Kept across the connection's requests: their storage is reused.
  std::string request_id;
  const FastLane* fast_lane = opts_.fast_lane ? router_.fast_lane() : nullptr;
  LaneRequest lane;
  PlainTarget plain_target;
  FastAnswer fast;
  std::string fast_head;
  constexpr bool kPlain = std::is_same_v<Stream, tcp::socket>;
  RequestReader<Stream> reader(stream);
  for (;;) {
    if (draining_.load()) break;
    conn->idle = true;
    // Kept alive, a connection may wait idle_timeout for its next request.
    if (buf.size() == 0) {
      conn->deadline.Arm(opts_.idle_timeout);
      auto [fec, fn] = co_await reader.AsyncReadSome(buf.prepare(kFirstRead), kTuple);
      if (fec) break;  // closed or idle too long: nothing to answer
      buf.commit(fn);
    }
    // The warm lane's strict reading first (lane_request.h): a whole header already here, in
    // the subset, for a target the lane can take. Beast reads everything else.
    const bool strict =
        fast_lane &&
        ParseLaneRequest({static_cast<const char*>(buf.data().data()), buf.size()}, lane) &&
        lane.header_size <= opts_.header_limit && ParsePlainTarget(lane.target, plain_target);
    std::optional<HeaderParser> header_parser;
    if (!strict) {
      auto& parser = header_parser.emplace();
      const boost::system::error_code hec = co_await ReadHeader(*conn, stream, buf, parser);
      if (hec) break;
    }
    conn->idle = false;
    const bhttp::verb verb = strict ? bhttp::verb::get : header_parser->get().method();
    const bool without_body = strict || header_parser->is_done();
    if (shedder_->Shed(conn->probe, verb,
                       strict ? lane.target : std::string_view(header_parser->get().target()))) {
      // Refused before any other work (no trace, no routing, no handler, no log line of its
      // own): a refusal must cost far less than the request it spares.
      const bool keep = (strict ? lane.keep_alive : header_parser->get().keep_alive()) &&
                        without_body && !draining_.load();
      if (strict) buf.consume(lane.header_size);
      const std::string answer = ShedAnswer(NewRequestId(), keep);
      conn->deadline.Arm(opts_.io_timeout);
      auto [sec, sn] = co_await asio::async_write(stream, asio::buffer(answer), kTuple);
      if (!sec && !without_body) co_await Linger(conn);  // an unread body
      if (sec || !keep) break;
      continue;
    }
    const auto started = std::chrono::steady_clock::now();
    ++in_flight_;
    struct InFlight {
      std::atomic<int>& n;
      ~InFlight() { --n; }
    } in_flight_guard{in_flight_};
    std::string_view given_id = lane.request_id, traceparent = lane.traceparent;
    if (!strict) {
      const auto& fields = header_parser->get();
      auto it = fields.find("X-Request-Id");
      given_id = it == fields.end() ? std::string_view() : std::string_view(it->value());
      traceparent = fields["traceparent"];
    }
    if (ValidRequestId(given_id)) {
      request_id.assign(given_id);
    } else {
      AssignRequestId(request_id);
    }
    // Current from here on, also on the pool threads the handler's blocking calls run on.
    StartSpan(conn->trace_slot->trace, traceparent, opts_.trace_sample_ratio);
    const TraceContext& trace = conn->trace_slot->trace;
    const int64_t started_unix_ns = Recording(&trace) ? UnixNanos() : 0;

    // The warm lane: a cached variant or a 304 answered here, before routing (fast_lane.h).
    std::exception_ptr refused;  // admission's answer: asked once, whichever path answers
    bool admitted = false;
    if (strict) {
      try {
        if (opts_.admit) opts_.admit(verb, plain_target.path, client_ip);
        admitted = true;
      } catch (...) {
        refused = std::current_exception();
      }
      fast.header_lines.clear();
      if (admitted && fast_lane->TryAnswer(plain_target, lane, fast)) {
        buf.consume(lane.header_size);
        const bool keep = lane.keep_alive && !draining_.load();
        FastAnswerHead(fast, request_id, keep, fast_head);
        const std::string_view body = fast.body ? std::string_view(*fast.body) : "";
        conn->deadline.Arm(opts_.io_timeout);
        boost::system::error_code wec;
        if constexpr (kPlain) {  // sendfile: plain TCP only
          if (fast.body_file) wec = co_await WriteHeadAndFile(stream, fast_head, *fast.body_file);
        }
        if (!fast.body_file || !kPlain) wec = co_await WriteParts(stream, fast_head, body);
        RecordRequest(
            metrics_,
            {request_id, trace, verb, "GET", *fast.route, plain_target.path,
             static_cast<int>(fast.status), 0, wec ? 0 : body.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
             std::string(), client_ip, started_unix_ns, true});
        fast.body.reset();
        fast.body_file.reset();
        if (wec || !keep) {
          if (!wec) co_await CloseNotify(conn, stream);
          break;
        }
        continue;
      }
      // Declined: Beast reads the same header (already whole here) for the general path.
      auto& parser = header_parser.emplace();
      const boost::system::error_code hec = co_await ReadHeader(*conn, stream, buf, parser);
      if (hec) break;
    }
    const auto& req = header_parser->get();

    const bool expect_continue =
        beast::iequals(req[bhttp::field::expect], "100-continue") && req.version() >= 11;
    bool keep_alive = req.keep_alive();
    const std::string method(req.method_string());
    const std::string target(req.target());

    bhttp::request_parser<bhttp::buffer_body> body_parser(std::move(*header_parser));
    body_parser.body_limit(opts_.max_body_bytes);
    const auto& hdr = body_parser.get();
    SocketBody<Stream> body(stream, conn->deadline, buf, body_parser, opts_.io_timeout,
                            expect_continue);

    Response resp;
    static const std::string kUnmatched = "unmatched";
    const std::string* route_label = &kUnmatched;  // the route's own string: no copy
    std::string user_id;
    bool client_gone = false;
    auto parsed = ParseTarget(target);
    try {
      if (!parsed) throw BadRequest("malformed request target");
      if (refused) std::rethrow_exception(refused);
      if (opts_.admit && !admitted) opts_.admit(hdr.method(), parsed->path, client_ip);
      auto match = router_.Find(hdr.method(), parsed->path);
      if (!match.route) {
        if (!match.allowed.empty()) {
          resp = MethodNotAllowed(method, match.allowed, request_id);
        } else {
          throw NotFound("no such resource: " + parsed->path);
        }
      } else {
        route_label = &match.route->pattern;
        if (hdr.has_content_length() && body_parser.content_length() &&
            *body_parser.content_length() > opts_.max_body_bytes) {
          throw PayloadTooLarge("declared Content-Length exceeds the upload limit of " +
                                std::to_string(opts_.max_body_bytes) + " bytes");
        }
        RequestContext ctx{hdr,       parsed->path,       parsed->query, match.params, request_id,
                           client_ip, match.head_via_get, body,          {},           trace};
        try {
          resp = co_await match.route->handler(ctx);
        } catch (...) {
          user_id = ctx.user_id;
          throw;
        }
        user_id = ctx.user_id;
      }
    } catch (const ClientGone&) {
      client_gone = true;
    } catch (const Error& e) {
      resp = Problem(e, request_id);
    } catch (const StoreError& e) {
      LogJson("error", "store failure",
              {{"requestId", request_id}, {"traceId", trace.trace_id}, {"error", e.what()}});
      resp =
          Problem(Unavailable("storage is temporarily unavailable; retry shortly", 2), request_id);
    } catch (const std::exception& e) {
      LogJson("error", "unhandled error",
              {{"requestId", request_id}, {"traceId", trace.trace_id}, {"error", e.what()}});
      resp = Problem(Error(ErrorCode::kInternal, "internal",
                           "an unexpected error occurred; it has been logged"),
                     request_id);
    }
    if (client_gone) break;
    // A body we did not read to the end would be parsed as the next request: close.
    if (!body.complete()) keep_alive = false;
    if (draining_.load()) keep_alive = false;

    resp.headers.set("X-Request-Id", request_id);
    uint64_t sent = 0;
    boost::system::error_code wec;
    const bool no_body = resp.head || resp.status == bhttp::status::not_modified ||
                         resp.status == bhttp::status::no_content;
    // The head and the first bytes of the body leave in one gather write (one syscall for
    // a small answer); a body held in memory is sent from where it is.
    std::optional<uint64_t> length;
    if (resp.status != bhttp::status::not_modified && resp.status != bhttp::status::no_content) {
      length = resp.ContentLength();
    }
    const std::string head = ResponseHead(resp.status, resp.headers, length, keep_alive);
    conn->deadline.Arm(opts_.io_timeout);
    if (no_body || !resp.stream) {
      wec = co_await WriteParts(stream, head,
                                std::string_view(resp.body.data(), no_body ? 0 : resp.body.size()));
      if (!wec && !no_body) sent = resp.body.size();
    } else if (const char* memory = resp.stream->Contiguous()) {
      wec = co_await WriteParts(
          stream, head,
          std::string_view(memory + resp.stream_offset, static_cast<size_t>(resp.stream_length)));
      if (!wec) sent = resp.stream_length;
    } else {
      std::tie(wec, sent) =
          co_await WriteStreamed(stream, conn->deadline, opts_.io_timeout, blocking_, head,
                                 *resp.stream, resp.stream_offset, resp.stream_length, request_id);
    }

    RecordRequest(
        metrics_,
        {request_id, trace, hdr.method(), method, *route_label,
         parsed ? std::string_view(parsed->path) : std::string_view(target),
         static_cast<int>(resp.status), body.received(), sent,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), user_id,
         client_ip, started_unix_ns});
    if (!wec && !body.complete()) {
      co_await Linger(conn);  // a body we refused may still be arriving
      break;
    }
    if (wec) break;
    if (!keep_alive) {
      co_await CloseNotify(conn, stream);
      break;
    }
  }
  boost::system::error_code ec;
  conn->transport().socket().shutdown(tcp::socket::shutdown_send, ec);
  conn->transport().socket().close(ec);
}

}  // namespace imgd::http
