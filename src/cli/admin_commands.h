#pragma once
// imgd user create and imgd gc: one-shot commands on the stores of a stopped (gc) or running
// (user create) server.
#include <cstdint>
#include <string>

#include "cli/app.h"

namespace imgd::cli {

// Creates a user and prints its id and API key (shown once). Returns the exit code.
int RunUserCreate(App& app, const std::string& name, const std::string& email);
// Sweeps leftovers untouched for grace_s seconds; refuses (1) while a server holds the data
// directory, which sweeps by itself. Returns the exit code.
int RunGc(App& app, const Config& cfg, int64_t grace_s);

}  // namespace imgd::cli
