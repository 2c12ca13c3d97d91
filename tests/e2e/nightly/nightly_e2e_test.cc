// End to end: the four service binaries as separate processes, with a real redis-server,
// PostgreSQL and OpenSSH sshd on loopback. Two nightly imports (the second one replaces part of
// the roster), then an export, all driven through the services' RPCs and rosterctl.
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/server.h"
#include "rostersync/v1/backup.grpc.pb.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "rostersync/v1/scheduler.grpc.pb.h"
#include "services/roster/csv_reader.h"
#include "services/roster/roster_csv.h"
#include "tests/fixtures/http_get.h"
#include "tests/fixtures/service_stack.h"

namespace rostersync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::HttpGet;
using testing::MetricValue;

constexpr char kTenant[] = "acme";

// An HR system's export: its own header names, mapped by the integration.
constexpr char kNightOne[] =
    "Employee ID,First Name,Last Name,Work Email,Language,Status,Worker Type\r\n"
    "E001,Ada,Lovelace,ada@acme.test,en,Active,employee\r\n"
    "E002,Grace,Hopper,grace@acme.test,en-US,Active,contractor\r\n"
    "E003,\"Jean, Jr.\",Sammet,jean@acme.test,fr,Active,intern\r\n"
    "E004,Edsger,Dijkstra,edsger@acme.test,nl,Inactive,staff\r\n"
    "E005,Barbara,Liskov,barbara@acme.test,en,Active,employee\r\n";
// The next night: E002 renamed, E005 gone, E006 new.
constexpr char kNightTwo[] =
    "Employee ID,First Name,Last Name,Work Email,Language,Status,Worker Type\r\n"
    "E001,Ada,Lovelace,ada@acme.test,en,Active,employee\r\n"
    "E002,Grace,Hopper-Murray,grace@acme.test,en-US,Active,contractor\r\n"
    "E003,\"Jean, Jr.\",Sammet,jean@acme.test,fr,Active,intern\r\n"
    "E004,Edsger,Dijkstra,edsger@acme.test,nl,Inactive,staff\r\n"
    "E006,Donald,Knuth,donald@acme.test,en,Active,part_time\r\n";

using testing::ServiceProcess;
using testing::ServiceStack;

