// The import pipeline against real PostgreSQL and the real backup service (in process, its
// own gRPC server): staging with COPY, set-based diff, full-sync policies, partial imports with
// an error report, the guards and ApproveDeletions, preview, UploadRoster, and 100,000 rows.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/archive_client.h"
#include "common/status_macros.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "services/roster/importer.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_service.h"
#include "services/roster/roster_store.h"
#include "services/roster/staging_table.h"
#include "tests/fixtures/archive_harness.h"

namespace rostersync::roster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTenant[] = "tenant_a";
constexpr char kIntegration[] = "int_1";
constexpr char kHeader[] = "person_id,email,first_name,last_name,language,active\n";

class ImportPipelineTest : public rostersync::testing::ArchiveHarnessTest {
 protected:
  void SetUp() override {
    absl::Status st = harness_.Start({.database_prefix = "pipeline_",
                                      .pool_size = 4,
                                      .archive_deadline = absl::Seconds(60),
                                      .temp_dir_prefix = "import_pipeline_test"});
    ASSERT_TRUE(st.ok()) << st;
    archive_ = &harness_.archive();
    store_ = std::make_unique<RosterStore>(harness_.pool());
    ASSERT_TRUE(store_->Migrate().ok());
    roster_service_ = std::make_unique<RosterServiceImpl>(*store_, *archive_);
    {
      grpc::ServerBuilder builder;
      int port = 0;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      builder.RegisterService(roster_service_.get());
      roster_server_ = builder.BuildAndStart();
      ASSERT_NE(roster_server_, nullptr);
      roster_stub_ = v1::RosterService::NewStub(grpc::CreateChannel(
          absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
    }
    importer_ = std::make_unique<Importer>(*store_, *archive_);
  }

  void TearDown() override {
    importer_.reset();
    roster_stub_.reset();
    if (roster_server_) {
      roster_server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    }
    roster_server_.reset();
    roster_service_.reset();
    harness_.StopServing();
    store_.reset();
    harness_.Stop();
  }

  std::string PutSource(const std::string& csv, const std::string& name = "roster.csv") {
    v1::PutFileHeader h;
    h.set_tenant_id(kTenant);
    h.set_kind(v1::FILE_KIND_SOURCE);
    h.set_name(name);
    h.set_integration_id(kIntegration);
    auto writer = archive_->OpenWriter(h);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (!writer.ok()) return "";
    for (size_t at = 0; at < csv.size(); at += 1 << 20) {
      EXPECT_TRUE((*writer)->Write(std::string_view(csv).substr(at, 1 << 20)).ok());
    }
    auto info = (*writer)->Finish();
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->file_id() : "";
  }

  std::string ReadFile(const std::string& file_id) {
    std::string out;
    auto info = archive_->Read(kTenant, file_id, [&](std::string_view c) {
      out.append(c);
      return absl::OkStatus();
    });
    EXPECT_TRUE(info.ok()) << info.status();
    return out;
  }

  v1::ImportSummary Import(const std::string& job_id, const std::string& csv,
                           v1::SyncPolicy policy = v1::SYNC_POLICY_DELETE,
                           v1::ImportPolicy import_policy = {},
                           std::map<std::string, std::string> header_map = {},
                           const std::string& integration = kIntegration) {
    return RunImport(job_id, csv, policy, std::move(import_policy), std::move(header_map),
                     integration)
        .summary;
  }

  // Import(), with how the rows went in (ImportOutcome::path).
  ImportOutcome RunImport(const std::string& job_id, const std::string& csv,
                          v1::SyncPolicy policy = v1::SYNC_POLICY_DELETE,
                          v1::ImportPolicy import_policy = {},
                          std::map<std::string, std::string> header_map = {},
                          const std::string& integration = kIntegration) {
    v1::RosterJob job;
    job.set_job_id(job_id);
    job.set_tenant_id(kTenant);
    job.set_run_id(job_id);
    job.set_integration_id(integration);
    job.set_op(v1::RosterJob::OP_IMPORT);
    job.set_file_id(PutSource(csv));
    import_policy.set_sync_policy(policy);
    *job.mutable_policy() = import_policy;
    for (const auto& [k, v] : header_map) (*job.mutable_header_map())[k] = v;
    auto outcome = importer_->Import(job);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : ImportOutcome{};
  }

  // PreviewImport of `csv` (archived as a new SOURCE file) for kIntegration under `policy`,
  // with sync policy DELETE.
  grpc::Status Preview(const std::string& csv, v1::ImportPolicy policy, int examples_per_kind,
                       v1::ImportSummary* out) {
    grpc::ClientContext ctx;
    v1::PreviewImportRequest req;
    req.set_tenant_id(kTenant);
    req.set_integration_id(kIntegration);
    req.set_file_id(PutSource(csv));
    policy.set_sync_policy(v1::SYNC_POLICY_DELETE);
    *req.mutable_policy() = policy;
    req.set_examples_per_kind(examples_per_kind);
    return roster_stub_->PreviewImport(&ctx, req, out);
  }

  // How many BACKUP files the tenant has in the archive.
  int BackupCount() { return FileCount(v1::FILE_KIND_BACKUP); }
  // How many finished files of `kind` the tenant has in the archive.
  int FileCount(v1::FileKind kind) {
    grpc::ClientContext ctx;
    v1::ListFilesRequest req;
    req.set_tenant_id(kTenant);
    req.set_kind(kind);
    req.set_page_size(500);
    v1::ListFilesResponse resp;
    grpc::Status st = harness_.stub().ListFiles(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.files_size();
  }

  std::vector<v1::Person> Roster() {
    auto people = store_->LoadPeople(kTenant);
    EXPECT_TRUE(people.ok()) << people.status();
    return people.ok() ? *people : std::vector<v1::Person>();
  }
  std::map<std::string, v1::Person> RosterById() {
    std::map<std::string, v1::Person> out;
    for (auto& p : Roster()) out[p.person_id()] = p;
    return out;
  }

  void ClearRoster() {
    ASSERT_TRUE(harness_.pool()
                    .Transact([](pqxx::work& txn) {
                      txn.exec("DELETE FROM roster.people");
                      return absl::OkStatus();
                    })
                    .ok());
  }

  // `csv` imported into an empty roster (a first import, which goes `first_path`), and again,
  // the staged way, into a roster holding only another integration's person: the same
  // summary, error report and people either way. Each applied import leaves one backup (an
  // abandoned first try, none).
  void ExpectFirstImportAsStaged(const std::string& name, const std::string& csv,
                                 const std::string& first_path) {
    SCOPED_TRACE(name);
    v1::ImportPolicy loose;
    loose.set_max_invalid_share(0.5);
    ClearRoster();
    const int backups = BackupCount();
    const int reports = FileCount(v1::FILE_KIND_ERROR_REPORT);
    const ImportOutcome first = RunImport("first " + name, csv, v1::SYNC_POLICY_DELETE, loose);
    EXPECT_EQ(first.path, first_path);
    if (first_path != "first") {
      EXPECT_THAT(first.staged_because, HasSubstr("repeats"));
    }
    ASSERT_EQ(first.summary.status(), v1::IMPORT_STATUS_APPLIED) << first.summary.message();
    EXPECT_EQ(BackupCount(), backups + 1);
    EXPECT_EQ(FileCount(v1::FILE_KIND_ERROR_REPORT),
              reports + (first.summary.error_report_file_id().empty() ? 0 : 1));
    auto emptied = ParseSnapshot(ReadFile(first.summary.backup_file_id()), kTenant);
    ASSERT_TRUE(emptied.ok()) << emptied.status();
    EXPECT_TRUE(emptied->empty());  // the roster before: nobody
    std::map<std::string, v1::Person> direct = RosterById();

    ClearRoster();
    ASSERT_EQ(RunImport("other " + name, "person_id,email,first_name,last_name,language,active\n"
                                         "Z9,z9@x.io,Zed,Nine,en,y\n",
                        v1::SYNC_POLICY_DELETE, {}, {}, "int_other")
                  .summary.status(),
              v1::IMPORT_STATUS_APPLIED);
    const ImportOutcome staged = RunImport("staged " + name, csv, v1::SYNC_POLICY_DELETE, loose);
    EXPECT_EQ(staged.path, "staged");
    ASSERT_EQ(staged.summary.status(), v1::IMPORT_STATUS_APPLIED) << staged.summary.message();
    std::map<std::string, v1::Person> general = RosterById();
    ASSERT_EQ(general.erase("Z9"), 1u);

    EXPECT_EQ(first.summary.added(), staged.summary.added());
    EXPECT_EQ(first.summary.rows_read(), staged.summary.rows_read());
    EXPECT_EQ(first.summary.rejected_rows(), staged.summary.rejected_rows());
    EXPECT_EQ(first.summary.message(), staged.summary.message());
    EXPECT_THAT(first.summary.header_notes(),
                ::testing::ElementsAreArray(staged.summary.header_notes()));
    EXPECT_EQ(first.summary.updated() + first.summary.deleted() + first.summary.unchanged(), 0);
    ASSERT_EQ(first.summary.errors_size(), staged.summary.errors_size());
    for (int i = 0; i < first.summary.errors_size(); ++i) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first.summary.errors(i),
                                                                     staged.summary.errors(i)))
          << first.summary.errors(i).DebugString() << " vs "
          << staged.summary.errors(i).DebugString();
    }
    EXPECT_EQ(first.summary.error_report_file_id().empty(),
              staged.summary.error_report_file_id().empty());
    if (!first.summary.error_report_file_id().empty()) {
      EXPECT_EQ(ReadFile(first.summary.error_report_file_id()),
                ReadFile(staged.summary.error_report_file_id()));
    }
    ASSERT_EQ(direct.size(), general.size());
    for (auto& [id, p] : direct) {
      ASSERT_EQ(general.count(id), 1u) << id;
      v1::Person want = general[id];
      p.clear_updated_at();
      want.clear_updated_at();
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(p, want))
          << p.DebugString() << " vs " << want.DebugString();
    }
  }

  GrpcArchive* archive_ = nullptr;
  std::unique_ptr<RosterStore> store_;
  std::unique_ptr<RosterServiceImpl> roster_service_;
  std::unique_ptr<grpc::Server> roster_server_;
  std::unique_ptr<v1::RosterService::Stub> roster_stub_;
  std::unique_ptr<Importer> importer_;
};

