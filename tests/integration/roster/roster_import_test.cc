// Roster imports end to end inside one process, against real PostgreSQL (fixture) and the
// real backup service (BackupService on a gRPC server on port 0, blobs in a temp folder),
// reached through GrpcArchive. RosterService is served on its own gRPC server and called
// through its stub.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/archive_client.h"
#include "common/grpc_status.h"
#include "common/metrics.h"
#include "common/queue_codec.h"
#include "common/redis_queue.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "services/roster/exporter.h"
#include "services/roster/importer.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_service.h"
#include "services/roster/roster_store.h"
#include "services/roster/roster_worker.h"
#include "tests/fixtures/archive_harness.h"

namespace rostersync::roster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kTenant[] = "tenant_a";
constexpr char kOtherTenant[] = "tenant_b";
constexpr char kIntegration[] = "int_1";

// Delegates to the real archive but every read ends in DATA_LOSS (a corrupt source blob): a
// permanent failure of the import.
class CorruptReadsArchive : public rostersync::testing::ForwardingArchive {
 public:
  using ForwardingArchive::ForwardingArchive;
  absl::StatusOr<v1::FileInfo> Read(const std::string&, const std::string& file_id,
                                    const std::function<absl::Status(std::string_view)>&) override {
    return absl::DataLossError(absl::StrCat("archive blob of file ", file_id, " is corrupt"));
  }
};

class RecordingPublisher : public Publisher {
 public:
  absl::StatusOr<std::string> Publish(std::string_view stream, std::string_view payload) override {
    EXPECT_EQ(stream, kEventsStream);
    auto event = DecodeQueueMessage<v1::RunEvent>(payload);
    EXPECT_TRUE(event.ok()) << event.status();
    if (event.ok()) events.push_back(*event);
    return absl::StrCat(events.size(), "-0");
  }
  std::vector<v1::RunEvent> events;
};

double CounterValue(const std::string& name, const std::string& label, const std::string& value) {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == label && l.value == value) return m.counter.value;
      }
    }
  }
  return 0;
}

class RosterImportTest : public rostersync::testing::ArchiveHarnessTest {
 protected:
  void SetUp() override {
    // The backup service, in process, sharing the database like in production.
    absl::Status st = harness_.Prepare(
        {.database_prefix = "roster_", .pool_size = 4, .temp_dir_prefix = "roster_import_test"});
    ASSERT_TRUE(st.ok()) << st;

    store_ = std::make_unique<RosterStore>(harness_.pool());
    ASSERT_TRUE(store_->Migrate().ok());
    roster_service_ = std::make_unique<RosterServiceImpl>(*store_);

    st = harness_.Serve({roster_service_.get()});
    ASSERT_TRUE(st.ok()) << st;
    archive_ = &harness_.archive();
    backup_stub_ = &harness_.stub();
    roster_stub_ = v1::RosterService::NewStub(harness_.channel());
    importer_ = std::make_unique<Importer>(*store_, *archive_);
    exporter_ = std::make_unique<Exporter>(*store_, *archive_);
  }

  void TearDown() override {
    importer_.reset();
    exporter_.reset();
    roster_stub_.reset();
    harness_.StopServing();
    roster_service_.reset();
    store_.reset();
    harness_.Stop();
  }

  std::string PutSource(const std::string& csv, const std::string& tenant = kTenant,
                        const std::string& name = "roster.csv") {
    v1::PutFileHeader h;
    h.set_tenant_id(tenant);
    h.set_kind(v1::FILE_KIND_SOURCE);
    h.set_name(name);
    h.set_integration_id(kIntegration);
    h.set_content_type("text/csv");
    auto writer = archive_->OpenWriter(h);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (!writer.ok()) return "";
    EXPECT_TRUE((*writer)->Write(csv).ok());
    auto info = (*writer)->Finish();
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->file_id() : "";
  }

  std::string ReadFile(const std::string& tenant, const std::string& file_id) {
    std::string out;
    auto info = archive_->Read(tenant, file_id, [&](std::string_view c) {
      out.append(c);
      return absl::OkStatus();
    });
    EXPECT_TRUE(info.ok()) << info.status();
    return out;
  }

