// Accuracy of the perceptual hash (image/perceptual_hash.h) through the real upload path
// (ValidateJpeg on encoded bytes): pairs made from each photo in a corpus folder with
// libvips (re-encodes, resizes, metadata stripped, brightness +-10%, greyscale, crops,
// which a person calls the same photo; mirrored and rotated copies, which are reported
// apart), every pair of different photos, and the corpus' own duplicate groups. Prints
// each kind's distances and a precision/recall table by threshold.
// usage: phash-eval CORPUS_DIR
#include <vips/vips.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "core/memory_source.h"
#include "image/jpeg_decode_check.h"
#include "image/jpeg_validate.h"
#include "image/perceptual_hash.h"

namespace {

std::string Read(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

uint64_t Hash(const std::string& jpeg) {
  imgd::MemorySource src(jpeg);
  auto v = imgd::ValidateJpeg(src, imgd::JpegLimits{});
  return v.phash.value_or(0);
}

std::string Save(VipsImage* im, int q, bool strip) {
  void* buf = nullptr;
  size_t len = 0;
  if (vips_jpegsave_buffer(im, &buf, &len, "Q", q, "strip", strip ? TRUE : FALSE, nullptr) != 0) {
    return {};
  }
  std::string out(static_cast<char*>(buf), len);
  g_free(buf);
  return out;
}

// Each variant: its name, whether a person calls it the same photo, and how to make it.
struct Made {
  std::string kind;
  bool same;
  std::string bytes;
};

std::vector<Made> Variants(const std::string& jpeg) {
  std::vector<Made> out;
  VipsImage* in = vips_image_new_from_buffer(jpeg.data(), jpeg.size(), "", nullptr);
  if (!in) return out;
  VipsImage* t = nullptr;
  for (int q : {95, 75, 50})
    out.push_back({"re-encoded q" + std::to_string(q), true, Save(in, q, false)});
  out.push_back({"metadata stripped (q90)", true, Save(in, 90, true)});
  for (double s : {0.5, 0.25}) {
    if (vips_resize(in, &t, s, nullptr) == 0) {
      out.push_back({"resized x" + std::to_string(s).substr(0, 4), true, Save(t, 85, false)});
      g_object_unref(t);
    }
  }
  for (double a : {1.1, 0.9}) {
    if (vips_linear1(in, &t, a, 0.0, "uchar", TRUE, nullptr) == 0) {
      out.push_back({a > 1 ? "brightness +10%" : "brightness -10%", true, Save(t, 85, false)});
      g_object_unref(t);
    }
  }
  if (vips_colourspace(in, &t, VIPS_INTERPRETATION_B_W, nullptr) == 0) {
    out.push_back({"greyscale", true, Save(t, 85, false)});
    g_object_unref(t);
  }
  for (double c : {0.02, 0.05}) {
    const int dx = static_cast<int>(in->Xsize * c), dy = static_cast<int>(in->Ysize * c);
    if (vips_crop(in, &t, dx, dy, in->Xsize - 2 * dx, in->Ysize - 2 * dy, nullptr) == 0) {
      out.push_back({"cropped " + std::to_string(static_cast<int>(c * 100)) + "% a side", true,
                     Save(t, 85, false)});
      g_object_unref(t);
    }
  }
  if (vips_flip(in, &t, VIPS_DIRECTION_HORIZONTAL, nullptr) == 0) {
    out.push_back({"mirrored", false, Save(t, 85, false)});
    g_object_unref(t);
  }
  if (vips_rot(in, &t, VIPS_ANGLE_D90, nullptr) == 0) {
    out.push_back({"rotated 90", false, Save(t, 85, false)});
    g_object_unref(t);
  }
  g_object_unref(in);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || VIPS_INIT(argv[0])) {
    std::fprintf(stderr, "usage: phash-eval CORPUS_DIR\n");
    return 2;
  }
  const std::filesystem::path corpus = argv[1];
  std::vector<std::filesystem::path> photos;
  for (const auto& e : std::filesystem::directory_iterator(corpus / "real")) {
    if (e.path().extension() == ".jpg") photos.push_back(e.path());
  }
  std::sort(photos.begin(), photos.end());
  // (kind, same, distance) for every pair.
  struct Pair {
    std::string kind;
    bool same;
    int distance;
  };
  std::vector<Pair> pairs;
  std::vector<uint64_t> originals;
  for (const auto& p : photos) {
    const std::string jpeg = Read(p);
    const uint64_t h = Hash(jpeg);
    originals.push_back(h);
    for (const auto& v : Variants(jpeg)) {
      pairs.push_back({v.kind, v.same, imgd::HammingDistance(h, Hash(v.bytes))});
    }
  }
  for (size_t i = 0; i < originals.size(); ++i) {
    for (size_t j = i + 1; j < originals.size(); ++j) {
      pairs.push_back(
          {"different photos", false, imgd::HammingDistance(originals[i], originals[j])});
    }
  }
  // The corpus' duplicate groups (PAIRS.tsv): what each pair is to a person.
  const std::string g1 = (corpus / "duplicates/dup_g1_a_cups.jpg").string();
  const std::map<std::string, std::pair<std::string, bool>> corpus_pairs = {
      {"dup_g1_d_cups_exif_edited.jpg", {"corpus: EXIF edited", true}},
      {"dup_g1_e_cups_metadata_stripped.jpg", {"corpus: metadata stripped", true}},
      {"dup_g1_f_cups_lossless_progressive.jpg", {"corpus: lossless progressive", true}},
      {"dup_g1_g_cups_lossless_arithmetic.jpg", {"corpus: lossless arithmetic", true}},
      {"dup_g1_h_cups_reencoded_same_q.jpg", {"corpus: re-encoded same q", true}},
      {"dup_g1_i_cups_resized_640.jpg", {"corpus: resized to 640", true}},
      {"dup_g1_j_cups_orientation6_tag.jpg", {"corpus: orientation 6 (shown rotated)", false}},
      {"dup_g1_k_cups_mirrored_not_dup.jpg", {"corpus: mirrored", false}},
  };
  const uint64_t base = Hash(Read(g1));
  for (const auto& [file, what] : corpus_pairs) {
    pairs.push_back({what.first, what.second,
                     imgd::HammingDistance(base, Hash(Read(corpus / "duplicates" / file)))});
  }

  std::map<std::string, std::vector<int>> by_kind;
  std::map<std::string, bool> same_kind;
  for (const auto& p : pairs) {
    by_kind[p.kind].push_back(p.distance);
    same_kind[p.kind] = p.same;
  }
  std::printf("| pair | same photo | pairs | distance min | median | max |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (auto& [kind, d] : by_kind) {
    std::sort(d.begin(), d.end());
    std::printf("| %s | %s | %zu | %d | %d | %d |\n", kind.c_str(), same_kind[kind] ? "yes" : "no",
                d.size(), d.front(), d[d.size() / 2], d.back());
  }
  std::printf("\n| threshold | true matches | missed | false matches | precision | recall |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (int t = 0; t <= 20; t += (t < 12 ? 1 : 4)) {
    int tp = 0, fn = 0, fp = 0;
    for (const auto& p : pairs) {
      const bool match = p.distance <= t;
      if (p.same) (match ? tp : fn)++;
      if (!p.same && match) ++fp;
    }
    std::printf("| %d | %d | %d | %d | %.3f | %.3f |\n", t, tp, fn, fp,
                tp + fp ? static_cast<double>(tp) / (tp + fp) : 1.0,
                static_cast<double>(tp) / std::max(1, tp + fn));
  }
  // What the hash adds to an upload: the validation decode without and with it (the luma
  // grid, the DCT), CPU milliseconds per MB of JPEG, best of 5 rounds over the photos.
  double bytes = 0, without = 1e18, with = 1e18;
  std::vector<std::string> jpegs;
  for (const auto& p : photos) jpegs.push_back(Read(p));
  for (const auto& j : jpegs) bytes += static_cast<double>(j.size());
  for (int round = 0; round < 5; ++round) {
    for (bool hash : {false, true}) {
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& j : jpegs) {
        imgd::MemorySource src(j);
        if (hash) {
          (void)imgd::ValidateJpeg(src, imgd::JpegLimits{});
        } else {
          (void)imgd::DecodeCheckJpeg(src, imgd::DecodeCheckLimits{});
        }
      }
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      (hash ? with : without) = std::min(hash ? with : without, ms);
    }
  }
  std::printf(
      "\nvalidation decode of the %zu photos (%.1f MB): %.2f ms/MB without the hash, %.2f ms/MB "
      "with it\n",
      jpegs.size(), bytes / 1e6, without / (bytes / 1e6), with / (bytes / 1e6));
  vips_shutdown();
  return 0;
}