std::string People(int from, int to, const std::string& suffix = "") {
  std::string csv = kHeader;
  for (int i = from; i < to; ++i) {
    absl::StrAppend(&csv, "P", i, ",p", i, "@x.io,F", i, suffix, ",L", i, ",en,y\n");
  }
  return csv;
}

TEST_F(ImportPipelineTest, FullSyncPolicies) {
  // Person X belongs to another integration: never removed by int_1's absences.
  ASSERT_EQ(Import("r0", std::string(kHeader) + "X,x@x.io,X,X,en,y\n", v1::SYNC_POLICY_DELETE,
                   {}, {}, "int_other")
                .status(),
            v1::IMPORT_STATUS_APPLIED);
  ASSERT_EQ(Import("r1", People(0, 6)).status(), v1::IMPORT_STATUS_APPLIED);
  ASSERT_TRUE(store_->AssignSeat(kTenant, "P5", "S-5").ok());

  v1::ImportSummary keep = Import("r2", People(0, 5), v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(keep.status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(keep.unchanged(), 5);
  EXPECT_EQ(keep.deleted() + keep.deactivated(), 0);
  EXPECT_TRUE(RosterById().at("P5").active());

  v1::ImportSummary deact = Import("r3", People(0, 5), v1::SYNC_POLICY_DEACTIVATE);
  EXPECT_EQ(deact.deactivated(), 1);
  EXPECT_FALSE(RosterById().at("P5").active());
  EXPECT_EQ(RosterById().at("P5").seat(), "S-5");  // deactivated people keep their seat
  // Already inactive: nothing more to do.
  EXPECT_EQ(Import("r4", People(0, 5), v1::SYNC_POLICY_DEACTIVATE).deactivated(), 0);

  v1::ImportSummary del = Import("r5", People(0, 4), v1::SYNC_POLICY_DELETE);
  EXPECT_EQ(del.status(), v1::IMPORT_STATUS_APPLIED) << del.message();
  EXPECT_EQ(del.deleted(), 2);  // P4 and P5
  auto roster = RosterById();
  EXPECT_EQ(roster.count("P5"), 0u);
  EXPECT_EQ(roster.count("X"), 1u);
  EXPECT_EQ(roster.size(), 5u);
  // P5's seat was released with P5.
  EXPECT_TRUE(store_->AssignSeat(kTenant, "P0", "S-5").ok());
  // The backup before r5 holds P5 with the seat.
  auto backup = ParseSnapshot(ReadFile(del.backup_file_id()), kTenant);
  ASSERT_TRUE(backup.ok()) << backup.status();
  bool found = false;
  for (const auto& p : *backup) found |= p.person_id() == "P5" && p.seat() == "S-5";
  EXPECT_TRUE(found);
}

TEST_F(ImportPipelineTest, MisMappedFileHoldsRemovalsAndApproveAppliesExactlyTheHeldSet) {
  // Keyed by email (no person_id column): "Mail" maps to email.
  std::map<std::string, std::string> map = {{"Mail", "email"},       {"Given", "first_name"},
                                            {"Family", "last_name"}, {"Lang", "language"},
                                            {"Status", "active"}};
  std::string good = "Mail,Given,Family,Lang,Status\n";
  for (int i = 0; i < 150; ++i) absl::StrAppend(&good, "w", i, "@corp.io,F,L,en,y\n");
  v1::ImportSummary first = Import("r1", good, v1::SYNC_POLICY_DELETE, {}, map);
  ASSERT_EQ(first.status(), v1::IMPORT_STATUS_APPLIED) << first.message();
  ASSERT_EQ(first.added(), 150);

  // The HR system renamed "Mail" to "Work Mail" and added a "Mail" column of private emails:
  // every person looks new.
  std::string renamed = "Work Mail,Mail,Given,Family,Lang,Status\n";
  for (int i = 0; i < 150; ++i) {
    absl::StrAppend(&renamed, "w", i, "@corp.io,home", i, "@mail.io,F,L,en,y\n");
  }
  v1::ImportSummary held = Import("r2", renamed, v1::SYNC_POLICY_DELETE, {}, map);
  ASSERT_EQ(held.status(), v1::IMPORT_STATUS_HELD) << held.message();
  EXPECT_EQ(held.added(), 150);
  EXPECT_EQ(held.deleted(), 0);
  EXPECT_EQ(held.held(), 150);
  EXPECT_THAT(held.held_reason(), HasSubstr("max_removal_share"));
  EXPECT_THAT(held.held_reason(), HasSubstr("header set changed"));
  EXPECT_FALSE(held.backup_file_id().empty());
  EXPECT_EQ(Roster().size(), 300u);  // adds applied, removals held
  // Visible in the history.
  auto stored = store_->GetImport(kTenant, held.import_id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status(), v1::IMPORT_STATUS_HELD);
  EXPECT_EQ(stored->held(), 150);
  EXPECT_EQ(stored->held_reason(), held.held_reason());

  // One held person is changed since (a seat assigned): approval skips them.
  ASSERT_TRUE(store_->AssignSeat(kTenant, "w7@corp.io", "S-7").ok());

  grpc::ClientContext ctx;
  v1::ApproveDeletionsRequest req;
  req.set_tenant_id(kTenant);
  req.set_import_id(held.import_id());
  v1::ImportSummary approved;
  grpc::Status s = roster_stub_->ApproveDeletions(&ctx, req, &approved);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(approved.status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(approved.deleted(), 149);
  EXPECT_TRUE(approved.has_approved_at());
  EXPECT_THAT(approved.message(), HasSubstr("1 skipped"));
  auto roster = RosterById();
  EXPECT_EQ(roster.size(), 151u);  // exactly the held set, minus the changed one
  EXPECT_EQ(roster.count("w7@corp.io"), 1u);
  EXPECT_EQ(roster.count("home0@mail.io"), 1u);

  // Idempotent: the same summary, nothing more applied.
  grpc::ClientContext ctx2;
  v1::ImportSummary again;
  ASSERT_TRUE(roster_stub_->ApproveDeletions(&ctx2, req, &again).ok());
  EXPECT_EQ(again.deleted(), 149);
  EXPECT_EQ(again.approved_at().seconds(), approved.approved_at().seconds());
  EXPECT_EQ(Roster().size(), 151u);

  // A non-held import cannot be approved.
  grpc::ClientContext ctx3;
  req.set_import_id(first.import_id());
  EXPECT_EQ(roster_stub_->ApproveDeletions(&ctx3, req, &again).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ImportPipelineTest, HeaderChangeGuard) {
  std::string v1 = "person_id,email,first_name,last_name,language,active,attr:dept\n";
  for (int i = 0; i < 10; ++i) absl::StrAppend(&v1, "P", i, ",p", i, "@x.io,F,L,en,y,D\n");
  ASSERT_EQ(Import("r1", v1).status(), v1::IMPORT_STATUS_APPLIED);
  // Same people but one, and the dept column is gone: the one removal is held.
  v1::ImportSummary s = Import("r2", People(0, 9));
  EXPECT_EQ(s.status(), v1::IMPORT_STATUS_HELD);
  EXPECT_EQ(s.held(), 1);
  EXPECT_THAT(s.held_reason(), HasSubstr("attr:dept"));
  EXPECT_EQ(Roster().size(), 10u);
  // Allowed: a later file of the new shape applies. (The held import is the last good one,
  // and its header set is the new one.)
  v1::ImportPolicy allow;
  allow.set_allow_header_change(true);
  v1::ImportSummary ok = Import("r3", std::string(kHeader) + "P0,p0@x.io,F,L,en,y\n",
                                v1::SYNC_POLICY_DELETE, allow);
  // 9 -> 1 rows: the row-drop guard still holds it.
  EXPECT_EQ(ok.status(), v1::IMPORT_STATUS_HELD);
  EXPECT_THAT(ok.held_reason(), HasSubstr("row count fell from 9 to 1"));
  EXPECT_THAT(ok.held_reason(), ::testing::Not(HasSubstr("header")));
}

TEST_F(ImportPipelineTest, RowDropGuardAndThresholdsPerIntegration) {
  ASSERT_EQ(Import("r1", People(0, 10)).status(), v1::IMPORT_STATUS_APPLIED);
  v1::ImportSummary s = Import("r2", People(0, 4));
  EXPECT_EQ(s.status(), v1::IMPORT_STATUS_HELD);
  EXPECT_EQ(s.held(), 6);
  EXPECT_THAT(s.held_reason(), HasSubstr("max_row_drop_share"));
  // A policy that tolerates the drop applies it.
  v1::ImportPolicy loose;
  loose.set_max_row_drop_share(0.9);
  v1::ImportSummary t = Import("r3", People(0, 3), v1::SYNC_POLICY_DELETE, loose);
  EXPECT_EQ(t.status(), v1::IMPORT_STATUS_APPLIED) << t.held_reason();
  EXPECT_EQ(t.deleted(), 7);  // 6 held by r2 (still there) + P3
  // A count limit.
  ASSERT_EQ(Import("r4", People(0, 10)).status(), v1::IMPORT_STATUS_APPLIED);
  v1::ImportPolicy strict;
  strict.set_max_removals(1);
  strict.set_max_row_drop_share(1);
  v1::ImportSummary u = Import("r5", People(0, 8), v1::SYNC_POLICY_DEACTIVATE, strict);
  EXPECT_EQ(u.status(), v1::IMPORT_STATUS_HELD);
  EXPECT_THAT(u.held_reason(), HasSubstr("2 removals exceed the limit of 1"));
}

TEST_F(ImportPipelineTest, PartialImportBelowThresholdWithErrorReport) {
  ASSERT_EQ(Import("r1", std::string(kHeader) + "P1,p1@x.io,F,L,en,y\n").status(),
            v1::IMPORT_STATUS_APPLIED);
  std::string csv = kHeader;
  for (int i = 0; i < 100; ++i) {
    if (i == 1) {
      absl::StrAppend(&csv, "P1,not-an-email,F,L,en,y\n");  // invalid: P1 must survive DELETE
    } else if (i == 50) {
      absl::StrAppend(&csv, "P50,p50@x.io,F,L,en,perhaps\n");
    } else {
      absl::StrAppend(&csv, "P", i, ",p", i, "@x.io,F,L,en,y\n");
    }
  }
  v1::ImportSummary s = Import("r2", csv);
  ASSERT_EQ(s.status(), v1::IMPORT_STATUS_APPLIED) << s.message();
  EXPECT_EQ(s.rows_read(), 100);
  EXPECT_EQ(s.rejected_rows(), 2);
  EXPECT_EQ(s.added(), 98);
  EXPECT_EQ(s.deleted(), 0);
  ASSERT_EQ(s.errors_size(), 2);
  EXPECT_EQ(s.errors(0).line(), 3);
  ASSERT_FALSE(s.error_report_file_id().empty());
  auto info = archive_->Stat(kTenant, s.error_report_file_id());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kind(), v1::FILE_KIND_ERROR_REPORT);
  std::string report = ReadFile(s.error_report_file_id());
  EXPECT_THAT(report, HasSubstr("line,column,value,reason\r\n3,email,not-an-email,"));
  EXPECT_THAT(report, HasSubstr("\r\n52,active,perhaps,"));
  auto roster = RosterById();
  EXPECT_EQ(roster.size(), 99u);
  EXPECT_EQ(roster.at("P1").email(), "p1@x.io");  // the invalid row changed nothing
  EXPECT_EQ(roster.count("P50"), 0u);
}

TEST_F(ImportPipelineTest, RejectionAboveThreshold) {
  std::string csv = People(0, 9) + "P9,bad,F,L,en,y\n";  // 10% invalid > 5%
  v1::ImportSummary s = Import("r1", csv);
  EXPECT_EQ(s.status(), v1::IMPORT_STATUS_REJECTED);
  EXPECT_THAT(s.message(), HasSubstr("max_invalid_share"));
  EXPECT_FALSE(s.error_report_file_id().empty());
  EXPECT_TRUE(Roster().empty());
  v1::ImportPolicy tolerant;
  tolerant.set_max_invalid_share(0.2);
  EXPECT_EQ(Import("r2", csv, v1::SYNC_POLICY_DELETE, tolerant).added(), 9);
}

TEST_F(ImportPipelineTest, PreviewEqualsWhatApplyDoes) {
  ASSERT_EQ(Import("r1", People(0, 10)).status(), v1::IMPORT_STATUS_APPLIED);
  std::string next = People(2, 8) + "P8,p8@x.io,Changed,L8,fr,y\nNEW,new@x.io,N,N,en,y\n";
  std::vector<v1::Person> before = Roster();

  v1::ImportPolicy keep_rows;
  keep_rows.set_max_row_drop_share(1);
  v1::ImportSummary preview;
  grpc::Status st = Preview(next, keep_rows, 1, &preview);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(preview.status(), v1::IMPORT_STATUS_PREVIEW);
  EXPECT_EQ(preview.added(), 1);
  EXPECT_EQ(preview.updated(), 1);
  EXPECT_EQ(preview.unchanged(), 6);
  EXPECT_EQ(preview.deleted(), 3);  // P0, P1, P9
  ASSERT_EQ(preview.examples_size(), 3);
  EXPECT_EQ(preview.examples(0).kind(), v1::CHANGE_KIND_ADDED);
  EXPECT_EQ(preview.examples(0).person_id(), "NEW");
  EXPECT_EQ(preview.examples(1).kind(), v1::CHANGE_KIND_UPDATED);
  EXPECT_THAT(preview.examples(1).changed_fields(), ElementsAre("first_name", "language"));
  EXPECT_EQ(preview.examples(1).before().first_name(), "F8");
  EXPECT_EQ(preview.examples(1).after().first_name(), "Changed");
  EXPECT_EQ(preview.examples(2).kind(), v1::CHANGE_KIND_DELETED);
  EXPECT_EQ(preview.examples(2).person_id(), "P0");
  EXPECT_FALSE(preview.examples(2).has_after());
  std::string diff = ReadFile(preview.diff_file_id());
  EXPECT_EQ(diff.substr(0, diff.find("\r\n")), kDiffCsvHeader);
  EXPECT_THAT(diff, HasSubstr("updated,P8,8,first_name language,p8@x.io,Changed"));
  EXPECT_EQ(std::count(diff.begin(), diff.end(), '\n'), 1 + 5);
  // Nothing applied.
  std::vector<v1::Person> after_preview = Roster();
  ASSERT_EQ(after_preview.size(), before.size());

  v1::ImportPolicy loose;
  loose.set_max_row_drop_share(1);
  v1::ImportSummary applied = Import("r2", next, v1::SYNC_POLICY_DELETE, loose);
  EXPECT_EQ(applied.status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(applied.added(), preview.added());
  EXPECT_EQ(applied.updated(), preview.updated());
  EXPECT_EQ(applied.unchanged(), preview.unchanged());
  EXPECT_EQ(applied.deleted(), preview.deleted());
  EXPECT_EQ(Roster().size(), 8u);
}

// A tenant without people takes a shortcut (the diff is a view of the staging table, every
// valid row an add): the same file previewed into an empty roster and into one that holds only
// a person of another integration (out of scope, so the general diff has nothing more to say)
// gives the same counts, examples and diff CSV; applied, the defaults of the columns the file
// lacks (person type) and the kept seat cell are as the general path writes them.
TEST_F(ImportPipelineTest, FirstImportShortcutEqualsTheGeneralDiff) {
  const std::string file =
      "person_id,email,first_name,last_name,language,active,seat,attr:cost_center\n"
      "A1,a1@x.io,Ann,One,en,y,S-1,CC1\n"
      "A2,a2@x.io,Bob,Two,de,n,,\n"
      "A3,not-an-email,Cid,Three,en,y,S-3,CC3\n"
      "A4,a4@x.io,Dee,Four,fr,y,S-4,\"C\"\"C\\4\tx\"\n";  // quote, backslash, tab
  v1::ImportPolicy loose;
  loose.set_max_invalid_share(0.5);
  auto preview = [&]() {
    v1::ImportSummary out;
    grpc::Status st = Preview(file, loose, 10, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out;
  };
  const v1::ImportSummary empty = preview();
  EXPECT_EQ(empty.status(), v1::IMPORT_STATUS_PREVIEW);
  EXPECT_EQ(empty.added(), 3);
  EXPECT_EQ(empty.updated() + empty.unchanged() + empty.deleted() + empty.deactivated(), 0);
  EXPECT_EQ(empty.rejected_rows(), 1);
  ASSERT_EQ(empty.examples_size(), 3);
  EXPECT_EQ(empty.examples(0).person_id(), "A1");
  EXPECT_EQ(empty.examples(0).after().seat(), "S-1");
  EXPECT_EQ(empty.examples(0).after().person_type(), v1::PERSON_TYPE_EMPLOYEE);
  EXPECT_EQ(empty.examples(0).after().attributes().at("cost_center"), "CC1");
  EXPECT_EQ(empty.examples(1).person_id(), "A2");
  EXPECT_EQ(empty.examples(2).person_id(), "A4");
  EXPECT_TRUE(Roster().empty());  // a preview applies nothing

  ASSERT_EQ(Import("other", "person_id,email,first_name,last_name,language,active\n"
                            "Z9,z9@x.io,Zed,Nine,en,y\n",
                   v1::SYNC_POLICY_DELETE, {}, {}, "int_other")
                .status(),
            v1::IMPORT_STATUS_APPLIED);
  const v1::ImportSummary general = preview();
  EXPECT_EQ(general.added(), empty.added());
  EXPECT_EQ(general.updated(), 0);
  EXPECT_EQ(general.unchanged(), 0);
  EXPECT_EQ(general.deleted(), 0);  // Z9 is another integration's
  EXPECT_EQ(general.rejected_rows(), empty.rejected_rows());
  ASSERT_EQ(general.examples_size(), empty.examples_size());
  for (int i = 0; i < general.examples_size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(general.examples(i),
                                                                   empty.examples(i)))
        << general.examples(i).DebugString() << " vs " << empty.examples(i).DebugString();
  }
  EXPECT_EQ(ReadFile(general.diff_file_id()), ReadFile(empty.diff_file_id()));

  // Applied into an empty roster again (Z9 removed behind the importer's back): the shortcut.
  ASSERT_TRUE(harness_.pool()
                  .Transact([](pqxx::work& txn) {
                    txn.exec("DELETE FROM roster.people");
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(Roster().empty());
  v1::ImportSummary applied = Import("first", file, v1::SYNC_POLICY_DELETE, loose);
  ASSERT_EQ(applied.status(), v1::IMPORT_STATUS_APPLIED) << applied.message();
  EXPECT_EQ(applied.added(), 3);
  EXPECT_FALSE(applied.backup_file_id().empty());
  std::map<std::string, v1::Person> people = RosterById();
  ASSERT_EQ(people.size(), 3u);
  EXPECT_EQ(people["A1"].seat(), "S-1");
  EXPECT_EQ(people["A1"].source_integration_id(), kIntegration);
  EXPECT_EQ(people["A2"].seat(), "");
  EXPECT_FALSE(people["A2"].active());
  EXPECT_EQ(people["A2"].person_type(), v1::PERSON_TYPE_EMPLOYEE);
  EXPECT_EQ(people["A4"].attributes().at("cost_center"), "C\"C\\4\tx");
  EXPECT_EQ(people.count("A3"), 0u);
}

// A first import COPYs its valid rows straight into the roster: every column, the defaults
// of the columns a file lacks, a key taken from the email, escapes and non-ASCII text come out
// as the staged import writes them.
TEST_F(ImportPipelineTest, AFirstImportWritesWhatTheStagedImportWould) {
  ExpectFirstImportAsStaged(
      "every column",
      "person_id,email,first_name,last_name,language,active,person_type,seat,attr:cost_center,"
      "attr:note\n"
      "A1,a1@x.io,Ann,One,en,y,contractor,S-1,CC1,\"quote \"\" and \\ backslash\"\n"
      "A2,a2@x.io,Bob,Two,de,n,intern,,,\n"
      "A3,not-an-email,Cid,Three,en,y,staff,S-3,CC3,x\n"
      "A4,a4@x.io,Dee,Four,fr,inactive,student,S-4,\"C\tC\",\"line\nbreak\"\n"
      "A5,A5@X.io,\xC3\x89mile,\xC3\x9Cnal,fr,yes,part_time,S-5,\xCE\xA9mega,\n",
      "first");
  ExpectFirstImportAsStaged("no email, type or seat column",
                            "person_id,first_name,last_name,language,active\n"
                            "B1,Bea,One,en,y\n"
                            "B2,Bo,Two,nl,n\n",
                            "first");
  ExpectFirstImportAsStaged("key from the email",
                            "email,first_name,last_name,language,active\n"
                            "C1@X.io,Cy,One,en,y\n"
                            "c2@x.io,Cal,Two,en,0\n"
                            "bad-email,Cat,Three,en,y\n",
                            "first");
}

// A key or seat that repeats in a first import (the primary key or the seat index refuses
// the COPY; an invalid row's is checked after it) sends the file the staged way, which
// reports each repeat with both lines: the outcome is the staged import's, with one backup.
TEST_F(ImportPipelineTest, ARepeatInAFirstImportGoesTheStagedWay) {
  const std::string header = "person_id,email,first_name,last_name,language,active,seat\n";
  const std::string fill = "F1,f1@x.io,Fay,One,en,y,\nF2,f2@x.io,Fin,Two,en,y,S-9\n";
  const struct {
    const char* name;
    const char* rows;  // after the header and `fill`
    const char* path;
  } cases[] = {
      {"key twice", "P1,p1@x.io,A,B,en,y,\nP1,p1b@x.io,C,D,en,y,\n", "first, then staged"},
      {"seat twice", "P1,p1@x.io,A,B,en,y,S-1\nP2,p2@x.io,C,D,en,y,S-1\n",
       "first, then staged"},
      {"an invalid row's key, then a valid row's", "P1,bad,A,B,en,y,\nP1,p1@x.io,C,D,en,y,\n",
       "first, then staged"},
      {"a valid row's key, then an invalid row's", "P1,p1@x.io,A,B,en,y,\nP1,bad,C,D,en,y,\n",
       "first, then staged"},
      {"an invalid row's key twice", "P1,bad,A,B,en,y,\nP1,bad2,C,D,en,y,\n",
       "first, then staged"},
      {"an invalid row's seat, then a valid row's", "P1,bad,A,B,en,y,S-9\nP2,p2@x.io,C,D,en,y,\n",
       "first, then staged"},
      {"invalid rows with other keys and seats", "P1,bad,A,B,en,y,S-7\nP2,bad,C,D,en,y,\n",
       "first"},
  };
  for (const auto& c : cases) ExpectFirstImportAsStaged(c.name, header + fill + c.rows, c.path);
  std::string large = header;  // about 2 MB: many buffers go out before the repeat
  for (int i = 0; i < 60000; ++i) {
    absl::StrAppend(&large, "L", i, ",l", i, "@x.io,F,L,en,y,\n");
  }
  ExpectFirstImportAsStaged("a key repeated at the end of a large file",
                            large + "L17,again@x.io,F,L,en,y,\n", "first, then staged");
}

// The invalid rows' keys and seats a first import keeps in memory are bounded: past the
// bound the writer asks for the staged way.
TEST_F(ImportPipelineTest, TheDirectWriterBoundsTheInvalidKeysItKeeps) {
  for (const size_t bound : {size_t{2}, size_t{3}}) {
    std::string needs;
    int64_t rows = 0;
    ASSERT_TRUE(harness_.pool()
                    .Transact([&](pqxx::work& txn) -> absl::Status {
                      ASSIGN_OR_RETURN(StagingTable staging, StagingTable::Create(txn, kTenant));
                      ASSIGN_OR_RETURN(std::unique_ptr<DirectWriter> writer,
                                       staging.OpenDirectWriter(bound));
                      v1::Person p;
                      p.set_person_id("V1");
                      p.set_first_name("V");
                      RETURN_IF_ERROR(writer->Add(p, 2, StagedKeep{}));
                      for (int i = 0; i < 3; ++i) {
                        RETURN_IF_ERROR(writer->AddInvalidKey(absl::StrCat("I", i), 3 + i));
                      }
                      RETURN_IF_ERROR(writer->Finish());
                      needs = writer->needs_staging();
                      rows = writer->rows();
                      return absl::AbortedError("roll back");
                    })
                    .code() == absl::StatusCode::kAborted);
    EXPECT_EQ(rows, 1);
    if (bound == 2) {
      EXPECT_THAT(needs, HasSubstr("more than 2 invalid rows"));
    } else {
      EXPECT_EQ(needs, "");
    }
  }
  EXPECT_TRUE(Roster().empty());
}

// A first import whose tenant lock another transaction holds does not wait for it with the
// file unread: it goes the staged way, which reads the file, then waits, then sees what the
// other transaction committed.
TEST_F(ImportPipelineTest, AFirstImportDoesNotWaitForTheLockWithItsFileUnread) {
  std::string csv = kHeader;
  for (int i = 0; i < 50; ++i) absl::StrAppend(&csv, "P", i, ",p", i, "@x.io,F,L,en,y\n");
  const std::string file_id = PutSource(csv);
  // Another transaction takes the tenant lock and adds a person, then holds on.
  std::promise<void> locked, release;
  std::shared_future<void> released = release.get_future().share();
  absl::Status held;
  std::thread holder([&] {
    held = harness_.pool().Transact([&](pqxx::work& txn) -> absl::Status {
      if (absl::Status s = RosterStore::LockTenant(txn, kTenant); !s.ok()) return s;
      txn.exec_params(
          "INSERT INTO roster.people (tenant_id, person_id, first_name, source_integration_id) "
          "VALUES ($1, 'Q1', 'Quinn', 'int_other')",
          kTenant);
      locked.set_value();
      released.wait();
      return absl::OkStatus();
    });
  });
  locked.get_future().wait();

  v1::RosterJob job;
  job.set_job_id("locked");
  job.set_tenant_id(kTenant);
  job.set_run_id("locked");
  job.set_integration_id(kIntegration);
  job.set_op(v1::RosterJob::OP_IMPORT);
  job.set_file_id(file_id);
  job.mutable_policy()->set_sync_policy(v1::SYNC_POLICY_DELETE);
  absl::StatusOr<ImportOutcome> outcome;
  std::thread importing([&] { outcome = importer_->Import(job); });
  // Once the import waits for the lock (after reading its file), let it go.
  bool waiting = false;
  for (int i = 0; i < 600 && !waiting; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(harness_.pool()
                    .Transact([&](pqxx::work& q) {
                      waiting = q.exec("SELECT count(*) FROM pg_locks WHERE locktype = "
                                       "'advisory' AND NOT granted")[0][0]
                                    .as<int>() > 0;
                      return absl::OkStatus();
                    })
                    .ok());
  }
  EXPECT_TRUE(waiting);
  release.set_value();
  holder.join();
  ASSERT_TRUE(held.ok()) << held;
  importing.join();
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->path, "first, then staged");
  EXPECT_THAT(outcome->staged_because, HasSubstr("lock is held"));
  EXPECT_EQ(outcome->summary.status(), v1::IMPORT_STATUS_APPLIED) << outcome->summary.message();
  EXPECT_EQ(outcome->summary.added(), 50);
  std::map<std::string, v1::Person> people = RosterById();
  EXPECT_EQ(people.size(), 51u);
  EXPECT_EQ(people["Q1"].first_name(), "Quinn");  // another integration's: kept
  auto before = ParseSnapshot(ReadFile(outcome->summary.backup_file_id()), kTenant);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->size(), 1u);  // the backup is the roster the import changed
  EXPECT_EQ((*before)[0].person_id(), "Q1");
}

// A first import refused for its invalid rows applies nothing and leaves no backup; its
// error report is kept.
TEST_F(ImportPipelineTest, ARefusedFirstImportLeavesNothing) {
  std::string csv = kHeader;
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(&csv, "P", i, ",", i % 2 == 0 ? "bad" : absl::StrCat("p", i, "@x.io"), ",F",
                    i, ",L", i, ",en,y\n");
  }
  const ImportOutcome out = RunImport("refused", csv);
  EXPECT_EQ(out.path, "first");
  EXPECT_EQ(out.summary.status(), v1::IMPORT_STATUS_REJECTED);
  EXPECT_THAT(out.summary.message(), HasSubstr("5 of 10 rows"));
  EXPECT_TRUE(out.summary.backup_file_id().empty());
  EXPECT_EQ(BackupCount(), 0);
  EXPECT_TRUE(Roster().empty());
  ASSERT_FALSE(out.summary.error_report_file_id().empty());
  EXPECT_THAT(ReadFile(out.summary.error_report_file_id()), HasSubstr("bad"));
  EXPECT_EQ(FileCount(v1::FILE_KIND_ERROR_REPORT), 1);
}

// The in-file duplicate check first tries to prove there is none (unique indexes on key and
// seat); a file whose keys are unique but whose seat repeats gets past the first and is caught
// by the second, then reported like any duplicate while the other rows import.
TEST_F(ImportPipelineTest, ARepeatedSeatAloneIsFoundAndOnlyItsRowSkipped) {
  std::string csv = "person_id,email,first_name,last_name,language,active,seat\n";
  for (int i = 0; i < 30; ++i) {
    absl::StrAppend(&csv, "P", i, ",p", i, "@x.io,F", i, ",L", i, ",en,y,",
                    i == 1 || i == 2 ? "S-1" : "", "\n");
  }
  v1::ImportSummary s = Import("r1", csv);
  ASSERT_EQ(s.status(), v1::IMPORT_STATUS_APPLIED) << s.message();
  EXPECT_EQ(s.added(), 29);
  EXPECT_EQ(s.rejected_rows(), 1);
  ASSERT_EQ(s.errors_size(), 1);
  EXPECT_EQ(s.errors(0).line(), 4);
  EXPECT_EQ(s.errors(0).column(), "seat");
  EXPECT_THAT(s.errors(0).reason(), HasSubstr("lines 3 and 4"));
  std::map<std::string, v1::Person> people = RosterById();
  EXPECT_EQ(people["P1"].seat(), "S-1");
  EXPECT_EQ(people.count("P2"), 0u);

  // Again, now against the roster (the general diff): the skipped row is neither added nor
  // counted, every other row is unchanged.
  v1::ImportSummary again = Import("r2", csv);
  ASSERT_EQ(again.status(), v1::IMPORT_STATUS_APPLIED) << again.message();
  EXPECT_EQ(again.rejected_rows(), 1);
  EXPECT_EQ(again.added(), 0);
  EXPECT_EQ(again.updated(), 0);
  EXPECT_EQ(again.unchanged(), 29);
  EXPECT_EQ(again.deleted(), 0);
}

// The diff drops a staged row equal to its person before computing any merge: each field
// that differs, alone, still makes an update naming that field; a person whose attributes
// differ only by one the file does not carry (kept by the merge) is unchanged; a column the
// file lacks (kept from the roster) does not count as a change.
TEST_F(ImportPipelineTest, EveryChangedFieldIsFoundAndOnlyEqualRowsAreUnchanged) {
  const std::string header =
      "person_id,email,first_name,last_name,language,active,person_type,seat,attr:dept\n";
  auto row = [](int i, const std::string& email, const std::string& first,
                const std::string& last, const std::string& lang, const std::string& active,
                const std::string& type, const std::string& seat, const std::string& dept) {
    return absl::StrCat("P", i, ",", email, ",", first, ",", last, ",", lang, ",", active, ",",
                        type, ",", seat, ",", dept, "\n");
  };
  auto base = [&](int i) {
    return row(i, absl::StrCat("p", i, "@x.io"), absl::StrCat("F", i), absl::StrCat("L", i),
               "en", "y", "employee", absl::StrCat("S-", i), "Ops");
  };
  std::string first = header;
  for (int i = 0; i < 10; ++i) first += base(i);
  ASSERT_EQ(Import("r1", first).status(), v1::IMPORT_STATUS_APPLIED);
  // P9 also has an attribute set outside the file (kept by every import of int_1's file).
  ASSERT_TRUE(harness_.pool()
                  .Transact([](pqxx::work& txn) {
                    txn.exec("UPDATE roster.people SET attributes = attributes || "
                             "'{\"badge\": \"B9\"}' WHERE person_id = 'P9'");
                    return absl::OkStatus();
                  })
                  .ok());

  // P0..P7: one field each; P8 and P9 as before.
  std::string next = header;
  next += row(0, "p0@y.io", "F0", "L0", "en", "y", "employee", "S-0", "Ops");
  next += row(1, "p1@x.io", "G1", "L1", "en", "y", "employee", "S-1", "Ops");
  next += row(2, "p2@x.io", "F2", "M2", "en", "y", "employee", "S-2", "Ops");
  next += row(3, "p3@x.io", "F3", "L3", "de", "y", "employee", "S-3", "Ops");
  next += row(4, "p4@x.io", "F4", "L4", "en", "n", "employee", "S-4", "Ops");
  next += row(5, "p5@x.io", "F5", "L5", "en", "y", "contractor", "S-5", "Ops");
  next += row(6, "p6@x.io", "F6", "L6", "en", "y", "employee", "S-66", "Ops");
  next += row(7, "p7@x.io", "F7", "L7", "en", "y", "employee", "S-7", "Finance");
  next += base(8) + base(9);

  v1::ImportSummary preview;
  grpc::Status st = Preview(next, {}, 20, &preview);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(preview.updated(), 8);
  EXPECT_EQ(preview.unchanged(), 2);
  std::map<std::string, std::vector<std::string>> changed;
  for (const v1::PersonChange& c : preview.examples()) {
    EXPECT_EQ(c.kind(), v1::CHANGE_KIND_UPDATED) << c.DebugString();
    changed[c.person_id()] = {c.changed_fields().begin(), c.changed_fields().end()};
  }
  EXPECT_THAT(changed["P0"], ElementsAre("email"));
  EXPECT_THAT(changed["P1"], ElementsAre("first_name"));
  EXPECT_THAT(changed["P2"], ElementsAre("last_name"));
  EXPECT_THAT(changed["P3"], ElementsAre("language"));
  EXPECT_THAT(changed["P4"], ElementsAre("active"));
  EXPECT_THAT(changed["P5"], ElementsAre("person_type"));
  EXPECT_THAT(changed["P6"], ElementsAre("seat"));
  EXPECT_THAT(changed["P7"], ElementsAre("attr:dept"));
  EXPECT_EQ(changed.count("P8"), 0u);
  EXPECT_EQ(changed.count("P9"), 0u);

  v1::ImportSummary applied = Import("r2", next);
  ASSERT_EQ(applied.status(), v1::IMPORT_STATUS_APPLIED) << applied.message();
  EXPECT_EQ(applied.updated(), 8);
  EXPECT_EQ(applied.unchanged(), 2);
  std::map<std::string, v1::Person> people = RosterById();
  EXPECT_EQ(people["P0"].email(), "p0@y.io");
  EXPECT_EQ(people["P6"].seat(), "S-66");
  EXPECT_EQ(people["P7"].attributes().at("dept"), "Finance");
  EXPECT_EQ(people["P9"].attributes().at("badge"), "B9");

  // A file without the seat and person_type columns: those are kept and are no change; P3's
  // new first name is.
  std::string narrow = "person_id,email,first_name,last_name,language,active,attr:dept\n";
  for (const auto& [id, p] : people) {
    absl::StrAppend(&narrow, id, ",", p.email(), ",", p.first_name(), id == "P3" ? "x" : "", ",",
                    p.last_name(), ",", p.language(), ",", p.active() ? "y" : "n", ",",
                    p.attributes().at("dept"), "\n");
  }
  v1::ImportPolicy loose;
  loose.set_allow_header_change(true);
  v1::ImportSummary kept = Import("r3", narrow, v1::SYNC_POLICY_DELETE, loose);
  ASSERT_EQ(kept.status(), v1::IMPORT_STATUS_APPLIED) << kept.message();
  EXPECT_EQ(kept.updated(), 1);
  EXPECT_EQ(kept.unchanged(), 9);
  people = RosterById();
  EXPECT_EQ(people.at("P3").first_name(), "F3x");
  EXPECT_EQ(people.at("P5").person_type(), v1::PERSON_TYPE_CONTRACTOR);
  EXPECT_EQ(people.at("P6").seat(), "S-66");

  // The same file from another integration: every row changes its source, nothing else.
  v1::ImportSummary moved = Import("r4", narrow, v1::SYNC_POLICY_DELETE, loose, {}, "int_2");
  ASSERT_EQ(moved.status(), v1::IMPORT_STATUS_APPLIED) << moved.message();
  EXPECT_EQ(moved.updated(), 10);
  EXPECT_EQ(moved.unchanged(), 0);
  for (const auto& [id, p] : RosterById()) EXPECT_EQ(p.source_integration_id(), "int_2") << id;
}

// The pre-import backup streams on a second connection while the diff is computed, and is
// finished only once the import is certain to apply: an import rejected after that started
// (a seat the file gives away while its holder stays) leaves no BACKUP file behind, and the
// backup of an applied one is the roster as it was.
TEST_F(ImportPipelineTest, BackupIsTheRosterBeforeAndARejectedImportLeavesNone) {
  auto backups = [&] { return BackupCount(); };
  const std::string header = "person_id,email,first_name,last_name,language,active,seat\n";
  std::string first = header;
  for (int i = 0; i < 3000; ++i) {
    absl::StrAppend(&first, "P", i, ",p", i, "@x.io,F", i, ",L", i, ",en,y,",
                    i == 0 ? "S-0" : "", "\n");
  }
  ASSERT_EQ(Import("r1", first).status(), v1::IMPORT_STATUS_APPLIED);
  const int after_first = backups();
  EXPECT_EQ(after_first, 1);
  const std::vector<v1::Person> before = Roster();

  v1::ImportSummary rejected =
      Import("r2", header + "P1,p1@x.io,F1,L1,en,y,S-0\n", v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(rejected.status(), v1::IMPORT_STATUS_REJECTED);
  EXPECT_THAT(rejected.message(), HasSubstr("seat"));
  EXPECT_TRUE(rejected.backup_file_id().empty());
  EXPECT_EQ(backups(), after_first);
  EXPECT_EQ(Roster().size(), before.size());

  std::string changed = first;
  changed.replace(changed.find("F7,"), 3, "G7,");
  v1::ImportSummary applied = Import("r3", changed);
  ASSERT_EQ(applied.status(), v1::IMPORT_STATUS_APPLIED) << applied.message();
  EXPECT_EQ(applied.updated(), 1);
  EXPECT_EQ(backups(), after_first + 1);
  auto snapshot = ParseSnapshot(ReadFile(applied.backup_file_id()), kTenant);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    v1::Person want = before[i];
    want.clear_updated_at();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals((*snapshot)[i], want))
        << (*snapshot)[i].DebugString() << " vs " << want.DebugString();
  }
}

// The real archive, except that BACKUP uploads break after `fail_after` bytes.
class BackupBreakingArchive : public rostersync::testing::ForwardingArchive {
 public:
  BackupBreakingArchive(Archive& real, size_t fail_after)
      : rostersync::testing::ForwardingArchive(real), fail_after_(fail_after) {}
  absl::StatusOr<std::unique_ptr<ArchiveWriter>> OpenWriter(
      const v1::PutFileHeader& header) override {
    auto writer = real_.OpenWriter(header);
    if (!writer.ok() || header.kind() != v1::FILE_KIND_BACKUP) return writer;
    return std::unique_ptr<ArchiveWriter>(new Breaking(std::move(*writer), fail_after_));
  }

 private:
  class Breaking : public ArchiveWriter {
   public:
    Breaking(std::unique_ptr<ArchiveWriter> real, size_t fail_after)
        : real_(std::move(real)), left_(fail_after) {}
    absl::Status Write(std::string_view bytes) override {
      if (bytes.size() > left_) return absl::UnavailableError("archive volume went away");
      left_ -= bytes.size();
      return real_->Write(bytes);
    }
    absl::StatusOr<v1::FileInfo> Finish() override { return real_->Finish(); }

   private:
    std::unique_ptr<ArchiveWriter> real_;
    size_t left_;
  };
  size_t fail_after_;
};

// A first import backs up the empty roster before it commits: when that backup cannot be
// written, nothing is applied and nothing is left behind; a retry applies.
TEST_F(ImportPipelineTest, AFirstImportWhoseBackupFailsAppliesNothing) {
  v1::RosterJob job;
  job.set_job_id("f1");
  job.set_tenant_id(kTenant);
  job.set_run_id("f1");
  job.set_integration_id(kIntegration);
  job.set_op(v1::RosterJob::OP_IMPORT);
  job.set_file_id(PutSource(People(0, 30)));
  job.mutable_policy()->set_sync_policy(v1::SYNC_POLICY_DELETE);
  BackupBreakingArchive breaking(*archive_, 0);  // not even the header line
  Importer broken(*store_, breaking);
  auto outcome = broken.Import(job);
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.status().message(), HasSubstr("pre-import backup failed, nothing applied"));
  EXPECT_TRUE(Roster().empty());
  EXPECT_EQ(BackupCount(), 0);

  auto retried = importer_->Import(job);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->path, "first");
  EXPECT_EQ(retried->summary.status(), v1::IMPORT_STATUS_APPLIED) << retried->summary.message();
  EXPECT_EQ(retried->summary.added(), 30);
  EXPECT_EQ(BackupCount(), 1);
  EXPECT_EQ(Roster().size(), 30u);
}

// The backup streams beside the diff on a second connection: when it breaks midway, the
// import fails before applying anything, leaves no backup, and a retry applies normally.
TEST_F(ImportPipelineTest, ABackupThatBreaksMidwayFailsTheImportAndAppliesNothing) {
  auto backups = [&] { return BackupCount(); };
  const std::string header = "person_id,email,first_name,last_name,language,active\n";
  std::string first = header;
  for (int i = 0; i < 20000; ++i) {
    absl::StrAppend(&first, "P", i, ",p", i, "@x.io,F", i, ",L,en,y\n");
  }
  v1::ImportSummary seeded = Import("b1", first);
  ASSERT_EQ(seeded.status(), v1::IMPORT_STATUS_APPLIED) << seeded.message();
  const std::vector<v1::Person> before = Roster();
  const int backups_before = backups();

  std::string changed = first;
  changed.replace(changed.find("F7,"), 3, "G7,");
  changed += "NEW1,new1@x.io,N,L,en,y\n";
  v1::RosterJob job;
  job.set_job_id("b2");
  job.set_tenant_id(kTenant);
  job.set_run_id("b2");
  job.set_integration_id(kIntegration);
  job.set_op(v1::RosterJob::OP_IMPORT);
  job.set_file_id(PutSource(changed));
  job.mutable_policy()->set_sync_policy(v1::SYNC_POLICY_DELETE);
  BackupBreakingArchive breaking(*archive_, 200 * 1024);  // well inside a 20,000-row snapshot
  Importer broken(*store_, breaking);
  auto outcome = broken.Import(job);
  if (outcome.ok()) {
    EXPECT_NE(outcome->summary.status(), v1::IMPORT_STATUS_APPLIED) << outcome->summary.DebugString();
    EXPECT_TRUE(outcome->summary.backup_file_id().empty());
  } else {
    EXPECT_THAT(outcome.status().message(), HasSubstr("archive volume went away"));
  }
  std::vector<v1::Person> after = Roster();
  ASSERT_EQ(after.size(), before.size()) << "nothing applied";
  for (size_t i = 0; i < before.size(); ++i) {
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(after[i], before[i]))
        << after[i].DebugString();
  }
  EXPECT_EQ(backups(), backups_before) << "no partial backup is kept";

  // The same job, retried with a working archive, applies once with its backup.
  auto retried = importer_->Import(job);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->summary.status(), v1::IMPORT_STATUS_APPLIED) << retried->summary.message();
  EXPECT_EQ(retried->summary.added(), 1);
  EXPECT_EQ(retried->summary.updated(), 1);
  EXPECT_FALSE(retried->summary.backup_file_id().empty());
  EXPECT_EQ(backups(), backups_before + 1);
  EXPECT_EQ(RosterById().at("P7").first_name(), "G7");
}

