// The imgd command: parses the command line and runs one subcommand (see cli/).
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/admin_commands.h"
#include "cli/app.h"
#include "cli/migrate_command.h"
#include "cli/serve_command.h"
#include "cli/transform_command.h"
#include "cli/upload_command.h"
#include "config/flags.h"
#include "core/errors.h"
#include "image/vips_decode.h"

int main(int argc, char** argv) {
  using namespace imgd;
  // Transforms allocate tens of MB per image (decode buffers, a progressive file's
  // coefficients). Above glibc's default threshold each allocation is a fresh mmap whose
  // page faults cost more than the decoding itself; keep such blocks in the heap for reuse.
  // Admission control bounds how much can be live at once.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  CLI::App app_cli{"imgd: upload, store, resize and deliver JPEG images"};
  app_cli.require_subcommand(1);
  Config cfg;

  auto* serve = app_cli.add_subcommand("serve", "run the HTTP server");
  AddServeFlags(serve, cfg);

  auto* user = app_cli.add_subcommand("user", "manage users");
  user->require_subcommand(1);
  auto* user_create = user->add_subcommand("create", "create a user and print its API key");
  std::string user_name, user_email;
  user_create->add_option("--name", user_name)->required();
  user_create->add_option("--email", user_email)->required();
  AddStoreFlags(user_create, cfg);

  auto* gc = app_cli.add_subcommand(
      "gc",
      "remove leftover staged files and unreferenced blobs (the server must be stopped; "
      "a running server sweeps by itself)");
  int64_t grace_s = 3600;
  gc->add_option("--grace", grace_s, "only remove files untouched for this many seconds")
      ->envname("IMGD_GC_GRACE");
  AddStoreFlags(gc, cfg);

  auto* transform = app_cli.add_subcommand(
      "transform", "resize a local JPEG file with the server's pipeline (validation included)");
  cli::TransformArgs transform_args;
  cli::AddTransformFlags(transform, transform_args);

  auto* upload = app_cli.add_subcommand(
      "upload", "send JPEG files to a running imgd (resumable above --threshold bytes)");
  cli::UploadOptions upload_opts;
  cli::AddUploadFlags(upload, upload_opts);

  auto* migrate = app_cli.add_subcommand(
      "migrate",
      "create or upgrade the metadata schema; with --from-*/--to-*, copy everything between "
      "stores");
  AddStoreFlags(migrate, cfg);
  cli::MigrateOptions migrate_opts;
  cli::AddMigrateFlags(migrate, migrate_opts);

  CLI11_PARSE(app_cli, argc, argv);
  if (const char* k = std::getenv("IMGD_ADMIN_KEY")) cfg.admin_key = k;

  try {
    if (upload->parsed()) return cli::RunUpload(upload_opts);
    if (migrate->parsed() && !migrate_opts.from_meta.empty()) return cli::RunMigrate(migrate_opts);
    cfg.Validate();
    VipsStartup(argv[0]);
    if (transform->parsed()) return cli::RunTransform(transform_args, cfg);
    if (serve->parsed()) return cli::RunServe(cfg);
    cfg.Finalize(cfg.listen);
    cli::App app(cfg);
    if (user_create->parsed()) return cli::RunUserCreate(app, user_name, user_email);
    if (gc->parsed()) return cli::RunGc(app, cfg, grace_s);
    std::cout << "schema is up to date" << std::endl;  // migrate without a copy
  } catch (const Error& e) {
    std::cerr << "imgd: " << e.detail() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "imgd: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