  int CountFiles(const std::string& tenant, v1::FileKind kind) {
    grpc::ClientContext ctx;
    v1::ListFilesRequest req;
    req.set_tenant_id(tenant);
    req.set_kind(kind);
    req.set_page_size(500);
    v1::ListFilesResponse resp;
    grpc::Status s = backup_stub_->ListFiles(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.files_size();
  }

  v1::RosterJob ImportJob(const std::string& job_id, const std::string& file_id,
                          v1::SyncPolicy policy = v1::SYNC_POLICY_UNSPECIFIED,
                          const std::string& tenant = kTenant) {
    v1::RosterJob job;
    job.set_job_id(job_id);
    job.set_tenant_id(tenant);
    job.set_run_id(job_id.substr(0, job_id.find(':')));
    job.set_integration_id(kIntegration);
    job.set_op(v1::RosterJob::OP_IMPORT);
    job.set_file_id(file_id);
    job.set_sync_policy(policy);
    return job;
  }

  v1::ImportSummary MustImport(const v1::RosterJob& job) {
    auto outcome = importer_->Import(job);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? outcome->summary : v1::ImportSummary();
  }

  std::vector<v1::Person> Roster(const std::string& tenant = kTenant) {
    auto people = store_->LoadPeople(tenant);
    EXPECT_TRUE(people.ok()) << people.status();
    return people.ok() ? *people : std::vector<v1::Person>();
  }

  grpc::Status AssignSeat(const std::string& person_id, const std::string& seat,
                          v1::Person* out = nullptr, const std::string& tenant = kTenant) {
    grpc::ClientContext ctx;
    v1::AssignSeatRequest req;
    req.set_tenant_id(tenant);
    req.set_person_id(person_id);
    req.set_seat(seat);
    v1::Person resp;
    grpc::Status s = roster_stub_->AssignSeat(&ctx, req, &resp);
    if (out != nullptr) *out = resp;
    return s;
  }

  grpc::Status GetPerson(const std::string& person_id, v1::Person* out,
                         const std::string& tenant = kTenant) {
    grpc::ClientContext ctx;
    v1::GetPersonRequest req;
    req.set_tenant_id(tenant);
    req.set_person_id(person_id);
    return roster_stub_->GetPerson(&ctx, req, out);
  }

  std::unique_ptr<RosterStore> store_;
  std::unique_ptr<RosterServiceImpl> roster_service_;
  GrpcArchive* archive_ = nullptr;
  v1::BackupService::Stub* backup_stub_ = nullptr;
  std::unique_ptr<v1::RosterService::Stub> roster_stub_;
  std::unique_ptr<Importer> importer_;
  std::unique_ptr<Exporter> exporter_;
};

std::vector<std::string> Ids(const std::vector<v1::Person>& people) {
  std::vector<std::string> out;
  for (const auto& p : people) out.push_back(p.person_id());
  return out;
}

constexpr char kFile1[] =
    "\xEF\xBB\xBF"
    "Employee ID,Mail,Given,Family,Lang,Status,Kind,Dept\r\n"
    "E1,ann@example.com,Ann,Lee,en-us,active,employee,Sales\r\n"
    "E2,bob@example.com,Bob,\"Ng, Jr.\",fr,yes,contractor,R&D\r\n"
    "E3,cy@example.com,Cy,\"Multi\r\nLine\",de,1,intern,\r\n"
    "E4,di@example.com,Di,Ho,es,true,student,Ops\r\n";

// E1 updated, E2 unchanged, E3 and E4 absent, E5 new.
constexpr char kFile2[] =
    "Employee ID,Mail,Given,Family,Lang,Status,Kind,Dept\n"
    "E1,ann@example.com,Anne,Lee,en-US,active,employee,Marketing\n"
    "E2,bob@example.com,Bob,\"Ng, Jr.\",fr,yes,contractor,R&D\n"
    "E5,eve@example.com,Eve,Oz,it,y,staff,Ops\n";

std::map<std::string, std::string> HrMap() {
  return {{"employee id", "person_id"}, {"MAIL", "email"},          {"Given", "first_name"},
          {"Family", "last_name"},      {"Lang", "language"},       {"Status", "active"},
          {"Kind", "person_type"},      {"Dept", "attr:department"}};
}

void SetHrMap(v1::RosterJob* job) {
  for (const auto& [source, canonical] : HrMap()) (*job->mutable_header_map())[source] = canonical;
}

TEST_F(RosterImportTest, FirstImportAddsSecondDeactivatesAndBackupHoldsThePreviousRoster) {
  const double added_before = CounterValue("rostersync_import_records_total", "change", "added");
  const double applied_before = CounterValue("rostersync_imports_total", "status", "applied");

  v1::RosterJob job1 = ImportJob("run_1:import", PutSource(kFile1));
  SetHrMap(&job1);
  v1::ImportSummary s1 = MustImport(job1);
  ASSERT_EQ(s1.status(), v1::IMPORT_STATUS_APPLIED) << s1.message();
  EXPECT_EQ(s1.rows_read(), 4);
  EXPECT_EQ(s1.added(), 4);
  EXPECT_FALSE(s1.backup_file_id().empty());
  // The backup before the first import is the empty roster.
  auto first_backup = ParseSnapshot(ReadFile(kTenant, s1.backup_file_id()), kTenant);
  ASSERT_TRUE(first_backup.ok()) << first_backup.status();
  EXPECT_THAT(*first_backup, IsEmpty());

  std::vector<v1::Person> after1 = Roster();
  ASSERT_THAT(Ids(after1), ElementsAre("E1", "E2", "E3", "E4"));
  EXPECT_EQ(after1[0].language(), "en-US");
  EXPECT_EQ(after1[1].last_name(), "Ng, Jr.");
  EXPECT_EQ(after1[1].person_type(), v1::PERSON_TYPE_CONTRACTOR);
  EXPECT_EQ(after1[2].last_name(), "Multi\r\nLine");
  EXPECT_EQ(after1[0].attributes().at("department"), "Sales");
  EXPECT_EQ(after1[2].attributes().count("department"), 0u);
  EXPECT_EQ(after1[0].source_integration_id(), kIntegration);

  // Seats are rostersync's own data.
  ASSERT_TRUE(AssignSeat("E1", "SEAT-1").ok());
  ASSERT_TRUE(AssignSeat("E3", "SEAT-3").ok());
  std::vector<v1::Person> before2 = Roster();

  v1::RosterJob job2 = ImportJob("run_2:import", PutSource(kFile2), v1::SYNC_POLICY_DEACTIVATE);
  SetHrMap(&job2);
  v1::ImportSummary s2 = MustImport(job2);
  ASSERT_EQ(s2.status(), v1::IMPORT_STATUS_APPLIED) << s2.message();
  EXPECT_EQ(s2.rows_read(), 3);
  EXPECT_EQ(s2.added(), 1);
  EXPECT_EQ(s2.updated(), 1);
  EXPECT_EQ(s2.unchanged(), 1);
  EXPECT_EQ(s2.deactivated(), 2);
  EXPECT_EQ(s2.deleted(), 0);
  EXPECT_EQ(s2.source_file_id(), job2.file_id());
  EXPECT_NE(s2.backup_file_id(), s1.backup_file_id());

  // The backup written before the second import equals the roster before it, seats included.
  auto backup = ParseSnapshot(ReadFile(kTenant, s2.backup_file_id()), kTenant);
  ASSERT_TRUE(backup.ok()) << backup.status();
  ASSERT_EQ(backup->size(), before2.size());
  for (size_t i = 0; i < before2.size(); ++i) {
    EXPECT_TRUE(SamePerson((*backup)[i], before2[i]))
        << (*backup)[i].DebugString() << " vs " << before2[i].DebugString();
  }
  EXPECT_EQ((*backup)[0].seat(), "SEAT-1");
  auto stat = archive_->Stat(kTenant, s2.backup_file_id());
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->kind(), v1::FILE_KIND_BACKUP);
  EXPECT_EQ(stat->run_id(), "run_2");

