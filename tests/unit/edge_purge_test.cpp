// The edge purge outbox in every metadata store (its contract), and the EdgePurger that
// delivers it to an edge: here a real HTTP listener on loopback that records each PURGE and
// answers as told (the Varnish edge itself is in integration/test_edge.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/ids.h"
#include "service/edge_purger.h"
#include "store_fixtures.h"

using namespace imgd;
using namespace imgd::testing;

namespace {

PurgeTask Task(const std::string& edge, const std::string& keys, int64_t due_ms) {
  return {NewUuidV7(), edge, keys, NowMs(), due_ms, 0};
}

// An edge's purge listener: answers every request with `status`, keeping what it got.
class FakeEdge {
 public:
  FakeEdge() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeEdge() {
    stop_ = true;
    boost::system::error_code ec;
    // Wakes the accept with a connection of our own.
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::atomic<unsigned> status{200};
  std::vector<std::pair<std::string, std::string>> Received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void Serve() {
    namespace bhttp = boost::beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) continue;
      boost::beast::flat_buffer buf;
      bhttp::request<bhttp::string_body> req;
      bhttp::read(socket, buf, req, ec);
      if (ec) continue;
      {
        std::lock_guard lock(mu_);
        received_.emplace_back(std::string(req["xkey-purge"]), std::string(req["X-Purge-Token"]));
      }
      bhttp::response<bhttp::string_body> res(static_cast<bhttp::status>(status.load()), 11);
      res.body() = "{}";
      res.prepare_payload();
      bhttp::write(socket, res, ec);
    }
  }
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> received_;
};

// A port nothing listens on: bound, then closed.
std::string DeadEdgeUrl() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return "http://127.0.0.1:" + std::to_string(port);
}

}  // namespace

TEST_P(MetaStoreTest, PurgeOutboxKeepsEachEdgesTasksUntilRemoved) {
  const int64_t now = NowMs();
  PurgeTask a1 = Task("http://a:1", "img-1", now);
  PurgeTask a2 = Task("http://a:1", "img-2", now + 60'000);
  PurgeTask b1 = Task("http://b:2", "img-1", now);
  store_->AddPurges({a1, a2, b1});
  store_->AddPurges({a1});  // again: overwritten, not doubled

  auto a = store_->PendingPurges("http://a:1", 100);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].id, a1.id);  // oldest first
  EXPECT_EQ(a[0].keys, "img-1");
  EXPECT_EQ(a[0].due_ms, now);
  EXPECT_EQ(a[1].id, a2.id);
  EXPECT_EQ(a[1].due_ms, now + 60'000);
  EXPECT_EQ(store_->PendingPurges("http://a:1", 1).size(), 1u);
  EXPECT_EQ(store_->PurgeEdges(), (std::vector<std::string>{"http://a:1", "http://b:2"}));

  store_->RetryPurge(a1, now + 5'000, 3);
  a = store_->PendingPurges("http://a:1", 100);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].attempts, 3);
  EXPECT_EQ(a[0].due_ms, now + 5'000);
  EXPECT_EQ(a[0].keys, "img-1");

  store_->RemovePurge(a1);
  store_->RemovePurge(b1);
  a = store_->PendingPurges("http://a:1", 100);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].id, a2.id);
  EXPECT_TRUE(store_->PendingPurges("http://b:2", 100).empty());
  // Another node sees the same outbox.
  EXPECT_EQ(Open()->PendingPurges("http://a:1", 100).size(), 1u);
}

