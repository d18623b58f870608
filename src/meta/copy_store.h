#pragma once
// Bulk copy between stores (imgd migrate): export in id order, import idempotently, so an
// interrupted copy resumes. No atomicity beyond one user or one image at a time.
//
// Contract for every implementation (see meta_store.h): methods block (call them from a
// blocking pool), are thread-safe and safe across nodes sharing the database, throw
// StoreError (503) on store failures, and report "not found" as an empty optional.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace imgd {

class CopyStore {
 public:
  virtual ~CopyStore() = default;

  // --- bulk copy between stores (imgd migrate); idempotent, so a copy can resume ---
  struct UserExport {
    User user;
    std::vector<std::string> key_hashes;
  };
  // Users (with their key hashes) in id order after after_id (exclusive), at most limit.
  virtual std::vector<UserExport> ExportUsers(const std::string& after_id, int limit) = 0;
  // Inserts the user and its keys unless they exist.
  virtual void ImportUser(const UserExport& user) = 0;
  // Ready images in id order after after_id, at most limit.
  virtual std::vector<Image> ExportImages(const std::string& after_id, int limit) = 0;
  // Inserts a ready image as it is unless its id exists, adding a reference to its blob row
  // (created from the image's size and dimensions); the user's first record of some bytes
  // takes the duplicate slot. Returns true when inserted. Its bytes must already be stored.
  virtual bool ImportImage(const Image& image) = 0;

  // --- derived data for records stored before it existed (SimilarityBackfill) ---
  // Sets the placeholder of image (found by id) and of its content's blob row. Idempotent;
  // an image or blob deleted meanwhile stays deleted.
  virtual void SetPlaceholder(const Image& image, const std::string& blurhash) = 0;
};

}  // namespace imgd