class NightlyE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("rs-e2e");
    auto stack =
        ServiceStack::Start({RS_BACKUP_BIN, RS_ROSTER_BIN, RS_SFTP_BIN, RS_SCHEDULER_BIN}, dir_);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    sshd_ = &stack_->sshd();
    ASSERT_TRUE(sshd_->MakeHomeDir("hr-drop").ok());
    ASSERT_TRUE(sshd_->MakeHomeDir("exports").ok());

    backup_ = Started(stack_->StartBackup());
    roster_ = Started(stack_->StartRoster(backup_.address()));
    sftp_ = Started(stack_->StartSftp(backup_.address()));
    scheduler_ = Started(stack_->StartScheduler(sftp_.address(), roster_.address()));
    for (ServiceProcess* s : {&backup_, &roster_, &sftp_, &scheduler_}) {
      ASSERT_TRUE(ServiceStack::WaitUntilServing(*s).ok()) << "logs in " << dir_;
    }
    integrations_ = v1::IntegrationService::NewStub(MakeChannel(scheduler_.address()));
    runs_ = v1::RunService::NewStub(MakeChannel(scheduler_.address()));
    roster_stub_ = v1::RosterService::NewStub(MakeChannel(roster_.address()));
    backup_stub_ = v1::BackupService::NewStub(MakeChannel(backup_.address()));
  }

  void TearDown() override {
    // Graceful stop by pid: every service must exit 0 on SIGTERM.
    for (ServiceProcess* s : {&scheduler_, &sftp_, &roster_, &backup_}) {
      if (s->proc == nullptr) continue;
      int status = s->proc->Stop(absl::Seconds(20));
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << s->name << " did not stop cleanly on SIGTERM; logs in " << dir_;
    }
    stack_.reset();
    if (!HasFailure()) testing::RemoveTree(dir_);
  }

  static ServiceProcess Started(absl::StatusOr<ServiceProcess> service) {
    EXPECT_TRUE(service.ok()) << service.status();
    return service.ok() ? std::move(*service) : ServiceProcess{};
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  // `max_removals` >= 0 sets the import policy's removal guard.
  v1::Integration CreateImportIntegration(int64_t max_removals = -1) {
    auto key = testing::SshdServer::GenerateKeyPair("ed25519", "correct horse");
    EXPECT_TRUE(key.ok());
    EXPECT_TRUE(sshd_->AddAuthorizedKey(key->public_line).ok());
    v1::CreateIntegrationRequest req;
    v1::Integration* in = req.mutable_integration();
    in->set_tenant_id(kTenant);
    in->set_name("Workday nightly");
    in->set_direction(v1::RUN_DIRECTION_IMPORT);
    *in->mutable_endpoint() = stack_->SftpEndpoint();
    in->mutable_import_settings()->set_remote_folder("hr-drop");
    in->mutable_import_settings()->set_file_glob("roster_*.csv");
    auto& map = *in->mutable_import_settings()->mutable_header_map();
    map["Employee ID"] = "person_id";
    map["First Name"] = "first_name";
    map["Last Name"] = "last_name";
    map["Work Email"] = "email";
    map["Language"] = "language";
    map["Status"] = "active";
    map["Worker Type"] = "person_type";
    in->mutable_import_settings()->set_sync_policy(v1::SYNC_POLICY_DEACTIVATE);
    if (max_removals >= 0) {
      in->mutable_import_settings()->mutable_policy()->set_max_removals(max_removals);
    }
    in->set_active(true);
    req.mutable_credentials()->mutable_private_key()->set_key_pem(key->private_key);
    req.mutable_credentials()->mutable_private_key()->set_passphrase("correct horse");
    v1::Integration out;
    grpc::Status status = integrations_->CreateIntegration(Ctx().get(), req, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(out.credential_kind(), v1::CREDENTIAL_KIND_PRIVATE_KEY);
    EXPECT_THAT(out.DebugString(), Not(HasSubstr("correct horse")));
    EXPECT_THAT(out.DebugString(), Not(HasSubstr("PRIVATE KEY")));
    return out;
  }

  v1::Integration CreateExportIntegration() {
    v1::CreateIntegrationRequest req;
    v1::Integration* in = req.mutable_integration();
    in->set_tenant_id(kTenant);
    in->set_name("Seat export");
    in->set_direction(v1::RUN_DIRECTION_EXPORT);
    *in->mutable_endpoint() = stack_->SftpEndpoint();
    in->mutable_export_settings()->set_remote_folder("exports");
    in->mutable_export_settings()->set_file_name("roster_export.csv");
    in->set_active(true);
    req.mutable_credentials()->set_password(sshd_->password());
    v1::Integration out;
    grpc::Status status = integrations_->CreateIntegration(Ctx().get(), req, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_THAT(out.DebugString(), Not(HasSubstr(sshd_->password())));
    return out;
  }

  v1::Run RunAndWait(const std::string& integration_id) {
    v1::TriggerRunRequest trigger;
    trigger.set_tenant_id(kTenant);
    trigger.set_integration_id(integration_id);
    v1::Run run;
    grpc::Status status = runs_->TriggerRun(Ctx().get(), trigger, &run);
    EXPECT_TRUE(status.ok()) << status.error_message();
    absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (absl::Now() < deadline) {
      v1::GetRunRequest get;
      get.set_tenant_id(kTenant);
      get.set_run_id(run.run_id());
      status = runs_->GetRun(Ctx().get(), get, &run);
      EXPECT_TRUE(status.ok()) << status.error_message();
      switch (run.state()) {
        case v1::RUN_STATE_SUCCEEDED:
        case v1::RUN_STATE_FAILED:
        case v1::RUN_STATE_SKIPPED:
        case v1::RUN_STATE_HELD:
          return run;
        default:
          absl::SleepFor(absl::Milliseconds(100));
      }
    }
    ADD_FAILURE() << "run " << run.run_id() << " did not finish: " << run.DebugString()
                  << " logs in " << dir_;
    return run;
  }

  std::map<std::string, v1::Person> People() {
    std::map<std::string, v1::Person> people;
    v1::ListPeopleRequest req;
    req.set_tenant_id(kTenant);
    req.set_page_size(2);  // exercise pagination
    do {
      v1::ListPeopleResponse resp;
      grpc::Status status = roster_stub_->ListPeople(Ctx().get(), req, &resp);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const auto& p : resp.people()) people[p.person_id()] = p;
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return people;
  }

  std::string DownloadFile(const std::string& file_id) {
    v1::GetFileRequest req;
    req.set_tenant_id(kTenant);
    req.set_file_id(file_id);
    auto ctx = Ctx();
    auto reader = backup_stub_->GetFile(ctx.get(), req);
    v1::GetFileResponse part;
    std::string bytes;
    while (reader->Read(&part)) {
      if (part.has_chunk()) bytes += part.chunk();
    }
    grpc::Status status = reader->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return bytes;
  }

  // Reads a BACKUP snapshot back into people, keyed by person id.
  std::map<std::string, v1::Person> ParseBackup(const std::string& csv) {
    auto people = roster::ParseSnapshot(csv, kTenant);
    EXPECT_TRUE(people.ok()) << people.status();
    std::map<std::string, v1::Person> out;
    if (people.ok()) {
      for (auto& p : *people) out[p.person_id()] = p;
    }
    return out;
  }

  // Reads an EXPORT file into rows keyed by person id, each a map column -> value.
  std::map<std::string, std::map<std::string, std::string>> ParseExport(const std::string& csv) {
    roster::CsvReader reader;
    std::vector<roster::CsvRecord> records;
    EXPECT_TRUE(reader.Feed(csv, &records).ok());
    EXPECT_TRUE(reader.Finish(&records).ok());
    std::map<std::string, std::map<std::string, std::string>> rows;
    if (records.empty()) return rows;
    const auto& header = records[0].fields;
    for (size_t r = 1; r < records.size(); ++r) {
      std::map<std::string, std::string> row;
      for (size_t c = 0; c < header.size() && c < records[r].fields.size(); ++c) {
        row[header[c]] = records[r].fields[c];
      }
      rows[row["person_id"]] = row;
    }
    return rows;
  }

  std::string Metrics(const ServiceProcess& s) {
    auto text = HttpGet(s.metrics_port, "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? *text : "";
  }

  static void ExpectSamePerson(const v1::Person& a, const v1::Person& b) {
    EXPECT_EQ(a.person_id(), b.person_id());
    EXPECT_EQ(a.email(), b.email());
    EXPECT_EQ(a.first_name(), b.first_name()) << a.person_id();
    EXPECT_EQ(a.last_name(), b.last_name()) << a.person_id();
    EXPECT_EQ(a.language(), b.language()) << a.person_id();
    EXPECT_EQ(a.active(), b.active()) << a.person_id();
    EXPECT_EQ(a.person_type(), b.person_type()) << a.person_id();
    EXPECT_EQ(a.seat(), b.seat()) << a.person_id();
  }

  std::string dir_;
  std::unique_ptr<ServiceStack> stack_;
  testing::SshdServer* sshd_ = nullptr;
  ServiceProcess backup_, roster_, sftp_, scheduler_;
  std::unique_ptr<v1::IntegrationService::Stub> integrations_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::RosterService::Stub> roster_stub_;
  std::unique_ptr<v1::BackupService::Stub> backup_stub_;
};

TEST_F(NightlyE2eTest, ImportImportExport) {
  v1::Integration import = CreateImportIntegration();
  v1::Integration export_integration = CreateExportIntegration();

  // Night one.
  ASSERT_TRUE(sshd_->WriteHomeFile("hr-drop/roster_20261120.csv", kNightOne).ok());
  v1::Run first = RunAndWait(import.integration_id());
  ASSERT_EQ(first.state(), v1::RUN_STATE_SUCCEEDED) << first.DebugString() << " logs: " << dir_;
  EXPECT_EQ(first.import_summary().added(), 5);
  EXPECT_FALSE(first.source_file_id().empty());
  std::map<std::string, v1::Person> people = People();
  ASSERT_EQ(people.size(), 5u);
  EXPECT_EQ(people["E003"].first_name(), "Jean, Jr.");
  EXPECT_EQ(people["E002"].person_type(), v1::PERSON_TYPE_CONTRACTOR);
  EXPECT_FALSE(people["E004"].active());
  EXPECT_EQ(people["E002"].language(), "en-US");

  // An operator assigns a seat; no HR file carries seats.
  v1::AssignSeatRequest seat;
  seat.set_tenant_id(kTenant);
  seat.set_person_id("E001");
  seat.set_seat("HQ-3-101");
  v1::Person seated;
  ASSERT_TRUE(roster_stub_->AssignSeat(Ctx().get(), seat, &seated).ok());
  seat.set_person_id("E005");
  seat.set_seat("HQ-3-102");
  ASSERT_TRUE(roster_stub_->AssignSeat(Ctx().get(), seat, &seated).ok());
  std::map<std::string, v1::Person> before_second = People();

  // A run with nothing new on the server is skipped.
  v1::Run nothing_new = RunAndWait(import.integration_id());
  EXPECT_EQ(nothing_new.state(), v1::RUN_STATE_SKIPPED) << nothing_new.DebugString();

  // Night two.
  ASSERT_TRUE(sshd_->WriteHomeFile("hr-drop/roster_20261121.csv", kNightTwo).ok());
  v1::Run second = RunAndWait(import.integration_id());
  ASSERT_EQ(second.state(), v1::RUN_STATE_SUCCEEDED) << second.DebugString() << " logs: " << dir_;
  const v1::ImportSummary& summary = second.import_summary();
  EXPECT_EQ(summary.added(), 1);
  EXPECT_EQ(summary.updated(), 1);
  EXPECT_EQ(summary.deactivated(), 1);
  EXPECT_EQ(summary.deleted(), 0);
  ASSERT_FALSE(summary.backup_file_id().empty());

  people = People();
  ASSERT_EQ(people.size(), 6u);
  EXPECT_EQ(people["E002"].last_name(), "Hopper-Murray");
  EXPECT_FALSE(people["E005"].active());  // absent from the file: deactivated
  EXPECT_EQ(people["E006"].person_type(), v1::PERSON_TYPE_PART_TIME);
  EXPECT_EQ(people["E001"].seat(), "HQ-3-101");  // seats survive an import without seats

  // The backup taken before night two is exactly the roster as it was.
  std::map<std::string, v1::Person> backup = ParseBackup(DownloadFile(summary.backup_file_id()));
  ASSERT_EQ(backup.size(), before_second.size());
  for (const auto& [id, person] : before_second) {
    ASSERT_EQ(backup.count(id), 1u) << id;
    ExpectSamePerson(backup[id], person);
  }

  // Export the roster with seats to the customer's SFTP server.
  v1::Run exported = RunAndWait(export_integration.integration_id());
  ASSERT_EQ(exported.state(), v1::RUN_STATE_SUCCEEDED) << exported.DebugString();
  auto remote = sshd_->ReadHomeFile("exports/roster_export.csv");
  ASSERT_TRUE(remote.ok()) << remote.status();
  auto in_export = ParseExport(*remote);
  ASSERT_EQ(in_export.size(), people.size());
  for (const auto& [id, person] : people) {
    ASSERT_EQ(in_export.count(id), 1u) << id;
    auto& row = in_export[id];
    EXPECT_EQ(row["email"], person.email()) << id;
    EXPECT_EQ(row["first_name"], person.first_name()) << id;
    EXPECT_EQ(row["last_name"], person.last_name()) << id;
    EXPECT_EQ(row["active"], person.active() ? "true" : "false") << id;
    EXPECT_EQ(row["seat"], person.seat()) << id;
  }
  EXPECT_EQ(in_export["E001"]["seat"], "HQ-3-101");
  EXPECT_EQ(in_export["E005"]["seat"], "HQ-3-102");
  auto leftovers = sshd_->ReadHomeFile("exports/.roster_export.csv.part");
  EXPECT_FALSE(leftovers.ok()) << "a temp upload file was left behind";

  // The metrics moved.
  std::string sched = Metrics(scheduler_);
  EXPECT_EQ(MetricValue(sched,
                        "rostersync_runs_total{direction=\"import\",outcome=\"succeeded\"}"),
            2);
  EXPECT_EQ(MetricValue(sched, "rostersync_runs_total{direction=\"import\",outcome=\"skipped\"}"),
            1);
  EXPECT_EQ(MetricValue(sched,
                        "rostersync_runs_total{direction=\"export\",outcome=\"succeeded\"}"),
            1);
  EXPECT_THAT(sched, HasSubstr("rostersync_last_success_timestamp_seconds"));
  std::string sftp = Metrics(sftp_);
  EXPECT_GT(MetricValue(sftp, "rostersync_sftp_bytes_total{direction=\"download\"}"), 0);
  EXPECT_GT(MetricValue(sftp, "rostersync_sftp_bytes_total{direction=\"upload\"}"), 0);
  std::string roster_metrics = Metrics(roster_);
  EXPECT_EQ(MetricValue(roster_metrics, "rostersync_import_records_total{change=\"added\"}"), 6);
  EXPECT_EQ(MetricValue(roster_metrics,
                        "rostersync_import_records_total{change=\"deactivated\"}"),
            1);

  // No secret anywhere in the logs.
  for (const char* name : {"backup", "roster", "sftp-transfer", "scheduler"}) {
    std::string log = testing::ReadFileOrDie(dir_ + "/" + name + ".log");
    EXPECT_THAT(log, Not(HasSubstr(sshd_->password()))) << name;
    EXPECT_THAT(log, Not(HasSubstr("correct horse"))) << name;
    EXPECT_THAT(log, Not(HasSubstr("PRIVATE KEY"))) << name;
  }

  // rosterctl sees the same runs.
  std::string out_path = dir_ + "/rosterctl.out";
  int rc = testing::RunCommand({RS_ROSTERCTL_BIN, "--scheduler", scheduler_.address(),
                                "--tenant", kTenant, "--output", "json", "runs", "list"},
                               out_path);
  EXPECT_EQ(rc, 0);
  std::string listed = testing::ReadFileOrDie(out_path);
  EXPECT_THAT(listed, HasSubstr(second.run_id()));
  EXPECT_THAT(listed, HasSubstr(exported.run_id()));
}

// A file that would remove more people than the guard allows holds the run; ApproveRun on
// the scheduler passes through to the roster's ApproveDeletions and the run succeeds.
TEST_F(NightlyE2eTest, HeldRunApprovedThroughTheScheduler) {
  v1::Integration import = CreateImportIntegration(/*max_removals=*/1);
  ASSERT_TRUE(sshd_->WriteHomeFile("hr-drop/roster_20261120.csv", kNightOne).ok());
  ASSERT_EQ(RunAndWait(import.integration_id()).state(), v1::RUN_STATE_SUCCEEDED);

  // Only E001 left in the file: E002, E003 and E005 would be deactivated (3 > 1).
  ASSERT_TRUE(sshd_->WriteHomeFile("hr-drop/roster_20261121.csv",
                                   "Employee ID,First Name,Last Name,Work Email,Language,Status,"
                                   "Worker Type\r\n"
                                   "E001,Ada,Lovelace,ada@acme.test,en,Active,employee\r\n")
                  .ok());
  v1::Run held = RunAndWait(import.integration_id());
  ASSERT_EQ(held.state(), v1::RUN_STATE_HELD) << held.DebugString() << " logs: " << dir_;
  ASSERT_FALSE(held.import_summary().import_id().empty());
  EXPECT_TRUE(People()["E002"].active());  // removals wait

  v1::ApproveRunRequest approve;
  approve.set_tenant_id(kTenant);
  approve.set_run_id(held.run_id());
  approve.set_approved_by("ops-oncall");
  v1::Run approved;
  grpc::Status status = runs_->ApproveRun(Ctx().get(), approve, &approved);
  ASSERT_TRUE(status.ok()) << status.error_message() << " logs: " << dir_;
  EXPECT_EQ(approved.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(approved.approved_by(), "ops-oncall");
  EXPECT_EQ(approved.import_summary().status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(approved.import_summary().deactivated(), 3);
  std::map<std::string, v1::Person> people = People();
  EXPECT_TRUE(people["E001"].active());
  EXPECT_FALSE(people["E002"].active());
  EXPECT_FALSE(people["E003"].active());
  EXPECT_FALSE(people["E005"].active());

  // The roster agrees: the import is approved.
  v1::GetImportRequest get_import;
  get_import.set_tenant_id(kTenant);
  get_import.set_import_id(held.import_summary().import_id());
  v1::ImportSummary stored;
  ASSERT_TRUE(roster_stub_->GetImport(Ctx().get(), get_import, &stored).ok());
  EXPECT_TRUE(stored.has_approved_at());

  // Approving again returns the same run; cancelling it now is refused.
  v1::Run again;
  ASSERT_TRUE(runs_->ApproveRun(Ctx().get(), approve, &again).ok());
  EXPECT_EQ(again.state(), v1::RUN_STATE_SUCCEEDED);
  v1::CancelRunRequest cancel;
  cancel.set_tenant_id(kTenant);
  cancel.set_run_id(held.run_id());
  v1::Run cancelled;
  EXPECT_EQ(runs_->CancelRun(Ctx().get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// An operator rotates the integration's credentials (key to password) and sets its stream
// count with `rosterctl integrations update`: a wrong password alone is refused by the
// activation test and changes nothing; the right one is stored, the rest of the integration kept, and the
// next run logs in with it.
TEST_F(NightlyE2eTest, CredentialsRotatedWithRosterctlUpdate) {
  v1::Integration import = CreateImportIntegration();
  const std::string wrong = dir_ + "/wrong-password";
  const std::string right = dir_ + "/password";
  for (const auto& [path, text] : {std::pair<std::string, std::string>{wrong, "not-the-password"},
                                   {right, sshd_->password()}}) {
    std::ofstream f(path);
    f << text << "\n";
    ASSERT_TRUE(f.good()) << path;
  }
  auto update = [&](const std::vector<std::string>& options, const std::string& out) {
    std::vector<std::string> argv = {RS_ROSTERCTL_BIN, "--scheduler",  scheduler_.address(),
                                     "--tenant",       kTenant,        "integrations",
                                     "update",         import.integration_id()};
    argv.insert(argv.end(), options.begin(), options.end());
    return testing::RunCommand(argv, out);
  };
  auto get = [&] {
    v1::GetIntegrationRequest req;
    req.set_tenant_id(kTenant);
    req.set_integration_id(import.integration_id());
    v1::Integration out;
    EXPECT_TRUE(integrations_->GetIntegration(Ctx().get(), req, &out).ok());
    return out;
  };

  // New credentials alone (the endpoint unchanged) are tested before they are stored.
  EXPECT_NE(update({"--password-file", wrong}, dir_ + "/update-wrong.out"), 0);
  std::string refused = testing::ReadFileOrDie(dir_ + "/update-wrong.out");
  EXPECT_THAT(refused, HasSubstr("auth"));
  v1::Integration unchanged = get();
  EXPECT_EQ(unchanged.credential_kind(), v1::CREDENTIAL_KIND_PRIVATE_KEY);
  EXPECT_EQ(unchanged.endpoint().max_streams(), 0);

  ASSERT_EQ(update({"--password-file", right, "--max-streams", "3"}, dir_ + "/update.out"), 0)
      << testing::ReadFileOrDie(dir_ + "/update.out") << " logs: " << dir_;
  v1::Integration rotated = get();
  EXPECT_EQ(rotated.credential_kind(), v1::CREDENTIAL_KIND_PASSWORD);
  EXPECT_EQ(rotated.endpoint().max_streams(), 3);
  EXPECT_EQ(rotated.endpoint().host_key_sha256(), import.endpoint().host_key_sha256());
  EXPECT_EQ(rotated.endpoint().username(), import.endpoint().username());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(rotated.import_settings(),
                                                                 import.import_settings()))
      << rotated.import_settings().DebugString();
  EXPECT_EQ(rotated.schedule(), import.schedule());
  EXPECT_TRUE(rotated.active());

  ASSERT_TRUE(sshd_->WriteHomeFile("hr-drop/roster_20261120.csv", kNightOne).ok());
  v1::Run run = RunAndWait(import.integration_id());
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED) << run.DebugString() << " logs: " << dir_;
  EXPECT_EQ(People().size(), 5u);

  for (const std::string& out : {dir_ + "/update-wrong.out", dir_ + "/update.out"}) {
    EXPECT_THAT(testing::ReadFileOrDie(out), Not(HasSubstr(sshd_->password()))) << out;
  }
  for (const char* name : {"backup", "roster", "sftp-transfer", "scheduler"}) {
    std::string log = testing::ReadFileOrDie(dir_ + "/" + name + ".log");
    EXPECT_THAT(log, Not(HasSubstr(sshd_->password()))) << name;
    EXPECT_THAT(log, Not(HasSubstr("not-the-password"))) << name;
  }
}

TEST_F(NightlyE2eTest, TenantsSeeOnlyTheirOwnData) {
  v1::Integration import = CreateImportIntegration();
  ASSERT_TRUE(sshd_->WriteHomeFile("hr-drop/roster_20261120.csv", kNightOne).ok());
  ASSERT_EQ(RunAndWait(import.integration_id()).state(), v1::RUN_STATE_SUCCEEDED);

  v1::GetIntegrationRequest get;
  get.set_tenant_id("globex");
  get.set_integration_id(import.integration_id());
  v1::Integration other;
  EXPECT_EQ(integrations_->GetIntegration(Ctx().get(), get, &other).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ListPeopleRequest list;
  list.set_tenant_id("globex");
  v1::ListPeopleResponse people;
  ASSERT_TRUE(roster_stub_->ListPeople(Ctx().get(), list, &people).ok());
  EXPECT_EQ(people.people_size(), 0);
  v1::TriggerRunRequest trigger;
  trigger.set_tenant_id("globex");
  trigger.set_integration_id(import.integration_id());
  v1::Run run;
  EXPECT_EQ(runs_->TriggerRun(Ctx().get(), trigger, &run).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace rostersync
