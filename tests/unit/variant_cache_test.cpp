// VariantCache's file copies (what the warm lane sends with sendfile): attached only to the
// entry still holding the same bytes, capped in number, charged against the bound, released
// on eviction; MemoryFile's copy is exact, and sealed or nameless.
#include "service/variant_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_util.h"

namespace imgd {
namespace {

Variant Bytes(size_t n, char fill) {
  return Variant{std::make_shared<const std::string>(n, fill), 10, 10, nullptr};
}

TEST(MemoryFile, HoldsTheBytesAndIsSealed) {
  const std::string bytes(100000, 'x');
  auto file = MemoryFile::Create(bytes);
  ASSERT_TRUE(file);
  EXPECT_EQ(file->size(), bytes.size());
  std::string back(bytes.size(), '\0');
  ASSERT_EQ(::pread(file->fd(), back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, bytes);
  EXPECT_LT(::pwrite(file->fd(), "y", 1, 0), 0);  // sealed against writes
}

TEST(MemoryFile, InADirectoryIsAnUnnamedFileThereElseAMemfd) {
  testing::TempDir temp;
  const std::string dir = temp.path().string();
  const std::string bytes(70000, 'z');
  auto file = MemoryFile::Create(bytes, dir);
  ASSERT_TRUE(file);
  std::string back(bytes.size(), '\0');
  ASSERT_EQ(::pread(file->fd(), back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, bytes);
  struct stat st {};
  ASSERT_EQ(::fstat(file->fd(), &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);  // no name: nothing else can open it
  struct statfs fs {};
  ASSERT_EQ(::fstatfs(file->fd(), &fs), 0);
  struct statfs dir_fs {};
  ASSERT_EQ(::statfs(dir.c_str(), &dir_fs), 0);
  EXPECT_EQ(fs.f_type, dir_fs.f_type);  // on the directory's filesystem, not in a memfd
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  // A directory that cannot hold one: a sealed memfd instead.
  auto fallback = MemoryFile::Create(bytes, dir + "/missing");
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->size(), bytes.size());
  EXPECT_LT(::pwrite(fallback->fd(), "y", 1, 0), 0);
}

TEST(VariantCache, AttachesFilesToTheSameBytesWithinTheCapAndCharge) {
  VariantCache cache(VariantCacheOptions{1 << 20, 1000, 2});
  EXPECT_FALSE(cache.WantsFile(999));
  EXPECT_TRUE(cache.WantsFile(1000));
  Variant a = Bytes(2000, 'a'), b = Bytes(2000, 'b'), c = Bytes(2000, 'c');
  cache.Put("a", a);
  cache.Put("b", b);
  cache.Put("c", c);
  EXPECT_EQ(cache.bytes(), 6000u);
  // Another value under the key (it was replaced meanwhile): not attached.
  EXPECT_FALSE(cache.AttachFile("a", Bytes(2000, 'a').bytes, MemoryFile::Create("z")));
  EXPECT_TRUE(cache.AttachFile("a", a.bytes, MemoryFile::Create(*a.bytes)));
  EXPECT_TRUE(cache.AttachFile("b", b.bytes, MemoryFile::Create(*b.bytes)));
  EXPECT_FALSE(cache.AttachFile("c", c.bytes, MemoryFile::Create(*c.bytes)));  // the cap
  EXPECT_EQ(cache.files(), 2u);
  EXPECT_FALSE(cache.WantsFile(2000));  // at the cap: no copy is made to be refused
  EXPECT_EQ(cache.bytes(), 10000u);     // both copies of a and b
  auto hit = cache.Get("a");
  ASSERT_TRUE(hit && hit->file);
  EXPECT_EQ(hit->file->size(), 2000u);
  EXPECT_FALSE(cache.Get("c")->file);
  // Gone from the cache, the file goes too, and its charge.
  cache.EraseByPrefix("a");
  EXPECT_EQ(cache.files(), 1u);
  EXPECT_EQ(cache.bytes(), 6000u);
  EXPECT_TRUE(cache.WantsFile(2000));
  EXPECT_TRUE(cache.AttachFile("c", c.bytes, MemoryFile::Create(*c.bytes)));
}

TEST(VariantCache, EvictionReleasesFiles) {
  VariantCache cache(VariantCacheOptions{40000, 1000, 10});
  Variant a = Bytes(5000, 'a');
  cache.Put("a", a);
  ASSERT_TRUE(cache.AttachFile("a", a.bytes, MemoryFile::Create(*a.bytes)));
  for (char k = 'b'; k < 'k'; ++k) cache.Put(std::string(1, k), Bytes(5000, k));
  EXPECT_FALSE(cache.Get("a"));
  EXPECT_EQ(cache.files(), 0u);
  EXPECT_LE(cache.bytes(), 40000u);
}

}  // namespace
}  // namespace imgd
