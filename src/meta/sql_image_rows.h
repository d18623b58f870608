#pragma once
// Row mapping and the duplicate rule of the SQL MetaStore, shared by its files. Internal to
// meta/: callers hold a session inside the transaction the rule needs.
#include <optional>
#include <string>

#include "meta/image_store.h"
#include "meta/sql_session.h"

namespace imgd::sql {

// The images columns every image read selects, in ReadImage's order.
extern const char* const kImageColumns;
// The users columns every user read selects, in ReadUser's order.
extern const char* const kUserColumns;

Image ReadImage(const SqlRows& rows, size_t row);
User ReadUser(const SqlRows& rows, size_t row);

// The image with this id; `lock` appends the dialect's row-locking clause.
std::optional<Image> SelectImage(SqlSession& s, const SqlDialect& d, const std::string& id,
                                 bool lock = false);
// Inserts im; `dedup_slot` gives it the user's one slot for its bytes (images_dedup).
void InsertImage(SqlSession& s, const Image& im, bool dedup_slot);
// Adds one reference to im's blob row (created from im's size and dimensions on first use)
// and returns the count after it.
int64_t AddBlobReference(SqlSession& s, const Image& im, int64_t now_ms);

// The duplicate rule shared by direct uploads, completed pending uploads and completed
// resumable uploads, inside the caller's write transaction. `ready` is the image as it will
// be stored when a record is written; `pending_id`, when set, is the pending record that
// becomes it (or is dropped on a returned duplicate). Returns nullopt when that pending
// record no longer exists. A concurrent first record of the same bytes on another node makes
// the insert or update fail on images_dedup (SqlRetry); the rerun then sees it.
std::optional<ImageStore::CommitResult> CommitReady(SqlSession& s, const SqlDialect& d, Image ready,
                                                    DuplicatePolicy policy,
                                                    const std::string* pending_id,
                                                    const ImageStore::EnsureBytes& ensure_bytes);

}  // namespace imgd::sql
