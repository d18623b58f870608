#include "cli/admin_commands.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>
#include <utility>

namespace imgd::cli {

int RunUserCreate(App& app, const std::string& name, const std::string& email) {
  User admin;
  admin.is_admin = true;
  boost::asio::io_context ioc;
  std::pair<User, std::string> out;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        out = co_await app.users->CreateUser(admin, name, email);
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  std::cout << "userId: " << out.first.id << "\napiKey: " << out.second << std::endl;
  return 0;
}

int RunGc(App& app, const Config& cfg, int64_t grace_s) {
  if (!LockDataDir(cfg.data_dir)) {
    std::cerr << "imgd gc: a server is running on " << cfg.data_dir
              << "; it sweeps leftovers itself (--gc-interval). Stop it to run gc by hand."
              << std::endl;
    return 1;
  }
  SweepCounts c = Sweep(app, grace_s);
  std::cout << "gc: removed " << c.staged << " staged files, " << c.orphans
            << " unreferenced blobs, " << c.uploads << " expired pending images/uploads and "
            << c.idempotency_keys << " idempotency records" << std::endl;
  return 0;
}

}  // namespace imgd::cli
