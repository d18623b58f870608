#pragma once
// imgd migrate --from-meta URL --to-meta URL --from-blob URL --to-blob URL: copies users,
// keys, ready images and their bytes from one pair of stores to another (e.g. the embedded
// default to PostgreSQL + S3). Each blob is streamed and its SHA-256 verified before the
// image record that needs it is written; records and blobs already at the destination are
// skipped, so an interrupted copy resumes by running the command again. The source is only
// read. Pending uploads, idempotency records and variants are not copied (transient or
// remade on demand). A progress bar on a terminal; a summary line at the end.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace imgd::cli {

struct MigrateOptions {
  std::string from_meta, to_meta, from_blob, to_blob;
  int64_t max_images = -1;  // stop after this many images (tests interrupt with it)
};

// The --from-*/--to-* flags of `imgd migrate`.
void AddMigrateFlags(CLI::App* cmd, MigrateOptions& o);

// Returns the exit code (0 on success).
int RunMigrate(const MigrateOptions& opts);

}  // namespace imgd::cli
