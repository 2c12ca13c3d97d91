// The archive end to end inside one process: BackupService on a real gRPC server (port 0),
// PostgreSQL started by the fixture, blobs in a temp folder, GrpcArchive as the client.
#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/archive_client.h"
#include "services/backup/backup_metrics.h"
#include "services/backup/blob_store.h"
#include "tests/fixtures/archive_harness.h"

namespace rostersync::backup {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Pattern(size_t n, uint32_t seed = 1) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s[i] = static_cast<char>(x >> 16);
  }
  return s;
}

std::string Sha256Hex(const std::string& s) {
  Sha256 h;
  h.Update(s);
  return h.HexDigest();
}

int CountEntries(const std::string& dir) {
  int n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") ++n;
    }
    ::closedir(d);
  }
  return n;
}

class ArchiveTest : public rostersync::testing::ArchiveHarnessTest {
 protected:
  void SetUp() override {
    absl::Status st =
        harness_.Start({.database_prefix = "archive_", .temp_dir_prefix = "archive_test"});
    ASSERT_TRUE(st.ok()) << st;
    dir_ = harness_.dir();
    blobs_ = &harness_.blobs();
    stub_ = &harness_.stub();
    archive_ = &harness_.archive();
  }

  void TearDown() override { harness_.Stop(); }

  static v1::PutFileHeader Header(const std::string& tenant, v1::FileKind kind,
                                  const std::string& name) {
    v1::PutFileHeader h;
    h.set_tenant_id(tenant);
    h.set_kind(kind);
    h.set_name(name);
    h.set_content_type("text/csv");
    return h;
  }

  absl::StatusOr<v1::FileInfo> Put(const v1::PutFileHeader& header, const std::string& content,
                                   size_t piece = 100'000) {
    auto writer = archive_->OpenWriter(header);
    if (!writer.ok()) return writer.status();
    for (size_t i = 0; i < content.size(); i += piece) {
      absl::Status st = (*writer)->Write(std::string_view(content).substr(i, piece));
      if (!st.ok()) return st;
    }
    return (*writer)->Finish();
  }

  absl::StatusOr<std::string> Get(const std::string& tenant, const std::string& file_id,
                                  v1::FileInfo* info = nullptr) {
    std::string out;
    auto got = archive_->Read(tenant, file_id, [&](std::string_view chunk) {
      out.append(chunk.data(), chunk.size());
      return absl::OkStatus();
    });
    if (!got.ok()) return got.status();
    if (info != nullptr) *info = *got;
    return out;
  }

  absl::StatusOr<v1::ListFilesResponse> List(const std::string& tenant, v1::FileKind kind,
                                             int page_size = 0, const std::string& token = "",
                                             const std::string& integration_id = "") {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ListFilesRequest req;
    req.set_tenant_id(tenant);
    req.set_kind(kind);
    req.set_page_size(page_size);
    req.set_page_token(token);
    req.set_integration_id(integration_id);
    v1::ListFilesResponse resp;
    grpc::Status st = stub_->ListFiles(&ctx, req, &resp);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
    }
    return resp;
  }

  std::string dir_;
  BlobStore* blobs_ = nullptr;
  v1::BackupService::Stub* stub_ = nullptr;
  GrpcArchive* archive_ = nullptr;
};

TEST_F(ArchiveTest, RoundTripsAMultiMegabyteFileByteForByte) {
  const std::string content = Pattern(5 * 1024 * 1024 + 12'345);
  const double bytes_before = BackupMetrics::Get().BytesWritten(v1::FILE_KIND_SOURCE).Value();
  v1::PutFileHeader header = Header("t1", v1::FILE_KIND_SOURCE, "roster_20261121.csv");
  header.set_run_id("run_1");
  header.set_integration_id("int_1");
  (*header.mutable_labels())["remote_path"] = "/out/roster_20261121.csv";
  header.set_expected_sha256(Sha256Hex(content));

  auto put = Put(header, content, 300'001);  // pieces that straddle the 256 KiB chunks
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->tenant_id(), "t1");
  EXPECT_THAT(put->file_id(), ::testing::StartsWith("file_"));
  EXPECT_EQ(put->kind(), v1::FILE_KIND_SOURCE);
  EXPECT_EQ(put->name(), "roster_20261121.csv");
  EXPECT_EQ(put->size_bytes(), static_cast<int64_t>(content.size()));
  EXPECT_EQ(put->sha256(), Sha256Hex(content));
  EXPECT_EQ(put->run_id(), "run_1");
  EXPECT_EQ(put->integration_id(), "int_1");
  EXPECT_EQ(put->content_type(), "text/csv");
  EXPECT_EQ(put->labels().at("remote_path"), "/out/roster_20261121.csv");
  EXPECT_GT(put->created_at().seconds(), 0);
  EXPECT_TRUE(blobs_->Exists(put->sha256()));
  EXPECT_EQ(BackupMetrics::Get().BytesWritten(v1::FILE_KIND_SOURCE).Value() - bytes_before,
            static_cast<double>(content.size()));

  v1::FileInfo read_info;
  auto back = Get("t1", put->file_id(), &read_info);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->size(), content.size());
  EXPECT_TRUE(*back == content) << "content differs";
  EXPECT_EQ(read_info.SerializeAsString(), put->SerializeAsString());

  auto stat = archive_->Stat("t1", put->file_id());
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->SerializeAsString(), put->SerializeAsString());
}

