#pragma once
// imgd transform: the server's pipeline on a local file (validation included), for trying
// settings and timing the pipeline without a server.
#include <CLI/CLI.hpp>
#include <string>

#include "config/config.h"
#include "image/transform_spec.h"

namespace imgd::cli {

struct TransformArgs {
  std::string input, output;
  TransformSpec spec;
  std::string fit = "cover";
  std::string path = "auto";
  std::string background;
  int repeat = 1;
};

void AddTransformFlags(CLI::App* cmd, TransformArgs& a);
// Returns the exit code; throws Error for bad input.
int RunTransform(const TransformArgs& a, const Config& cfg);

}  // namespace imgd::cli