  std::vector<v1::Person> after2 = Roster();
  ASSERT_THAT(Ids(after2), ElementsAre("E1", "E2", "E3", "E4", "E5"));
  EXPECT_EQ(after2[0].first_name(), "Anne");
  EXPECT_EQ(after2[0].seat(), "SEAT-1");  // the seat survives an import
  EXPECT_EQ(after2[0].attributes().at("department"), "Marketing");
  EXPECT_FALSE(after2[2].active());
  EXPECT_EQ(after2[2].seat(), "SEAT-3");  // deactivated people keep their seat
  EXPECT_FALSE(after2[3].active());
  EXPECT_TRUE(after2[4].active());
  EXPECT_EQ(after2[4].person_type(), v1::PERSON_TYPE_STAFF);

  // Import history, newest first, through the RPC.
  grpc::ClientContext ctx;
  v1::ListImportsRequest req;
  req.set_tenant_id(kTenant);
  v1::ListImportsResponse resp;
  ASSERT_TRUE(roster_stub_->ListImports(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.imports_size(), 2);
  EXPECT_EQ(resp.imports(0).import_id(), s2.import_id());
  EXPECT_EQ(resp.imports(0).backup_file_id(), s2.backup_file_id());
  EXPECT_EQ(resp.imports(0).deactivated(), 2);
  EXPECT_EQ(resp.imports(1).source_file_id(), job1.file_id());

  grpc::ClientContext ctx2;
  v1::GetImportRequest get;
  get.set_tenant_id(kTenant);
  get.set_import_id(s1.import_id());
  v1::ImportSummary got;
  ASSERT_TRUE(roster_stub_->GetImport(&ctx2, get, &got).ok());
  EXPECT_EQ(got.job_id(), "run_1:import");
  EXPECT_EQ(got.added(), 4);

  EXPECT_EQ(CounterValue("rostersync_import_records_total", "change", "added") - added_before, 5);
  EXPECT_EQ(CounterValue("rostersync_imports_total", "status", "applied") - applied_before, 2);
}

TEST_F(RosterImportTest, DeletePolicyDeletesAndReleasesTheSeat) {
  const std::string header = "person_id,email,first_name,last_name,language,active\n";
  ASSERT_EQ(MustImport(ImportJob("r1:import", PutSource(header + "1,a@x.io,A,A,en,y\n"
                                                                 "2,b@x.io,B,B,en,y\n")))
                .status(),
            v1::IMPORT_STATUS_APPLIED);
  ASSERT_TRUE(AssignSeat("2", "S-2").ok());
  ASSERT_TRUE(AssignSeat("1", "S-1").ok());
  v1::ImportSummary s = MustImport(
      ImportJob("r2:import", PutSource(header + "1,a@x.io,A,A,en,y\n"), v1::SYNC_POLICY_DELETE));
  ASSERT_EQ(s.status(), v1::IMPORT_STATUS_APPLIED) << s.message();
  EXPECT_EQ(s.deleted(), 1);
  EXPECT_EQ(s.unchanged(), 1);
  EXPECT_THAT(Ids(Roster()), ElementsAre("1"));
  EXPECT_EQ(Roster()[0].seat(), "S-1");
  v1::Person p;
  EXPECT_EQ(GetPerson("2", &p).error_code(), grpc::StatusCode::NOT_FOUND);
  // The deleted person's seat is free again.
  ASSERT_TRUE(AssignSeat("1", "S-2", &p).ok());
  EXPECT_EQ(p.seat(), "S-2");

  // The backup still has person 2 with the seat.
  auto backup = ParseSnapshot(ReadFile(kTenant, s.backup_file_id()), kTenant);
  ASSERT_TRUE(backup.ok());
  ASSERT_EQ(backup->size(), 2u);
  EXPECT_EQ((*backup)[1].seat(), "S-2");
}

TEST_F(RosterImportTest, KeepPolicyKeepsAbsentPeople) {
  const std::string header = "email,first_name,last_name,language,active\n";
  MustImport(ImportJob("r1:import", PutSource(header + "A@x.io,A,A,en,y\nb@x.io,B,B,en,y\n")));
  v1::ImportSummary s = MustImport(
      ImportJob("r2:import", PutSource(header + "a@x.io,A,A,en,y\n"), v1::SYNC_POLICY_KEEP));
  // The key is the lowercased email, so "A@x.io" and "a@x.io" are one person whose email
  // changed case.
  EXPECT_EQ(s.updated(), 1);
  EXPECT_EQ(s.deactivated() + s.deleted(), 0);
  std::vector<v1::Person> roster = Roster();
  ASSERT_THAT(Ids(roster), ElementsAre("a@x.io", "b@x.io"));
  EXPECT_EQ(roster[0].email(), "a@x.io");
  EXPECT_TRUE(roster[1].active());
}

TEST_F(RosterImportTest, MissingRequiredColumnIsRejectedAndNothingChanges) {
  const double rejected_before = CounterValue("rostersync_imports_total", "status", "rejected");
  MustImport(
      ImportJob("r1:import", PutSource("person_id,email,first_name,last_name,language,active\n"
                                       "1,a@x.io,A,A,en,y\n")));
  std::vector<v1::Person> before = Roster();
  const int backups = CountFiles(kTenant, v1::FILE_KIND_BACKUP);

  auto outcome = importer_->Import(
      ImportJob("r2:import",
                PutSource("person_id,email,first_name,last_name,active\n2,b@x.io,B,B,y\n", kTenant,
                          "nightly_20261121.csv"),
                v1::SYNC_POLICY_DELETE));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->summary.status(), v1::IMPORT_STATUS_REJECTED);
  EXPECT_THAT(outcome->summary.message(), HasSubstr("nightly_20261121.csv"));
  EXPECT_THAT(outcome->summary.message(), HasSubstr("\"language\""));
  EXPECT_TRUE(outcome->summary.backup_file_id().empty());

