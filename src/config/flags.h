#pragma once
// The command-line flags (and their IMGD_* environment variables) that fill a Config.
#include <CLI/CLI.hpp>

#include "config/config.h"

namespace imgd {

// --data, --meta, --blob: every command that opens the stores.
void AddStoreFlags(CLI::App* cmd, Config& cfg);
// Everything `imgd serve` takes (the stores included).
void AddServeFlags(CLI::App* serve, Config& cfg);

}  // namespace imgd