// The purger's logic is store-independent: one SQLite store (the outbox contract above runs
// on every store).
TEST(EdgePurger, DeliversEachPurgeWhenDueAndRetriesAnEdgeThatFailed) {
  TempDir dir;
  auto store = OpenMetaStore("sqlite://" + (dir.path() / "t.db").string());
  store->Migrate();
  FakeEdge up, refusing;
  const std::string down = DeadEdgeUrl();
  refusing.status = 503;
  Metrics metrics;
  EdgePurgeOptions o;
  o.edges = {up.url(), refusing.url(), down};
  o.token = "t0ken";
  o.repeats = {std::chrono::hours(1)};
  o.min_backoff = std::chrono::milliseconds(0);  // a failed task is due again at once
  EdgePurger purger(*store, metrics, o);
  std::vector<std::string> seen;
  purger.OnPendingKey([&](std::string_view key) { seen.emplace_back(key); });

  purger.Enqueue({ImageSurrogateKey("abc"), BlobSurrogateKey("f00")});
  // Per edge: the purge now and its repeat later.
  EXPECT_EQ(store->PendingPurges(up.url(), 10).size(), 2u);
  EXPECT_EQ(purger.DeliverDue(), 1u);  // only the healthy edge acknowledged
  ASSERT_EQ(up.Received().size(), 1u);
  EXPECT_EQ(up.Received()[0].first, "img-abc blob-f00");
  // Every pending task's keys were seen (this node drops its cached records of them).
  EXPECT_NE(std::find(seen.begin(), seen.end(), "img-abc"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "blob-f00"), seen.end());
  EXPECT_EQ(up.Received()[0].second, "t0ken");
  EXPECT_EQ(store->PendingPurges(up.url(), 10).size(), 1u);  // the repeat waits

  // The refusing and the unreachable edge keep theirs, marked as failed once.
  for (const auto& edge : {refusing.url(), down}) {
    auto left = store->PendingPurges(edge, 10);
    ASSERT_EQ(left.size(), 2u) << edge;
    EXPECT_EQ(left[0].attempts, 1) << edge;
  }
  EXPECT_NE(metrics.Render().find("imgd_edge_purges_failed_total{edge=\"" + down + "\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.Render().find("imgd_edge_purges_pending{edge=\"" + down + "\"} 2"),
            std::string::npos);

  // The edge comes back: the next round delivers what it missed.
  refusing.status = 200;
  EXPECT_EQ(purger.DeliverDue(), 1u);
  EXPECT_EQ(refusing.Received().back().first, "img-abc blob-f00");
  EXPECT_EQ(store->PendingPurges(refusing.url(), 10).size(), 1u);

  // An edge dropped from the configuration: its tasks go, and are counted.
  EdgePurgeOptions fewer = o;
  fewer.edges = {up.url()};
  EdgePurger reconfigured(*store, metrics, fewer);
  reconfigured.DeliverDue();
  EXPECT_TRUE(store->PendingPurges(down, 10).empty());
  EXPECT_TRUE(store->PendingPurges(refusing.url(), 10).empty());
  EXPECT_NE(metrics.Render().find("imgd_edge_purges_dropped_total 3"), std::string::npos);

  EdgePurgeOptions twice;
  twice.edges = {"a=http://e:1", "a=http://f:2"};
  EXPECT_THROW(EdgePurger(*store, metrics, twice), std::invalid_argument);
}

TEST(EdgePurgeUrl, AcceptsPlainHttpOnly) {
  EXPECT_EQ(ParsePurgeUrl("http://127.0.0.1:6081").port, "6081");
  EXPECT_EQ(ParsePurgeUrl("http://edge.local").port, "80");
  EXPECT_EQ(ParsePurgeUrl("http://edge:81/purge").target, "/purge");
  EXPECT_THROW(ParsePurgeUrl("https://edge:443"), std::invalid_argument);
  EXPECT_THROW(ParsePurgeUrl("edge:80"), std::invalid_argument);
  EXPECT_THROW(ParsePurgeUrl("http://user:pw@edge:80"), std::invalid_argument);
  // Named edges: one identity however each node reaches it.
  EXPECT_EQ(ParsePurgeEdge("eu=http://10.1.2.3:6081").name, "eu");
  EXPECT_EQ(ParsePurgeEdge("eu=http://10.1.2.3:6081").endpoint.port, "6081");
  EXPECT_EQ(ParsePurgeEdge("http://e:1/?a=b").name, "http://e:1/?a=b");
  EXPECT_THROW(ParsePurgeEdge("=http://e:1"), std::invalid_argument);
}