  std::vector<v1::Person> after = Roster();
  ASSERT_EQ(after.size(), before.size());
  EXPECT_TRUE(SamePerson(after[0], before[0]));
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_BACKUP), backups);
  auto stored = store_->GetImport(kTenant, outcome->summary.import_id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status(), v1::IMPORT_STATUS_REJECTED);
  EXPECT_EQ(CounterValue("rostersync_imports_total", "status", "rejected") - rejected_before, 1);
}

TEST_F(RosterImportTest, AnInvalidRowRejectsTheWholeFileWithLineNumbers) {
  auto outcome = importer_->Import(
      ImportJob("r1:import", PutSource("person_id,email,first_name,last_name,language,active\n"
                                       "1,a@x.io,A,A,en,y\n"
                                       "2,not-an-email,B,B,en,y\n"
                                       "3,c@x.io,C,C,en,perhaps\n"
                                       "1,d@x.io,D,D,en,y\n")));
  ASSERT_TRUE(outcome.ok());
  const v1::ImportSummary& s = outcome->summary;
  EXPECT_EQ(s.status(), v1::IMPORT_STATUS_REJECTED);
  EXPECT_EQ(s.rows_read(), 4);
  EXPECT_EQ(s.rejected_rows(), 3);
  ASSERT_EQ(s.errors_size(), 3);
  EXPECT_EQ(s.errors(0).line(), 3);
  EXPECT_EQ(s.errors(0).column(), "email");
  EXPECT_EQ(s.errors(1).line(), 4);
  EXPECT_EQ(s.errors(1).value(), "perhaps");
  EXPECT_EQ(s.errors(2).line(), 5);
  EXPECT_THAT(s.errors(2).reason(), HasSubstr("lines 2 and 5"));
  EXPECT_THAT(Roster(), IsEmpty());
  // Errors survive the round trip through the import history.
  auto stored = store_->GetImport(kTenant, s.import_id());
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->errors_size(), 3);
  EXPECT_EQ(stored->errors(1).reason(), s.errors(1).reason());
}