TEST_F(ArchiveTest, ZeroByteFile) {
  auto put = Put(Header("t1", v1::FILE_KIND_ERROR_REPORT, "empty.csv"), "");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->size_bytes(), 0);
  EXPECT_EQ(put->sha256(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  int chunks = 0;
  auto got = archive_->Read("t1", put->file_id(), [&](std::string_view) {
    ++chunks;
    return absl::OkStatus();
  });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size_bytes(), 0);
  EXPECT_EQ(chunks, 0);
}

TEST_F(ArchiveTest, SameContentTwiceIsTwoFilesOneBlob) {
  const std::string content = Pattern(700'000, 7);
  auto a = Put(Header("t1", v1::FILE_KIND_BACKUP, "a.csv"), content);
  auto b = Put(Header("t1", v1::FILE_KIND_BACKUP, "b.csv"), content);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->file_id(), b->file_id());
  EXPECT_EQ(a->sha256(), b->sha256());
  EXPECT_EQ(CountEntries(dir_ + "/blobs/" + a->sha256().substr(0, 2)), 1);
  EXPECT_EQ(CountEntries(dir_ + "/blobs/incoming"), 0);
  auto back = Get("t1", b->file_id());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == content);
}

TEST_F(ArchiveTest, ListFilesNewestFirstFilteredAndPaginated) {
  std::vector<std::string> sources;
  for (int i = 0; i < 5; ++i) {
    v1::PutFileHeader h = Header("t1", v1::FILE_KIND_SOURCE, absl::StrCat("src", i, ".csv"));
    h.set_integration_id(i % 2 == 0 ? "int_even" : "int_odd");
    auto put = Put(h, absl::StrCat("content ", i));
    ASSERT_TRUE(put.ok()) << put.status();
    sources.push_back(put->file_id());
  }
  auto exp = Put(Header("t1", v1::FILE_KIND_EXPORT, "export.csv"), "exported");
  ASSERT_TRUE(exp.ok()) << exp.status();

  // Every kind, newest first.
  auto all = List("t1", v1::FILE_KIND_UNSPECIFIED);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->files_size(), 6);
  EXPECT_EQ(all->files(0).file_id(), exp->file_id());
  EXPECT_EQ(all->files(5).file_id(), sources[0]);
  EXPECT_THAT(all->next_page_token(), IsEmpty());

  // Sources only, two per page.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = List("t1", v1::FILE_KIND_SOURCE, 2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->files_size(), 2);
    for (const auto& f : page->files()) {
      EXPECT_EQ(f.kind(), v1::FILE_KIND_SOURCE);
      seen.push_back(f.file_id());
    }
    token = page->next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen,
            (std::vector<std::string>{sources[4], sources[3], sources[2], sources[1], sources[0]}));

  auto odd = List("t1", v1::FILE_KIND_SOURCE, 0, "", "int_odd");
  ASSERT_TRUE(odd.ok()) << odd.status();
  ASSERT_EQ(odd->files_size(), 2);
  EXPECT_EQ(odd->files(0).file_id(), sources[3]);
  EXPECT_EQ(odd->files(1).file_id(), sources[1]);

  auto exports = List("t1", v1::FILE_KIND_EXPORT);
  ASSERT_TRUE(exports.ok());
  ASSERT_EQ(exports->files_size(), 1);
  EXPECT_EQ(exports->files(0).name(), "export.csv");

  EXPECT_EQ(List("t1", v1::FILE_KIND_SOURCE, 2, "garbage!").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(List("", v1::FILE_KIND_SOURCE).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ArchiveTest, OneTenantsFilesAreInvisibleToAnother) {
  auto put = Put(Header("tenant_a", v1::FILE_KIND_SOURCE, "secret.csv"), "a's people");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(archive_->Stat("tenant_b", put->file_id()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Get("tenant_b", put->file_id()).status().code(), absl::StatusCode::kNotFound);
  auto listed = List("tenant_b", v1::FILE_KIND_UNSPECIFIED);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->files_size(), 0);
  // ...while the owner sees it.
  EXPECT_TRUE(archive_->Stat("tenant_a", put->file_id()).ok());
  EXPECT_EQ(List("tenant_a", v1::FILE_KIND_UNSPECIFIED)->files_size(), 1);
  EXPECT_EQ(archive_->Stat("tenant_a", "file_doesnotexist").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ArchiveTest, CorruptedBlobOnDiskIsDataLoss) {
  const std::string content = Pattern(3 * 1024 * 1024, 3);
  auto put = Put(Header("t1", v1::FILE_KIND_BACKUP, "snapshot.csv"), content);
  ASSERT_TRUE(put.ok()) << put.status();
  const double corruptions_before = BackupMetrics::Get().Corruptions().Value();

  const std::string path = blobs_->PathFor(put->sha256());
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, 1'000'000), 1);
  c ^= 0x40;
  ASSERT_EQ(::pwrite(fd, &c, 1, 1'000'000), 1);
  ::close(fd);

  size_t received = 0;
  auto got = archive_->Read("t1", put->file_id(), [&](std::string_view chunk) {
    received += chunk.size();
    return absl::OkStatus();
  });
  ASSERT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(put->file_id()));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(put->sha256()));
  EXPECT_LT(received, content.size());
  EXPECT_EQ(BackupMetrics::Get().Corruptions().Value() - corruptions_before, 1.0);
  // Stat still answers from the catalog.
  EXPECT_TRUE(archive_->Stat("t1", put->file_id()).ok());
}