grpc::Status Upload(v1::RosterService::Stub& stub, const v1::UploadRosterHeader& header,
                    const std::string& csv, v1::ImportSummary* out) {
  grpc::ClientContext ctx;
  auto writer = stub.UploadRoster(&ctx, out);
  v1::UploadRosterRequest first;
  *first.mutable_header() = header;
  EXPECT_TRUE(writer->Write(first));
  for (size_t at = 0; at < csv.size(); at += 7) {
    v1::UploadRosterRequest chunk;
    chunk.set_chunk(csv.substr(at, 7));
    EXPECT_TRUE(writer->Write(chunk));
  }
  writer->WritesDone();
  return writer->Finish();
}

TEST_F(ImportPipelineTest, UploadRosterPreviewThenImportIdempotently) {
  v1::UploadRosterHeader header;
  header.set_tenant_id(kTenant);
  header.set_name("people.csv");
  header.set_integration_id(kIntegration);
  header.set_preview(true);
  header.set_request_id("req-preview");
  v1::ImportSummary preview;
  grpc::Status s = Upload(*roster_stub_, header, People(0, 5), &preview);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(preview.status(), v1::IMPORT_STATUS_PREVIEW);
  EXPECT_EQ(preview.added(), 5);
  EXPECT_EQ(preview.source(), "upload");
  EXPECT_TRUE(Roster().empty());

  header.set_preview(false);
  header.set_request_id("req-1");
  v1::ImportSummary applied;
  s = Upload(*roster_stub_, header, People(0, 5), &applied);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(applied.status(), v1::IMPORT_STATUS_APPLIED) << applied.message();
  EXPECT_EQ(applied.added(), 5);
  EXPECT_EQ(applied.source(), "upload");
  EXPECT_FALSE(applied.backup_file_id().empty());
  auto src = archive_->Stat(kTenant, applied.source_file_id());
  ASSERT_TRUE(src.ok());
  EXPECT_EQ(src->kind(), v1::FILE_KIND_SOURCE);
  EXPECT_EQ(src->name(), "people.csv");
  EXPECT_EQ(ReadFile(applied.source_file_id()), People(0, 5));

  // Same request_id: the same summary, nothing imported again.
  v1::ImportSummary again;
  s = Upload(*roster_stub_, header, People(0, 2), &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.import_id(), applied.import_id());
  EXPECT_EQ(Roster().size(), 5u);
}