// Within-file duplicates are found in SQL on the staging table (memory does not grow with the
// file): the same seat twice, the same email key twice, and a row both invalid and a repeat.
TEST_F(RosterImportTest, DuplicateKeysAndSeatsNameBothLines) {
  auto outcome = importer_->Import(
      ImportJob("r1:dups", PutSource("person_id,email,first_name,last_name,language,active,seat\n"
                                     "1,a@x.io,A,A,en,y,S1\n"
                                     "2,b@x.io,B,B,en,y,S1\n"
                                     ",c@x.io,C,C,en,y,\n"
                                     ",C@X.io,C,C,en,y,\n"
                                     "1,bad-email,D,D,en,y,\n")));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  const v1::ImportSummary& s = outcome->summary;
  EXPECT_EQ(s.status(), v1::IMPORT_STATUS_REJECTED);
  EXPECT_EQ(s.rows_read(), 5);
  EXPECT_EQ(s.rejected_rows(), 3);
  ASSERT_EQ(s.errors_size(), 4);
  EXPECT_EQ(s.errors(0).line(), 3);
  EXPECT_EQ(s.errors(0).column(), "seat");
  EXPECT_THAT(s.errors(0).reason(), HasSubstr("lines 2 and 3"));
  EXPECT_EQ(s.errors(1).line(), 5);
  EXPECT_EQ(s.errors(1).column(), "email");
  EXPECT_THAT(s.errors(1).reason(), HasSubstr("lines 4 and 5"));
  EXPECT_EQ(s.errors(2).line(), 6);
  EXPECT_EQ(s.errors(2).column(), "email");
  EXPECT_EQ(s.errors(3).line(), 6);
  EXPECT_EQ(s.errors(3).column(), "person_id");
  EXPECT_THAT(s.errors(3).reason(), HasSubstr("lines 2 and 6"));
  EXPECT_FALSE(s.error_report_file_id().empty());
  EXPECT_THAT(Roster(), IsEmpty());
}

TEST_F(RosterImportTest, ARedeliveredJobDoesNotImportTwice) {
  const std::string header = "person_id,email,first_name,last_name,language,active\n";
  v1::RosterJob job = ImportJob("r1:import", PutSource(header + "1,a@x.io,A,A,en,y\n"));
  RecordingPublisher publisher;
  RosterWorker worker(*importer_, *exporter_, publisher);
  ASSERT_TRUE(worker.HandleJob(job).ok());
  const int backups = CountFiles(kTenant, v1::FILE_KIND_BACKUP);
  // Something changes in between; a replay must not undo or redo anything.
  ASSERT_TRUE(AssignSeat("1", "S-1").ok());
  ASSERT_TRUE(worker.Handle(Delivery{"1-0", EncodeQueueMessage(job), 2}).ok());

  ASSERT_EQ(publisher.events.size(), 2u);
  EXPECT_EQ(publisher.events[0].type(), v1::RunEvent::TYPE_IMPORTED);
  EXPECT_EQ(publisher.events[0].event_id(), "r1:import:TYPE_IMPORTED");
  EXPECT_EQ(publisher.events[1].event_id(), publisher.events[0].event_id());
  EXPECT_EQ(publisher.events[1].import().import_id(), publisher.events[0].import().import_id());
  EXPECT_EQ(publisher.events[1].import().added(), 1);
  EXPECT_EQ(publisher.events[0].run_id(), "r1");
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_BACKUP), backups);
  EXPECT_EQ(Roster()[0].seat(), "S-1");
  auto list = store_->ListImports(kTenant, {}, nullptr);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);

  // A rejected job is also answered from history, as TYPE_IMPORT_REJECTED.
  v1::RosterJob bad = ImportJob("r2:import", PutSource("first_name\nx\n"));
  ASSERT_TRUE(worker.HandleJob(bad).ok());
  ASSERT_TRUE(worker.HandleJob(bad).ok());
  ASSERT_EQ(publisher.events.size(), 4u);
  EXPECT_EQ(publisher.events[2].type(), v1::RunEvent::TYPE_IMPORT_REJECTED);
  EXPECT_THAT(publisher.events[2].error(), HasSubstr("missing required column"));
  EXPECT_EQ(publisher.events[3].import().import_id(), publisher.events[2].import().import_id());
}

