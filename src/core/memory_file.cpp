#include "core/memory_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace imgd {

namespace {

bool WriteAll(int fd, std::string_view bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + off, bytes.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::shared_ptr<const MemoryFile> MemoryFile::Create(std::string_view bytes,
                                                     const std::string& dir) {
  if (!dir.empty()) {
    // Only this descriptor reaches it (no name, O_EXCL, close-on-exec) and nothing writes
    // to it after this: as fixed as a sealed memfd.
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
      if (WriteAll(fd, bytes))
        return std::shared_ptr<const MemoryFile>(new MemoryFile(fd, bytes.size()));
      ::close(fd);  // no space there: try memory
    }
  }
  const int fd = ::memfd_create("imgd-variant", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return nullptr;
  if (!WriteAll(fd, bytes)) {
    ::close(fd);
    return nullptr;
  }
  // Sealed: neither its size nor its bytes can change while a send holds its pages.
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::shared_ptr<const MemoryFile>(new MemoryFile(fd, bytes.size()));
}

MemoryFile::~MemoryFile() { ::close(fd_); }

}  // namespace imgd