TEST_F(ImportPipelineTest, FilesAsTheyCome) {
  // UTF-16 LE with BOM, semicolons, CRLF, a zero-width space in a header, typed attributes.
  std::string text =
      "person_id;email;first_name;last_name;language;active;\xE2\x80\x8B" "attr:start\r\n"
      "1;a@x.io;Zo\xC3\xAB;A;en;yes;03/01/2026\r\n"
      "2;b@x.io;B;B;fr;no;12/31/2025\r\n";
  // UTF-8 -> UTF-16 LE (BMP only), with a BOM.
  std::string utf16 = "\xFF\xFE";
  for (size_t i = 0; i < text.size();) {
    unsigned char c = text[i];
    uint32_t cp = c;
    int n = 1;
    if (c >= 0xE0) {
      cp = ((c & 0x0F) << 12) | ((text[i + 1] & 0x3F) << 6) | (text[i + 2] & 0x3F);
      n = 3;
    } else if (c >= 0xC0) {
      cp = ((c & 0x1F) << 6) | (text[i + 1] & 0x3F);
      n = 2;
    }
    utf16.push_back(static_cast<char>(cp & 0xFF));
    utf16.push_back(static_cast<char>(cp >> 8));
    i += n;
  }
  v1::ImportPolicy policy;
  policy.set_date_format("%m/%d/%Y");
  (*policy.mutable_attribute_types())["start"] = "date";
  v1::ImportSummary s = Import("r1", utf16, v1::SYNC_POLICY_DELETE, policy);
  ASSERT_EQ(s.status(), v1::IMPORT_STATUS_APPLIED) << s.message();
  EXPECT_EQ(s.added(), 2);
  std::string notes = absl::StrJoin(s.header_notes(), " | ");
  EXPECT_THAT(notes, HasSubstr("U+200B"));
  EXPECT_THAT(notes, HasSubstr("utf-16le"));
  EXPECT_THAT(notes, HasSubstr("';'"));
  auto roster = RosterById();
  EXPECT_EQ(roster.at("1").first_name(), "Zo\xC3\xAB");
  EXPECT_EQ(roster.at("1").attributes().at("start"), "2026-03-01");
  EXPECT_FALSE(roster.at("2").active());
  // Notes survive the history.
  auto stored = store_->GetImport(kTenant, s.import_id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->header_notes_size(), s.header_notes_size());
}