TEST_F(RosterImportTest, NoBackupNoImport) {
  const std::string header = "person_id,email,first_name,last_name,language,active\n";
  MustImport(ImportJob("r1:import", PutSource(header + "1,a@x.io,A,A,en,y\n")));
  std::vector<v1::Person> before = Roster();

  rostersync::testing::NoWritesArchive broken(*archive_);
  Importer importer(*store_, broken);
  v1::RosterJob job =
      ImportJob("r2:import", PutSource(header + "2,b@x.io,B,B,en,y\n"), v1::SYNC_POLICY_DELETE);
  auto outcome = importer.Import(job);
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(absl::IsUnavailable(outcome.status())) << outcome.status();
  EXPECT_THAT(std::string(outcome.status().message()), HasSubstr("backup"));
  std::vector<v1::Person> after = Roster();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_TRUE(SamePerson(after[0], before[0]));
  auto done = store_->FindImportByJob(kTenant, "r2:import");
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(done->has_value());  // not recorded: a redelivery will try again

  // The worker treats it as transient: no event, the entry stays pending for redelivery.
  RecordingPublisher publisher;
  Exporter exporter(*store_, broken);
  RosterWorker worker(importer, exporter, publisher);
  EXPECT_TRUE(absl::IsUnavailable(worker.HandleJob(job)));
  EXPECT_THAT(publisher.events, IsEmpty());

  // Once the archive takes writes again, the redelivered job imports.
  v1::ImportSummary s = MustImport(job);
  EXPECT_EQ(s.status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(s.deleted(), 1);
  EXPECT_THAT(Ids(Roster()), ElementsAre("2"));
}

TEST_F(RosterImportTest, APermanentlyFailedJobReplaysItsFailureOnRedelivery) {
  const std::string header = "person_id,email,first_name,last_name,language,active\n";
  v1::RosterJob job = ImportJob("r1:import", PutSource(header + "1,a@x.io,A,A,en,y\n"));

  // First delivery: the source blob reads back corrupt, a permanent failure: FAILED, acked.
  CorruptReadsArchive corrupt(*archive_);
  Importer failing_importer(*store_, corrupt);
  Exporter failing_exporter(*store_, corrupt);
  RecordingPublisher publisher;
  RosterWorker failing(failing_importer, failing_exporter, publisher);
  ASSERT_TRUE(failing.HandleJob(job).ok());
  ASSERT_EQ(publisher.events.size(), 1u);
  EXPECT_EQ(publisher.events[0].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_EQ(publisher.events[0].event_id(), "r1:import:TYPE_FAILED");
  EXPECT_THAT(publisher.events[0].error(), HasSubstr("corrupt"));

  // The same entry is delivered again (the worker died before the ack) and the archive reads
  // fine now: the job must replay its FAILED outcome, not import behind the FAILED run.
  RosterWorker healthy(*importer_, *exporter_, publisher);
  ASSERT_TRUE(healthy.Handle(Delivery{"1-0", EncodeQueueMessage(job), 2}).ok());
  ASSERT_EQ(publisher.events.size(), 2u);
  EXPECT_EQ(publisher.events[1].type(), v1::RunEvent::TYPE_FAILED);
  EXPECT_EQ(publisher.events[1].event_id(), publisher.events[0].event_id());
  EXPECT_EQ(publisher.events[1].error(), publisher.events[0].error());
  EXPECT_THAT(Roster(), IsEmpty());
  auto done = store_->FindImportByJob(kTenant, "r1:import");
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->status(), v1::IMPORT_STATUS_FAILED);
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_BACKUP), 0);
}

