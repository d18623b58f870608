#pragma once
// Bytes copied into an unnamed file that nothing else can open or change: what a socket can
// be handed with sendfile(2), so the kernel sends the file's pages instead of copying the
// bytes out of user memory first (as nginx sends files from the page cache). Large cached
// variants keep one (VariantCache); a 200 KB answer then costs no copy on send.
//
// Where: an O_TMPFILE in a directory on a disk filesystem when given one, else a sealed memfd.
// A disk filesystem's page cache holds a file in large folios (ext4, XFS), which sendfile
// hands over a few at a time; a memfd's pages are 4 KB each (shmem without huge pages, the
// usual setting), one lookup and reference per page: a warm 200 KB answer cost 17.5 us of
// server CPU from a memfd and 14.5 us from an ext4 O_TMPFILE (+11% answers/s; +4% at 20 KB).
// The price: the kernel writes such a file back to its disk once (~30 s after it is made,
// if it is still cached), and under memory pressure may drop its clean pages, so a send
// would read them back from disk, as nginx's sends do.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace imgd {

class MemoryFile {
 public:
  // A copy of bytes: an O_TMPFILE (opened with O_EXCL, so it can never be given a name) in
  // dir when dir is not empty and allows one, else a sealed memfd; null when the system
  // refuses both (out of descriptors, memory or space): callers then send from memory.
  static std::shared_ptr<const MemoryFile> Create(std::string_view bytes,
                                                  const std::string& dir = "");
  ~MemoryFile();
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  MemoryFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  const int fd_;
  const uint64_t size_;
};

}  // namespace imgd