TEST_F(ImportPipelineTest, HundredThousandRows) {
  constexpr int kRows = 100000;
  std::string csv = "person_id,email,first_name,last_name,language,active,attr:cost_center\n";
  csv.reserve(kRows * 60);
  for (int i = 0; i < kRows; ++i) {
    absl::StrAppend(&csv, "E", i, ",e", i, "@corp.io,First", i, ",Last", i, ",en,y,CC", i % 97,
                    "\n");
  }
  absl::Time start = absl::Now();
  v1::ImportSummary first = Import("big1", csv);
  absl::Duration first_took = absl::Now() - start;
  ASSERT_EQ(first.status(), v1::IMPORT_STATUS_APPLIED) << first.message();
  EXPECT_EQ(first.added(), kRows);

  // Second file: one changed, one gone, one new.
  csv.replace(csv.find("First7,"), 7, "Seven7,");
  csv += "NEW,new@corp.io,N,N,en,y,CC1\n";
  std::string gone = absl::StrCat("E", kRows - 1, ",e", kRows - 1, "@corp.io,First", kRows - 1,
                                  ",Last", kRows - 1, ",en,y,CC", (kRows - 1) % 97, "\n");
  csv.erase(csv.find(gone), gone.size());
  start = absl::Now();
  v1::ImportSummary second = Import("big2", csv);
  absl::Duration second_took = absl::Now() - start;
  ASSERT_EQ(second.status(), v1::IMPORT_STATUS_APPLIED) << second.message();
  EXPECT_EQ(second.added(), 1);
  EXPECT_EQ(second.updated(), 1);
  EXPECT_EQ(second.deleted(), 1);
  EXPECT_EQ(second.unchanged(), kRows - 2);
  std::string backup = ReadFile(second.backup_file_id());
  EXPECT_EQ(std::count(backup.begin(), backup.end(), '\n'), kRows + 1);
  std::cout << "100k import: first " << absl::FormatDuration(first_took) << ", second "
            << absl::FormatDuration(second_took) << "\n";
}

}  // namespace
}  // namespace rostersync::roster
