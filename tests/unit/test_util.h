#pragma once
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/memory_source.h"

namespace imgd::testing {

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A corpus file's bytes, by its path relative to the corpus (as in MANIFEST.tsv).
inline std::string ReadCorpus(const std::string& rel) {
  return ReadFile(std::string(IMGD_CORPUS_DIR) + "/" + rel);
}

struct ManifestRow {
  std::string path;
  std::string width, height, kind, expected;
};

inline std::vector<ManifestRow> Manifest() {
  std::ifstream f(std::string(IMGD_CORPUS_DIR) + "/MANIFEST.tsv");
  std::vector<ManifestRow> rows;
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, '\t')) cols.push_back(c);
    if (cols.size() < 7) continue;
    rows.push_back({cols[0], cols[2], cols[3], cols[5], cols[6]});
  }
  return rows;
}

// A fresh empty directory, removed at destruction.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("imgd-test-" + RandomToken(8));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace imgd::testing
