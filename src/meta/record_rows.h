#pragma once
// Records from result rows, for every MetaStore whose rows read by index as Text(row, col)
// and Int(row, col) (SqlRows, CqlRows): each store selects the columns in the order given
// here, so the mapping is written once.
#include <cstddef>
#include <cstdint>

#include "core/types.h"

namespace imgd {

// id, user_id, name, description, created_by, created_ms, modified_by, modified_ms, format,
// size, width, height, sha256, status, expires_ms, visibility, blurhash
template <class Rows>
Image ImageFromRow(const Rows& r, size_t row) {
  Image im;
  im.id = r.Text(row, 0);
  im.user_id = r.Text(row, 1);
  im.name = r.Text(row, 2);
  im.description = r.Text(row, 3);
  im.created_by = r.Text(row, 4);
  im.created_ms = r.Int(row, 5);
  im.modified_by = r.Text(row, 6);
  im.modified_ms = r.Int(row, 7);
  im.format = r.Text(row, 8);
  im.size = static_cast<uint64_t>(r.Int(row, 9));
  im.width = static_cast<int>(r.Int(row, 10));
  im.height = static_cast<int>(r.Int(row, 11));
  im.sha256 = r.Text(row, 12);
  im.status = r.Text(row, 13);
  im.expires_ms = r.Int(row, 14);
  im.visibility = r.Text(row, 15);
  im.blurhash = r.Text(row, 16);
  return im;
}

// id, name, email, is_admin (0/1 or boolean), created_ms
template <class Rows>
User UserFromRow(const Rows& r, size_t row) {
  User u;
  u.id = r.Text(row, 0);
  u.name = r.Text(row, 1);
  u.email = r.Text(row, 2);
  u.is_admin = r.Int(row, 3) != 0;
  u.created_ms = r.Int(row, 4);
  return u;
}

// sha256, size, width, height, blurhash (the reference count is the store's own business)
template <class Rows>
BlobInfo BlobFromRow(const Rows& r, size_t row) {
  BlobInfo b;
  b.sha256 = r.Text(row, 0);
  b.size = static_cast<uint64_t>(r.Int(row, 1));
  b.width = static_cast<int>(r.Int(row, 2));
  b.height = static_cast<int>(r.Int(row, 3));
  b.blurhash = r.Text(row, 4);
  return b;
}

// id, user_id, length, name, description, policy, created_ms, expires_ms, image_id,
// visibility
template <class Rows>
ResumableUpload UploadFromRow(const Rows& r, size_t row) {
  ResumableUpload u;
  u.id = r.Text(row, 0);
  u.user_id = r.Text(row, 1);
  u.length = static_cast<uint64_t>(r.Int(row, 2));
  u.name = r.Text(row, 3);
  u.description = r.Text(row, 4);
  u.policy = r.Text(row, 5);
  u.created_ms = r.Int(row, 6);
  u.expires_ms = r.Int(row, 7);
  u.image_id = r.Text(row, 8);
  u.visibility = r.Text(row, 9);
  return u;
}

// fingerprint, done (0/1 or boolean), status, body, location, created_ms
template <class Rows>
IdempotencyRecord IdempotencyFromRow(const Rows& r, size_t row) {
  IdempotencyRecord rec;
  rec.fingerprint = r.Text(row, 0);
  rec.done = r.Int(row, 1) != 0;
  rec.status = static_cast<int>(r.Int(row, 2));
  rec.body = r.Text(row, 3);
  rec.location = r.Text(row, 4);
  rec.created_ms = r.Int(row, 5);
  return rec;
}

}  // namespace imgd
