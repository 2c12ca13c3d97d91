#include "services/backup/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/fixtures/subprocess.h"

namespace rostersync::backup {
namespace {

using ::testing::HasSubstr;

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(path.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
  }
  return out;
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = rostersync::testing::MakeTempDir("blob_store_test");
    auto store = BlobStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    rostersync::testing::RemoveTree(dir_);
  }

  BlobRef Put(const std::string& content, size_t piece = 1000) {
    auto writer = store_->NewWriter();
    EXPECT_TRUE(writer.ok()) << writer.status();
    for (size_t i = 0; i < content.size(); i += piece) {
      EXPECT_TRUE((*writer)->Append(std::string_view(content).substr(i, piece)).ok());
    }
    auto ref = (*writer)->Commit();
    EXPECT_TRUE(ref.ok()) << ref.status();
    return ref.ok() ? *ref : BlobRef{};
  }

  absl::StatusOr<std::string> ReadAll(const BlobRef& ref, size_t chunk = 4096,
                                      std::vector<size_t>* sizes = nullptr) {
    auto reader = store_->OpenReader(ref, "file_x of tenant t1", chunk);
    if (!reader.ok()) return reader.status();
    std::string out, piece;
    while (true) {
      absl::StatusOr<bool> more = (*reader)->Next(&piece);
      if (!more.ok()) return more.status();
      if (!*more) break;
      if (sizes) sizes->push_back(piece.size());
      out += piece;
    }
    return out;
  }

  std::string dir_;
  std::unique_ptr<BlobStore> store_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s[i] = static_cast<char>(x >> 16);
  }
  return s;
}

TEST_F(BlobStoreTest, KnownDigests) {
  EXPECT_EQ(Put("").sha256, kEmptySha256);
  BlobRef abc = Put("abc", 1);
  EXPECT_EQ(abc.sha256, kAbcSha256);
  EXPECT_EQ(abc.size_bytes, 3);
}

TEST_F(BlobStoreTest, WritesToContentAddressAndReadsBack) {
  const std::string content = Pattern(1'000'003);
  BlobRef ref = Put(content, 65536);
  EXPECT_EQ(ref.size_bytes, 1'000'003);
  EXPECT_TRUE(IsSha256Hex(ref.sha256));
  EXPECT_EQ(store_->PathFor(ref.sha256),
            dir_ + "/blobs/" + ref.sha256.substr(0, 2) + "/" + ref.sha256);
  EXPECT_TRUE(store_->Exists(ref.sha256));
  EXPECT_EQ(rostersync::testing::ReadFileOrDie(store_->PathFor(ref.sha256)), content);
  // No temp file is left behind.
  EXPECT_THAT(ListDir(dir_ + "/blobs/incoming"), ::testing::IsEmpty());

  std::vector<size_t> sizes;
  auto back = ReadAll(ref, 4096, &sizes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, content);
  ASSERT_FALSE(sizes.empty());
  for (size_t i = 0; i + 1 < sizes.size(); ++i) EXPECT_EQ(sizes[i], 4096u);
}

TEST_F(BlobStoreTest, ChunkBoundaryExactlyAtEnd) {
  const std::string content = Pattern(8192);
  BlobRef ref = Put(content);
  std::vector<size_t> sizes;
  auto back = ReadAll(ref, 4096, &sizes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, content);
  EXPECT_EQ(sizes, (std::vector<size_t>{4096, 4096}));
}

TEST_F(BlobStoreTest, EmptyBlobReadsAsNothing) {
  BlobRef ref = Put("");
  EXPECT_EQ(ref.size_bytes, 0);
  auto back = ReadAll(ref);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, "");
}

TEST_F(BlobStoreTest, SameContentIsStoredOnce) {
  const std::string content = Pattern(50'000);
  BlobRef a = Put(content);
  BlobRef b = Put(content, 777);
  EXPECT_EQ(a.sha256, b.sha256);
  EXPECT_THAT(ListDir(dir_ + "/blobs/" + a.sha256.substr(0, 2)), ::testing::ElementsAre(a.sha256));
  Put("something else");
  int blobs = 0;
  for (const std::string& sub : ListDir(dir_ + "/blobs")) {
    if (sub != "incoming") blobs += static_cast<int>(ListDir(dir_ + "/blobs/" + sub).size());
  }
  EXPECT_EQ(blobs, 2);
}

TEST_F(BlobStoreTest, UncommittedWriterStoresNothing) {
  {
    auto writer = store_->NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("half an upload").ok());
    EXPECT_THAT(ListDir(dir_ + "/blobs/incoming"), ::testing::SizeIs(1));
  }
  EXPECT_THAT(ListDir(dir_ + "/blobs/incoming"), ::testing::IsEmpty());
  EXPECT_THAT(ListDir(dir_ + "/blobs"), ::testing::ElementsAre("incoming"));
}

