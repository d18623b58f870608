#include "image/transform_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "core/errors.h"

namespace imgd {
namespace {

constexpr const char* kParams[] = {"w", "h", "fit", "q", "enlarge", "progressive", "bg", "format"};

Error BadParam(std::string_view name, const std::string& why) {
  return BadParameter(std::string(name), "parameter '" + std::string(name) + "' " + why);
}

int ParseInt(std::string_view name, std::string_view v, int lo, int hi) {
  int out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || out < lo || out > hi) {
    throw BadParam(name,
                   "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  return out;
}

bool ParseBool(std::string_view name, std::string_view v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw BadParam(name, "must be true or false");
}

int RoundPos(double v) { return std::max(1, static_cast<int>(std::lround(v))); }

}  // namespace

const char* FitName(Fit f) {
  switch (f) {
    case Fit::kCover:
      return "cover";
    case Fit::kContain:
      return "contain";
    case Fit::kFill:
      return "fill";
    case Fit::kInside:
      return "inside";
  }
  return "cover";
}

std::optional<Fit> ParseFit(std::string_view s) {
  for (Fit f : {Fit::kCover, Fit::kContain, Fit::kFill, Fit::kInside}) {
    if (s == FitName(f)) return f;
  }
  return std::nullopt;
}

std::string TransformSpec::Canonical() const {
  std::string s;
  AppendCanonical(s);
  return s;
}

void TransformSpec::AppendCanonical(std::string& s) const {
  // Numbers through to_chars: no temporary strings (this runs on every variant read).
  auto number = [&s](int v) {
    char digits[16];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
    s.append(digits, end);
  };
  const size_t start = s.size();
  if (width > 0) {
    s += 'w';
    number(width);
  }
  if (height > 0) {
    s += s.size() == start ? "h" : "-h";
    number(height);
  }
  // With one side free the fit mode changes nothing: leave it out so both spellings share
  // one variant.
  if (width > 0 && height > 0) {
    s += '-';
    s += FitName(fit);
  }
  s += "-q";
  number(quality);
  if (enlarge) s += "-e";
  if (progressive && format == OutputFormat::kJpeg) s += "-p";
  if (width > 0 && height > 0 && fit == Fit::kContain) {
    char bg[16];
    std::snprintf(bg, sizeof bg, "-bg%06x", background & 0xFFFFFF);
    s += bg;
  }
  // JPEG keeps the keys (and ETags) it had before other formats existed.
  if (format != OutputFormat::kJpeg) {
    s += '-';
    s += FormatName(format);
  }
}

std::map<std::string, std::string> TransformSpec::QueryParams() const {
  std::map<std::string, std::string> q;
  if (width > 0) q["w"] = std::to_string(width);
  if (height > 0) q["h"] = std::to_string(height);
  if (width > 0 && height > 0) q["fit"] = FitName(fit);
  q["q"] = std::to_string(quality);
  if (enlarge) q["enlarge"] = "true";
  if (progressive && format == OutputFormat::kJpeg) q["progressive"] = "true";
  if (format != OutputFormat::kJpeg) q["format"] = FormatName(format);
  if (width > 0 && height > 0 && fit == Fit::kContain) {
    char bg[8];
    std::snprintf(bg, sizeof bg, "%06x", background & 0xFFFFFF);
    q["bg"] = bg;
  }
  return q;
}

std::optional<uint32_t> ParseHexColour(std::string_view s) {
  if (!s.empty() && s[0] == '#') s.remove_prefix(1);
  uint32_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  if (s.size() != 6 || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return out;
}

std::vector<std::pair<int, int>> ParseSizeList(const std::string& s) {
  std::vector<std::pair<int, int>> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t end = s.find(',', i);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(i, end - i);
    i = end + 1;
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    size_t x = item.find('x');
    if (x == std::string::npos) throw std::invalid_argument("size '" + item + "' is not WxH");
    auto side = [&](const std::string& v) {
      if (v.empty()) return 0;
      int n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1) {
        throw std::invalid_argument("size '" + item + "' is not WxH");
      }
      return n;
    };
    int w = side(item.substr(0, x)), h = side(item.substr(x + 1));
    if (w == 0 && h == 0) throw std::invalid_argument("size '" + item + "' has no side");
    out.emplace_back(w, h);
  }
  return out;
}

bool HasTransformParams(const std::map<std::string, std::string>& query) {
  for (const char* p : kParams) {
    if (query.count(p)) return true;
  }
  return false;
}

TransformSpec ParseTransformQuery(const std::map<std::string, std::string>& query,
                                  const TransformLimits& limits) {
  std::pair<std::string_view, std::string_view> views[std::size(kParams) + 1];
  size_t n = 0;
  for (const auto& [k, v] : query) {
    views[n++] = {k, v};
    if (n == std::size(views)) break;  // one unknown is enough to refuse
  }
  return ParseTransformParams(QueryView(views, n), limits);
}

TransformSpec ParseTransformParams(QueryView query, const TransformLimits& limits) {
  for (const auto& [k, v] : query) {
    bool known = false;
    for (const char* p : kParams) known = known || k == p;
    if (!known) {
      throw BadParameter(std::string(k), "unknown query parameter '" + std::string(k) + "'",
                         "unknown-parameter");
    }
  }
  TransformSpec spec;
  spec.background = limits.default_background;
  auto get = [&](std::string_view k) -> const std::string_view* {
    for (const auto& kv : query) {
      if (kv.first == k) return &kv.second;
    }
    return nullptr;
  };
  if (auto* v = get("w")) spec.width = ParseInt("w", *v, 1, limits.max_dimension);
  if (auto* v = get("h")) spec.height = ParseInt("h", *v, 1, limits.max_dimension);
  if (auto* v = get("fit")) {
    auto f = ParseFit(*v);
    if (!f) throw BadParam("fit", "must be one of cover, contain, fill, inside");
    spec.fit = *f;
  }
  if (auto* v = get("q")) spec.quality = ParseInt("q", *v, 1, 100);
  if (auto* v = get("enlarge")) spec.enlarge = ParseBool("enlarge", *v);
  if (auto* v = get("progressive")) spec.progressive = ParseBool("progressive", *v);
  if (auto* v = get("bg")) {
    auto colour = ParseHexColour(*v);
    if (!colour) throw BadParam("bg", "must be a colour as 6 hex digits (RRGGBB)");
    spec.background = *colour;
  }
  if (auto* v = get("format")) {
    auto f = ParseFormat(*v);
    if (!f) throw BadParam("format", "must be one of jpeg, webp, avif, auto");
    spec.format = *f;
  }
  CheckTransformSpec(spec, limits);
  return spec;
}

void CheckTransformSpec(const TransformSpec& spec, const TransformLimits& limits,
                        const char* width_name, const char* height_name) {
  if (spec.width == 0 && spec.height == 0) {
    throw BadParam(width_name, std::string("or '") + height_name + "' is required for a variant");
  }
  if (spec.width < 0 || spec.width > limits.max_dimension) {
    throw BadParam(width_name,
                   "must be an integer from 1 to " + std::to_string(limits.max_dimension));
  }
  if (spec.height < 0 || spec.height > limits.max_dimension) {
    throw BadParam(height_name,
                   "must be an integer from 1 to " + std::to_string(limits.max_dimension));
  }
  if (spec.quality < 1 || spec.quality > 100) {
    throw BadParam("q", "must be an integer from 1 to 100");
  }
  if (spec.width > 0 && spec.height > 0 &&
      static_cast<uint64_t>(spec.width) * static_cast<uint64_t>(spec.height) >
          limits.max_output_pixels) {
    throw BadParameter(width_name,
                       "parameter '" + std::string(width_name) + "' x '" + height_name +
                           "' exceeds the limit of " + std::to_string(limits.max_output_pixels) +
                           " output pixels",
                       "output-too-large");
  }
  if (limits.only_allowed_sizes) {
    bool ok = false;
    for (auto [w, h] : limits.allowed_sizes) ok = ok || (w == spec.width && h == spec.height);
    if (!ok) {
      std::string list;
      for (auto [w, h] : limits.allowed_sizes) {
        if (!list.empty()) list += ", ";
        if (w) list += std::to_string(w);
        list += 'x';
        if (h) list += std::to_string(h);
      }
      throw BadParam(width_name, std::string("and '") + height_name +
                                     "' must be one of the allowed sizes: " + list);
    }
  }
}

TransformGeometry PlanTransform(int width, int height, const TransformSpec& spec) {
  TransformGeometry g;
  const double W = width, H = height;
  auto whole = [&](int sw, int sh) {
    g.scaled_width = g.crop_width = g.canvas_width = sw;
    g.scaled_height = g.crop_height = g.canvas_height = sh;
  };
  if (spec.width == 0 || spec.height == 0) {
    // One side given: scale to it, the other side follows.
    double scale = spec.width > 0 ? spec.width / W : spec.height / H;
    if (!spec.enlarge) scale = std::min(scale, 1.0);
    whole(RoundPos(W * scale), RoundPos(H * scale));
    return g;
  }
  if (spec.fit == Fit::kInside) {
    double scale = std::min(spec.width / W, spec.height / H);
    if (!spec.enlarge) scale = std::min(scale, 1.0);
    whole(RoundPos(W * scale), RoundPos(H * scale));
    return g;
  }
  // The box: the requested size, shrunk (aspect kept) to fit the original unless enlarging.
  double bw = spec.width, bh = spec.height;
  if (!spec.enlarge) {
    double f = std::min({1.0, W / bw, H / bh});
    bw = RoundPos(bw * f);
    bh = RoundPos(bh * f);
  }
  const int box_w = static_cast<int>(bw), box_h = static_cast<int>(bh);
  switch (spec.fit) {
    case Fit::kFill:
      whole(box_w, box_h);
      break;
    case Fit::kCover: {
      double scale = std::max(bw / W, bh / H);
      g.scaled_width = std::max(box_w, RoundPos(W * scale));
      g.scaled_height = std::max(box_h, RoundPos(H * scale));
      g.crop_width = g.canvas_width = box_w;
      g.crop_height = g.canvas_height = box_h;
      g.crop_x = (g.scaled_width - box_w) / 2;
      g.crop_y = (g.scaled_height - box_h) / 2;
      break;
    }
    case Fit::kContain: {
      double scale = std::min(bw / W, bh / H);
      g.scaled_width = g.crop_width = std::min(box_w, RoundPos(W * scale));
      g.scaled_height = g.crop_height = std::min(box_h, RoundPos(H * scale));
      g.canvas_width = box_w;
      g.canvas_height = box_h;
      g.offset_x = (box_w - g.scaled_width) / 2;
      g.offset_y = (box_h - g.scaled_height) / 2;
      break;
    }
    case Fit::kInside:
      break;
  }
  return g;
}

}  // namespace imgd
