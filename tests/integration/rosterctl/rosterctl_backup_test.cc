// The rosterctl binary, run as a subprocess, against a real BackupService (in this process,
// on a loopback port 0) backed by PostgreSQL from the fixture and blobs in a temp folder.
// Files are put into the archive with GrpcArchive; `backups list` and `backups download` must
// show and return them byte for byte, scoped to the tenant, and refuse a corrupted blob.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/archive_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/backup/blob_store.h"
#include "tests/fixtures/archive_harness.h"
#include "tests/fixtures/subprocess.h"

namespace rostersync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char kRosterctl[] = RS_BINARY_DIR "/tools/rosterctl/rosterctl";

// Deterministic bytes that are not text: every byte value shows up.
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 7;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s[i] = static_cast<char>(x >> 16);
  }
  return s;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

class RosterctlBackupTest : public testing::ArchiveHarnessTest {
 protected:
  void SetUp() override {
    absl::Status st = harness_.Start({.database_prefix = "rosterctl_",
                                      .blob_subdir = "archive",
                                      .temp_dir_prefix = "rosterctl_backup_test"});
    ASSERT_TRUE(st.ok()) << st;
    dir_ = harness_.dir();
    blobs_ = &harness_.blobs();
    address_ = harness_.address();
    archive_ = &harness_.archive();
    ASSERT_TRUE(Exists(kRosterctl)) << kRosterctl << " is not built";
  }

  void TearDown() override { harness_.Stop(); }

  v1::FileInfo Put(const std::string& tenant, v1::FileKind kind, const std::string& name,
                   const std::string& content) {
    v1::PutFileHeader header;
    header.set_tenant_id(tenant);
    header.set_kind(kind);
    header.set_name(name);
    header.set_integration_id("int-1");
    header.set_run_id("run-1");
    header.set_content_type("text/csv");
    auto writer = archive_->OpenWriter(header);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (!writer.ok()) return {};
    for (size_t i = 0; i < content.size(); i += 70'000) {
      absl::Status st = (*writer)->Write(std::string_view(content).substr(i, 70'000));
      EXPECT_TRUE(st.ok()) << st;
    }
    auto info = (*writer)->Finish();
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : v1::FileInfo();
  }

  // Runs rosterctl with --backup pointing at the in-process service.
  CliResult Rosterctl(const std::string& tenant, std::vector<std::string> args) {
    static std::atomic<int> n{0};
    const std::string log = absl::StrCat(dir_, "/rosterctl_", n++, ".log");
    testing::Subprocess::Options options;
    options.argv = {kRosterctl, "--backup", address_, "--tenant", tenant, "--timeout", "20"};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.log_path = log;
    CliResult result;
    auto proc = testing::Subprocess::Spawn(options);
    EXPECT_TRUE(proc.ok()) << proc.status();
    if (!proc.ok()) return result;
    auto status = (*proc)->Wait(absl::Seconds(60));
    EXPECT_TRUE(status.ok()) << status.status();
    if (status.ok() && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
    result.output = Exists(log) ? testing::ReadFileOrDie(log) : "";
    return result;
  }

  backup::BlobStore* blobs_ = nullptr;
  GrpcArchive* archive_ = nullptr;
  std::string address_;
  std::string dir_;
};

TEST_F(RosterctlBackupTest, ListShowsTheTenantsFilesOnly) {
  const v1::FileInfo source = Put("acme", v1::FILE_KIND_SOURCE, "roster_20261121.csv",
                                  "person_id,email\n1,a@example.com\n");
  const v1::FileInfo backup = Put("acme", v1::FILE_KIND_BACKUP, "backup.csv", "x\n");
  const v1::FileInfo foreign = Put("globex", v1::FILE_KIND_SOURCE, "secret_roster.csv", "y\n");
  ASSERT_FALSE(source.file_id().empty());

  CliResult all = Rosterctl("acme", {"backups", "list"});
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_THAT(all.output, HasSubstr("FILE"));
  EXPECT_THAT(all.output, HasSubstr(source.file_id()));
  EXPECT_THAT(all.output, HasSubstr("roster_20261121.csv"));
  EXPECT_THAT(all.output, HasSubstr(backup.file_id()));
  EXPECT_THAT(all.output, Not(HasSubstr(foreign.file_id())));
  EXPECT_THAT(all.output, Not(HasSubstr("secret_roster.csv")));

  CliResult sources = Rosterctl("acme", {"--output", "json", "backups", "list", "--kind", "source",
                                         "--integration", "int-1"});
  ASSERT_EQ(sources.exit_code, 0) << sources.output;
  v1::ListFilesResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(sources.output, &parsed).ok())
      << sources.output;
  ASSERT_EQ(parsed.files_size(), 1);
  EXPECT_EQ(parsed.files(0).file_id(), source.file_id());
  EXPECT_EQ(parsed.files(0).sha256(), source.sha256());
}

TEST_F(RosterctlBackupTest, DownloadReturnsTheSameBytes) {
  const std::string content = Pattern(1'300'000);  // several gRPC messages
  const v1::FileInfo info = Put("acme", v1::FILE_KIND_EXPORT, "export.csv", content);
  ASSERT_FALSE(info.file_id().empty());
  const std::string path = dir_ + "/downloaded.csv";

  CliResult r = Rosterctl("acme", {"backups", "download", info.file_id(), "-o", path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Wrote 1300000 bytes"));
  EXPECT_TRUE(testing::ReadFileOrDie(path) == content) << "downloaded bytes differ";

  // To stdout (captured in the log): the bytes and nothing else.
  CliResult to_stdout = Rosterctl("acme", {"backups", "download", info.file_id()});
  ASSERT_EQ(to_stdout.exit_code, 0);
  EXPECT_TRUE(to_stdout.output == content) << "stdout differs from the file";
}

TEST_F(RosterctlBackupTest, AnotherTenantCannotDownload) {
  const v1::FileInfo info = Put("acme", v1::FILE_KIND_SOURCE, "roster.csv", "a,b\n");
  const std::string path = dir_ + "/stolen.csv";
  CliResult r = Rosterctl("globex", {"backups", "download", info.file_id(), "-o", path});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rosterctl: backups download: NOT_FOUND"));
  EXPECT_FALSE(Exists(path));
}

TEST_F(RosterctlBackupTest, CorruptedBlobFailsAndLeavesNoFile) {
  const std::string content = Pattern(800'000);
  const v1::FileInfo info = Put("acme", v1::FILE_KIND_BACKUP, "backup.csv", content);
  ASSERT_FALSE(info.file_id().empty());
  // Flip bytes in the blob on disk, keeping its size.
  const std::string blob = blobs_->PathFor(info.sha256());
  ASSERT_TRUE(Exists(blob)) << blob;
  ::chmod(blob.c_str(), 0644);
  {
    std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open()) << blob;
    f.seekp(400'000);
    f.write("CORRUPTED", 9);
  }
  const std::string path = dir_ + "/out/backup.csv";
  ::mkdir((dir_ + "/out").c_str(), 0755);
  CliResult r = Rosterctl("acme", {"backups", "download", info.file_id(), "-o", path});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rosterctl: backups download: DATA_LOSS"));
  EXPECT_FALSE(Exists(path)) << "a corrupt download was kept";
  // No temp file left next to it either.
  EXPECT_EQ(testing::RunCommand({"/bin/rmdir", dir_ + "/out"}), 0) << "folder not empty";
}

}  // namespace
}  // namespace rostersync
