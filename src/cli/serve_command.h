#pragma once
// imgd serve: the HTTP server on the stores of a Config, until SIGTERM/SIGINT.
#include "config/config.h"

namespace imgd::cli {

// Returns the exit code (0 after a clean drain, 1 when the data directory is in use).
int RunServe(Config& cfg);

}  // namespace imgd::cli
