#include "net/purge_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <stdexcept>

namespace imgd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

PurgeEndpoint ParsePurgeUrl(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "http" || u->host().empty() || u->has_userinfo()) {
    throw std::invalid_argument("an edge purge URL must be http://host:port[/path], not '" + url +
                                "'");
  }
  PurgeEndpoint e;
  e.host = u->host_address();
  e.port = u->has_port() ? std::string(u->port()) : "80";
  e.target = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
  return e;
}

PurgeEdge ParsePurgeEdge(const std::string& entry) {
  const size_t eq = entry.find('=');
  if (eq == std::string::npos || entry.find("://") < eq) return {entry, ParsePurgeUrl(entry)};
  if (eq == 0) throw std::invalid_argument("an edge name is empty in '" + entry + "'");
  return {entry.substr(0, eq), ParsePurgeUrl(entry.substr(eq + 1))};
}

unsigned SendPurge(const PurgeEndpoint& edge, const std::string& keys, const std::string& token,
                   std::chrono::milliseconds timeout) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::error_code ec;
  auto addresses = resolver.resolve(edge.host, edge.port, ec);
  if (ec) throw std::runtime_error("resolving " + edge.host + ": " + ec.message());
  stream.expires_after(timeout);
  stream.connect(addresses, ec);
  if (ec)
    throw std::runtime_error("connecting to " + edge.host + ":" + edge.port + ": " + ec.message());
  bhttp::request<bhttp::empty_body> req(bhttp::verb::purge, edge.target, 11);
  req.set(bhttp::field::host, edge.host + ":" + edge.port);
  req.set("xkey-purge", keys);
  req.set("Surrogate-Key", keys);
  if (!token.empty()) req.set("X-Purge-Token", token);
  req.set(bhttp::field::connection, "close");
  bhttp::write(stream, req, ec);
  if (ec) throw std::runtime_error("sending the purge: " + ec.message());
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024);
  bhttp::read(stream, buffer, parser, ec);
  if (ec) throw std::runtime_error("reading the edge's answer: " + ec.message());
  return parser.get().result_int();
}

}  // namespace imgd