TEST_F(BlobStoreTest, ExpectedShaMismatchStoresNothing) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("abc").ok());
  auto ref = (*writer)->Commit(kEmptySha256);
  ASSERT_EQ(ref.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(ref.status().message()), HasSubstr(kAbcSha256));
  EXPECT_FALSE(store_->Exists(kAbcSha256));
  EXPECT_THAT(ListDir(dir_ + "/blobs/incoming"), ::testing::IsEmpty());

  auto ok_writer = store_->NewWriter();
  ASSERT_TRUE((*ok_writer)->Append("abc").ok());
  auto ok_ref = (*ok_writer)->Commit(kAbcSha256);
  ASSERT_TRUE(ok_ref.ok()) << ok_ref.status();
  EXPECT_TRUE(store_->Exists(kAbcSha256));
}

void FlipByte(const std::string& path, off_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, offset), 1);
  c ^= 0x01;
  ASSERT_EQ(::pwrite(fd, &c, 1, offset), 1);
  ::close(fd);
}

TEST_F(BlobStoreTest, FlippedByteIsDataLossNamingFileAndHashes) {
  const std::string content = Pattern(100'000);
  BlobRef ref = Put(content);
  FlipByte(store_->PathFor(ref.sha256), 5'000);
  auto reader = store_->OpenReader(ref, "file_x of tenant t1", 4096);
  ASSERT_TRUE(reader.ok());
  std::string piece, got;
  absl::Status final_status;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&piece);
    if (!more.ok()) {
      final_status = more.status();
      break;
    }
    ASSERT_TRUE(*more) << "a corrupt blob must not read to a clean end";
    got += piece;
  }
  EXPECT_EQ(final_status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(final_status.message()), HasSubstr("file_x of tenant t1"));
  EXPECT_THAT(std::string(final_status.message()), HasSubstr(ref.sha256));
  EXPECT_THAT(std::string(final_status.message()), HasSubstr("actual sha256"));
  // The last chunk is held back until the hash is known: the reader never saw the whole file.
  EXPECT_LT(got.size(), content.size());
}

TEST_F(BlobStoreTest, CorruptionInLastChunkIsCaught) {
  const std::string content = Pattern(10'000);
  BlobRef ref = Put(content);
  FlipByte(store_->PathFor(ref.sha256), 9'999);
  EXPECT_EQ(ReadAll(ref, 4096).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(BlobStoreTest, TruncatedAndGrownBlobsAreDataLoss) {
  BlobRef ref = Put(Pattern(10'000));
  ASSERT_EQ(::truncate(store_->PathFor(ref.sha256).c_str(), 9'000), 0);
  EXPECT_EQ(ReadAll(ref).status().code(), absl::StatusCode::kDataLoss);

  BlobRef ref2 = Put(Pattern(20'000));
  rostersync::testing::WriteFileOrDie(store_->PathFor(ref2.sha256), Pattern(20'001));
  EXPECT_EQ(ReadAll(ref2).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(BlobStoreTest, MissingBlobIsDataLoss) {
  BlobRef ref = Put("gone soon");
  ASSERT_EQ(::unlink(store_->PathFor(ref.sha256).c_str()), 0);
  auto reader = store_->OpenReader(ref, "file_y of tenant t2");
  ASSERT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(reader.status().message()), HasSubstr("file_y of tenant t2"));
  EXPECT_THAT(std::string(reader.status().message()), HasSubstr("missing"));
}

TEST_F(BlobStoreTest, ReuploadHealsACorruptCopy) {
  const std::string content = Pattern(30'000);
  BlobRef ref = Put(content);
  FlipByte(store_->PathFor(ref.sha256), 10);
  ASSERT_EQ(ReadAll(ref).status().code(), absl::StatusCode::kDataLoss);
  Put(content);
  auto back = ReadAll(ref);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, content);
}

TEST_F(BlobStoreTest, OpenRemovesStaleTempFilesAndKeepsFreshOnes) {
  // An upload a crash left behind an hour ago, and one still being written by another process.
  // The ages are set explicitly: a file's mtime comes from the filesystem's clock, which may
  // be a moment ahead of time(), so "just written" must not be assumed to be age 0.
  const std::string stale = dir_ + "/blobs/incoming/upload-stale";
  const std::string fresh = dir_ + "/blobs/incoming/upload-fresh";
  rostersync::testing::WriteFileOrDie(stale, "left by a crash");
  rostersync::testing::WriteFileOrDie(fresh, "still being written");
  const struct timespec hour_ago[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), hour_ago, 0), 0);
  auto reopened = BlobStore::Open(dir_, /*stale_after_seconds=*/600);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_THAT(ListDir(dir_ + "/blobs/incoming"), ::testing::ElementsAre("upload-fresh"));
}

TEST(BlobStoreOpenTest, RefusesAFileAsRoot) {
  const std::string dir = rostersync::testing::MakeTempDir("blob_store_open");
  rostersync::testing::WriteFileOrDie(dir + "/not_a_dir", "x");
  auto store = BlobStore::Open(dir + "/not_a_dir");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("archive_dir"));
  EXPECT_EQ(BlobStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
  rostersync::testing::RemoveTree(dir);
}

TEST(Sha256HexTest, Validates) {
  EXPECT_TRUE(IsSha256Hex(kAbcSha256));
  EXPECT_FALSE(IsSha256Hex(std::string(kAbcSha256).substr(1)));
  std::string upper = kAbcSha256;
  upper[0] = 'B';
  EXPECT_FALSE(IsSha256Hex(upper));
}

}  // namespace
}  // namespace rostersync::backup