TEST_F(RosterImportTest, SeatAssignment) {
  MustImport(
      ImportJob("r1:import", PutSource("person_id,email,first_name,last_name,language,active\n"
                                       "1,a@x.io,A,A,en,y\n2,b@x.io,B,B,en,y\n")));
  v1::Person p;
  ASSERT_TRUE(AssignSeat("1", "D-7", &p).ok());
  EXPECT_EQ(p.seat(), "D-7");
  grpc::Status taken = AssignSeat("2", "D-7");
  EXPECT_EQ(taken.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(taken.error_message(), HasSubstr("\"1\""));
  EXPECT_TRUE(AssignSeat("1", "D-7").ok());  // re-assigning one's own seat is fine
  EXPECT_EQ(AssignSeat("nobody", "D-8").error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(AssignSeat("1", "", &p).ok());  // release
  EXPECT_EQ(p.seat(), "");
  EXPECT_TRUE(AssignSeat("2", "D-7").ok());
  EXPECT_EQ(AssignSeat("", "D-7").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A file that hands a held seat to someone else is rejected, naming the holder.
  auto outcome = importer_->Import(
      ImportJob("r2:import", PutSource("person_id,email,first_name,last_name,language,active,seat\n"
                                       "1,a@x.io,A,A,en,y,D-7\n2,b@x.io,B,B,en,y,\n")));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->summary.status(), v1::IMPORT_STATUS_REJECTED);
  ASSERT_EQ(outcome->summary.errors_size(), 1);
  EXPECT_EQ(outcome->summary.errors(0).line(), 2);
  EXPECT_THAT(outcome->summary.errors(0).reason(), HasSubstr("held by person \"2\""));

  // Seats can swap hands within one file.
  auto swap = importer_->Import(
      ImportJob("r3:import", PutSource("person_id,email,first_name,last_name,language,active,seat\n"
                                       "1,a@x.io,A,A,en,y,D-7\n2,b@x.io,B,B,en,y,D-1\n")));
  ASSERT_TRUE(swap.ok()) << swap.status();
  EXPECT_EQ(swap->summary.status(), v1::IMPORT_STATUS_APPLIED) << swap->summary.message();
  std::vector<v1::Person> roster = Roster();
  EXPECT_EQ(roster[0].seat(), "D-7");
  EXPECT_EQ(roster[1].seat(), "D-1");
}

TEST_F(RosterImportTest, ListPeoplePaginatesAndFilters) {
  std::string csv = "person_id,email,first_name,last_name,language,active,person_type\n";
  for (int i = 0; i < 25; ++i) {
    csv += absl::StrCat("P", i < 10 ? "0" : "", i, ",p", i, "@x.io,F,L,en,", i % 2 == 0 ? "y" : "n",
                        ",", i % 5 == 0 ? "intern" : "employee", "\n");
  }
  ASSERT_EQ(MustImport(ImportJob("r1:import", PutSource(csv))).status(), v1::IMPORT_STATUS_APPLIED);

  auto list_all = [&](v1::ListPeopleRequest req) {
    std::vector<std::string> ids;
    int pages = 0;
    do {
      grpc::ClientContext ctx;
      v1::ListPeopleResponse resp;
      grpc::Status s = roster_stub_->ListPeople(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const auto& p : resp.people()) ids.push_back(p.person_id());
      req.set_page_token(resp.next_page_token());
      ++pages;
    } while (!req.page_token().empty() && pages < 100);
    return std::make_pair(ids, pages);
  };
  v1::ListPeopleRequest req;
  req.set_tenant_id(kTenant);
  req.set_page_size(10);
  auto [ids, pages] = list_all(req);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(ids.size(), 25u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 25u);

  req.set_person_type(v1::PERSON_TYPE_INTERN);
  EXPECT_THAT(list_all(req).first, ElementsAre("P00", "P05", "P10", "P15", "P20"));
  req.set_active(false);
  EXPECT_THAT(list_all(req).first, ElementsAre("P05", "P15"));
  req.clear_person_type();
  auto inactive = list_all(req);
  EXPECT_EQ(inactive.first.size(), 12u);
  EXPECT_EQ(inactive.second, 2);

  // A page of exactly the remaining size has no next token.
  v1::ListPeopleRequest exact;
  exact.set_tenant_id(kTenant);
  exact.set_page_size(25);
  grpc::ClientContext ctx;
  v1::ListPeopleResponse resp;
  ASSERT_TRUE(roster_stub_->ListPeople(&ctx, exact, &resp).ok());
  EXPECT_EQ(resp.people_size(), 25);
  EXPECT_EQ(resp.next_page_token(), "");

  grpc::ClientContext bad_ctx;
  exact.set_page_token("!!garbage!!");
  EXPECT_EQ(roster_stub_->ListPeople(&bad_ctx, exact, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(RosterImportTest, ListPeopleFiltersOnMappedAttributes) {
  std::string csv = "person_id,email,first_name,last_name,language,active,attr:site,attr:team\n";
  for (int i = 0; i < 12; ++i) {
    csv += absl::StrCat("Q", i < 10 ? "0" : "", i, ",q", i, "@x.io,F,L,en,y,",
                        i % 3 == 0 ? "Berlin" : "Paris", ",", i % 2 == 0 ? "ops" : "dev", "\n");
  }
  ASSERT_EQ(MustImport(ImportJob("r1:import", PutSource(csv))).status(), v1::IMPORT_STATUS_APPLIED);
  auto ids = [&](std::map<std::string, std::string> attributes) {
    v1::ListPeopleRequest req;
    req.set_tenant_id(kTenant);
    req.set_page_size(2);  // filters hold across pages
    for (const auto& [k, v] : attributes) (*req.mutable_attributes())[k] = v;
    std::vector<std::string> out;
    do {
      grpc::ClientContext ctx;
      v1::ListPeopleResponse resp;
      grpc::Status s = roster_stub_->ListPeople(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const auto& p : resp.people()) out.push_back(p.person_id());
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return out;
  };
  EXPECT_THAT(ids({{"site", "Berlin"}}), ElementsAre("Q00", "Q03", "Q06", "Q09"));
  EXPECT_THAT(ids({{"site", "Berlin"}, {"team", "ops"}}), ElementsAre("Q00", "Q06"));
  EXPECT_THAT(ids({{"site", "Rome"}}), ElementsAre());
  EXPECT_EQ(ids({}).size(), 12u);
  v1::ListPeopleRequest bad;
  bad.set_tenant_id(kTenant);
  (*bad.mutable_attributes())[""] = "x";
  grpc::ClientContext ctx;
  v1::ListPeopleResponse resp;
  EXPECT_EQ(roster_stub_->ListPeople(&ctx, bad, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(RosterImportTest, TenantsAreIsolated) {
  const std::string header = "person_id,email,first_name,last_name,language,active\n";
  v1::ImportSummary a =
      MustImport(ImportJob("ra:import", PutSource(header + "1,a@x.io,A,A,en,y\n")));
  ASSERT_EQ(a.status(), v1::IMPORT_STATUS_APPLIED);
  v1::ImportSummary b = MustImport(
      ImportJob("rb:import", PutSource(header + "1,other@y.io,Other,O,fr,y\n", kOtherTenant),
                v1::SYNC_POLICY_DELETE, kOtherTenant));
  ASSERT_EQ(b.status(), v1::IMPORT_STATUS_APPLIED);
  // Tenant b's full sync with DELETE did not touch tenant a's people.
  v1::Person p;
  ASSERT_TRUE(GetPerson("1", &p).ok());
  EXPECT_EQ(p.email(), "a@x.io");
  ASSERT_TRUE(GetPerson("1", &p, kOtherTenant).ok());
  EXPECT_EQ(p.email(), "other@y.io");
  EXPECT_EQ(p.tenant_id(), kOtherTenant);

  // Seats are per tenant.
  EXPECT_TRUE(AssignSeat("1", "S", nullptr, kTenant).ok());
  EXPECT_TRUE(AssignSeat("1", "S", nullptr, kOtherTenant).ok());

  // Imports and files of one tenant are invisible to another.
  grpc::ClientContext ctx;
  v1::GetImportRequest get;
  get.set_tenant_id(kOtherTenant);
  get.set_import_id(a.import_id());
  v1::ImportSummary got;
  EXPECT_EQ(roster_stub_->GetImport(&ctx, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  auto stolen = importer_->Import(
      ImportJob("rc:import", a.source_file_id(), v1::SYNC_POLICY_DELETE, kOtherTenant));
  ASSERT_TRUE(stolen.ok()) << stolen.status();
  EXPECT_EQ(stolen->summary.status(), v1::IMPORT_STATUS_REJECTED);
  ASSERT_TRUE(GetPerson("1", &p, kOtherTenant).ok());
  EXPECT_EQ(p.email(), "other@y.io");

  grpc::ClientContext no_tenant;
  v1::ListPeopleRequest list;
  v1::ListPeopleResponse resp;
  EXPECT_EQ(roster_stub_->ListPeople(&no_tenant, list, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(RosterImportTest, ExportRendersTheRosterWithSeatsIdempotently) {
  v1::RosterJob job1 = ImportJob("r1:import", PutSource(kFile1));
  SetHrMap(&job1);
  ASSERT_EQ(MustImport(job1).status(), v1::IMPORT_STATUS_APPLIED);
  ASSERT_TRUE(AssignSeat("E2", "SEAT-2").ok());

  v1::RosterJob job;
  job.set_job_id("r9:export");
  job.set_tenant_id(kTenant);
  job.set_run_id("r9");
  job.set_integration_id(kIntegration);
  job.set_op(v1::RosterJob::OP_EXPORT);
  job.set_export_name("people_20261121.csv");
  RecordingPublisher publisher;
  RosterWorker worker(*importer_, *exporter_, publisher);
  ASSERT_TRUE(worker.HandleJob(job).ok());
  ASSERT_TRUE(worker.HandleJob(job).ok());
  ASSERT_EQ(publisher.events.size(), 2u);
  EXPECT_EQ(publisher.events[0].type(), v1::RunEvent::TYPE_RENDERED);
  EXPECT_EQ(publisher.events[0].event_id(), "r9:export:TYPE_RENDERED");
  const std::string file_id = publisher.events[0].file_id();
  EXPECT_EQ(publisher.events[1].file_id(), file_id);
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_EXPORT), 1);

  auto info = archive_->Stat(kTenant, file_id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kind(), v1::FILE_KIND_EXPORT);
  EXPECT_EQ(info->name(), "people_20261121.csv");
  std::string csv = ReadFile(kTenant, file_id);
  std::string expected;
  ASSERT_TRUE(RenderExport(Roster(), [&](std::string_view s) {
                expected.append(s);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(csv, expected);
  EXPECT_THAT(csv, HasSubstr("E2,bob@example.com,Bob,\"Ng, Jr.\",fr,true,contractor,SEAT-2,R&D"));
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "person_id,email,first_name,last_name,language,active,person_type,seat,"
            "attr:department");
}

// The export streams from a cursor (2000 people a fetch): a roster of several fetches, with an
// attribute only some people have, renders exactly as RenderExport of the loaded roster.
TEST_F(RosterImportTest, ExportStreamsALargeRosterExactly) {
  std::string csv = "person_id,email,first_name,last_name,language,active,attr:site,attr:zone\n";
  for (int i = 0; i < 4500; ++i) {
    absl::StrAppend(&csv, "P", 100000 + i, ",p", i, "@x.io,First ", i, ",\"Last, ", i,
                    "\",en,y,Site ", i % 5, ",", i % 7 == 0 ? absl::StrCat("Z", i) : "", "\n");
  }
  ASSERT_EQ(MustImport(ImportJob("r1:import", PutSource(csv))).status(),
            v1::IMPORT_STATUS_APPLIED);
  v1::RosterJob job;
  job.set_job_id("r2:export");
  job.set_tenant_id(kTenant);
  job.set_run_id("r2");
  job.set_op(v1::RosterJob::OP_EXPORT);
  absl::StatusOr<std::string> file_id = exporter_->Export(job);
  ASSERT_TRUE(file_id.ok()) << file_id.status();
  const std::string exported = ReadFile(kTenant, *file_id);
  std::string expected;
  ASSERT_TRUE(RenderExport(Roster(), [&](std::string_view s) {
                expected.append(s);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(exported, expected);
  EXPECT_EQ(std::count(exported.begin(), exported.end(), '\n'), 4501);
  EXPECT_EQ(exported.substr(0, exported.find("\r\n")),
            "person_id,email,first_name,last_name,language,active,person_type,seat,"
            "attr:site,attr:zone");
}

}  // namespace
}  // namespace rostersync::roster