TEST_F(ArchiveTest, MissingBlobIsDataLoss) {
  auto put = Put(Header("t1", v1::FILE_KIND_EXPORT, "gone.csv"), "soon gone");
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(::unlink(blobs_->PathFor(put->sha256()).c_str()), 0);
  EXPECT_EQ(Get("t1", put->file_id()).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ArchiveTest, BadHeadersAreRefusedAndStoreNothing) {
  EXPECT_EQ(Put(Header("", v1::FILE_KIND_SOURCE, "x.csv"), "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Put(Header("t1", v1::FILE_KIND_UNSPECIFIED, "x.csv"), "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto no_name = Put(Header("t1", v1::FILE_KIND_SOURCE, ""), "x");
  EXPECT_EQ(no_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_name.status().message()), HasSubstr("name"));

  v1::PutFileHeader h = Header("t1", v1::FILE_KIND_SOURCE, "x.csv");
  h.set_expected_sha256(Sha256Hex("something else"));
  auto mismatch = Put(h, Pattern(600'000));
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kDataLoss);

  auto listed = List("t1", v1::FILE_KIND_UNSPECIFIED);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->files_size(), 0);
  EXPECT_EQ(CountEntries(dir_ + "/blobs/incoming"), 0);
  EXPECT_EQ(CountEntries(dir_ + "/blobs"), 1);  // only "incoming"
}

TEST_F(ArchiveTest, AbandonedUploadStoresNothing) {
  {
    auto writer = archive_->OpenWriter(Header("t1", v1::FILE_KIND_SOURCE, "half.csv"));
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Write(Pattern(2 * 1024 * 1024)).ok());
  }  // destroyed without Finish(): cancelled
  // The server sees the cancellation asynchronously; give it a moment.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (CountEntries(dir_ + "/blobs/incoming") > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(CountEntries(dir_ + "/blobs/incoming"), 0);
  EXPECT_EQ(CountEntries(dir_ + "/blobs"), 1);
  auto listed = List("t1", v1::FILE_KIND_UNSPECIFIED);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->files_size(), 0);
}

TEST_F(ArchiveTest, ReadSinkErrorStopsTheTransfer) {
  auto put = Put(Header("t1", v1::FILE_KIND_SOURCE, "big.csv"), Pattern(2 * 1024 * 1024));
  ASSERT_TRUE(put.ok()) << put.status();
  int calls = 0;
  auto got = archive_->Read("t1", put->file_id(), [&](std::string_view) {
    ++calls;
    return absl::ResourceExhaustedError("disk full on the reader's side");
  });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace rostersync::backup
