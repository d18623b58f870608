#pragma once
// Domain records shared by services and stores.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imgd {

struct User {
  std::string id;
  std::string name;
  std::string email;
  bool is_admin = false;
  int64_t created_ms = 0;
};

inline constexpr const char* kStatusReady = "ready";
inline constexpr const char* kStatusPending = "pending";
// Who may read an image's content: anyone with its URL (subject to signed delivery), or
// only a signed URL or the owner's key.
inline constexpr const char* kVisibilityPublic = "public";
inline constexpr const char* kVisibilityPrivate = "private";

struct Image {
  std::string id;
  std::string user_id;
  std::string name;
  std::string description;
  std::string created_by;
  int64_t created_ms = 0;
  std::string modified_by;
  int64_t modified_ms = 0;
  std::string format = "jpg";
  uint64_t size = 0;
  int width = 0;
  int height = 0;
  std::string sha256;  // empty while pending
  std::string status = kStatusReady;
  int64_t expires_ms = 0;  // pending images only: removed by gc after this time
  std::string visibility = kVisibilityPublic;
  std::string blurhash;  // the placeholder (image/blurhash.h); empty while pending
  bool is_private() const { return visibility == kVisibilityPrivate; }
};

struct BlobInfo {
  std::string sha256;
  uint64_t size = 0;
  int width = 0;
  int height = 0;
  int64_t refcount = 0;
  std::string blurhash;  // empty for bytes stored before placeholders existed
};

// A resumable (tus) upload: the bytes arrive over several requests into the blob store's
// resumable staging under id; the record holds what the finished image will be.
struct ResumableUpload {
  std::string id;
  std::string user_id;
  uint64_t length = 0;  // declared total bytes (Upload-Length)
  std::string name;
  std::string description;
  std::string policy = "return";  // onDuplicate: return | reject | new | reject-similar
  std::string visibility = kVisibilityPublic;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  std::string image_id;  // set once completed
};

// The stored outcome of a request sent with an Idempotency-Key.
struct IdempotencyRecord {
  std::string fingerprint;  // what the request was (method, path, parameters, body hash)
  bool done = false;        // false while the first request is still running
  int status = 0;
  std::string body;
  std::string location;
  int64_t created_ms = 0;
};

// What an upload does when the same user already has an image with identical bytes.
// kRejectSimilar refuses byte-identical uploads as kReject does, and near-duplicates too.
enum class DuplicatePolicy { kReturnExisting, kReject, kNew, kRejectSimilar };
// "return" | "reject" | "new" | "reject-similar" (the onDuplicate values).
std::string PolicyName(DuplicatePolicy p);
std::optional<DuplicatePolicy> ParsePolicyName(std::string_view name);

// Key of an original's bytes in the BlobStore (content-addressed).
inline std::string OriginalKey(const std::string& sha256) { return "originals/" + sha256; }

// Variants of an original live under "variants/<sha256>-<rest>" (see TransformService).
inline constexpr std::string_view kVariantsNamespace = "variants/";
inline std::string VariantKeyPrefix(const std::string& sha256) {
  return std::string(kVariantsNamespace) + sha256 + "-";
}
// The original's SHA-256 in a variant key ("" when the key is not one).
inline std::string VariantOriginal(const std::string& key) {
  if (key.size() < kVariantsNamespace.size() + 65 ||
      key.compare(0, kVariantsNamespace.size(), kVariantsNamespace) != 0) {
    return "";
  }
  return key.substr(kVariantsNamespace.size(), 64);
}

}  // namespace imgd
