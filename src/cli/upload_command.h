#pragma once
// imgd upload: sends local JPEG files to a running imgd. First it asks by the file's SHA-256
// whether the caller already has it (then nothing is sent). Files up to the threshold go in one
// request (POST /v1/images, retried with an Idempotency-Key); larger ones use the resumable
// flow (tus: POST /v1/uploads, then PATCH), resuming from the server's acknowledged offset
// after a dropped connection. On a terminal a progress bar (bytes, rate, ETA) is drawn and a
// line per image printed; otherwise one JSON line per file is written to stdout.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace imgd::cli {

struct UploadOptions {
  std::vector<std::string> files;
  std::string server = "http://127.0.0.1:8080";
  std::string key;
  std::string name;  // default: the file name
  std::string description;
  std::string on_duplicate;          // return | reject | new (server default when empty)
  uint64_t threshold = 16ull << 20;  // larger files use the resumable flow
  uint64_t chunk = 64ull << 20;      // bytes per PATCH request
  int retries = 8;                   // attempts after a failed connection, per file
  bool check = true;                 // ask by SHA-256 first; a stored file is not sent
};

// The flags of `imgd upload`.
void AddUploadFlags(CLI::App* cmd, UploadOptions& o);

// Returns the process exit code: 0 when every file was stored, 1 otherwise.
int RunUpload(const UploadOptions& opts);

}  // namespace imgd::cli
