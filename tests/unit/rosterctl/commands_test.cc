// rosterctl's commands against fake services on an in-process gRPC channel: no sockets, no
// real services, so the client's behaviour is pinned to the proto contract alone.
#include "tools/rosterctl/commands.h"

#include <dirent.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rostersync::rosterctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every fake call records whether it carried a deadline no later than the test's --timeout.
struct CallLog {
  std::mutex mu;
  std::vector<std::string> tenants;
  int calls_without_deadline = 0;
  void Record(grpc::ServerContext* ctx, const std::string& tenant) {
    std::lock_guard<std::mutex> lock(mu);
    tenants.push_back(tenant);
    if (ctx->deadline() > std::chrono::system_clock::now() + std::chrono::seconds(60)) {
      ++calls_without_deadline;
    }
  }
};

class FakeRuns : public v1::RunService::Service {
 public:
  explicit FakeRuns(CallLog* log) : log_(log) {}
  grpc::Status TriggerRun(grpc::ServerContext* ctx, const v1::TriggerRunRequest* req,
                          v1::Run* resp) override {
    log_->Record(ctx, req->tenant_id());
    resp->set_tenant_id(req->tenant_id());
    resp->set_run_id("r-1");
    resp->set_integration_id(req->integration_id());
    resp->set_state(v1::RUN_STATE_QUEUED);
    return grpc::Status::OK;
  }
  grpc::Status GetRun(grpc::ServerContext* ctx, const v1::GetRunRequest* req,
                      v1::Run* resp) override {
    log_->Record(ctx, req->tenant_id());
    std::lock_guard<std::mutex> lock(mu_);
    if (!get_status.ok()) return get_status;
    if (script.empty()) {
      resp->set_run_id(req->run_id());
      resp->set_state(v1::RUN_STATE_QUEUED);
      return grpc::Status::OK;
    }
    *resp = script.front();
    if (script.size() > 1) script.pop_front();
    return grpc::Status::OK;
  }
  grpc::Status ListRuns(grpc::ServerContext* ctx, const v1::ListRunsRequest* req,
                        v1::ListRunsResponse* resp) override {
    log_->Record(ctx, req->tenant_id());
    std::lock_guard<std::mutex> lock(mu_);
    list_requests.push_back(*req);
    const int start = req->page_token().empty() ? 0 : std::stoi(req->page_token());
    const int n = std::min<int>(req->page_size(), stored_runs - start);
    for (int i = start; i < start + n; ++i) {
      v1::Run* r = resp->add_runs();
      r->set_run_id(absl::StrCat("r-", i));
      r->set_integration_id(req->integration_id());
      r->set_state(v1::RUN_STATE_FAILED);
      r->set_direction(v1::RUN_DIRECTION_IMPORT);
    }
    if (start + n < stored_runs) resp->set_next_page_token(absl::StrCat(start + n));
    return grpc::Status::OK;
  }
  grpc::Status CancelRun(grpc::ServerContext* ctx, const v1::CancelRunRequest* req,
                         v1::Run* resp) override {
    log_->Record(ctx, req->tenant_id());
    std::lock_guard<std::mutex> lock(mu_);
    cancel_requests.push_back(*req);
    if (!cancel_status.ok()) return cancel_status;
    resp->set_run_id(req->run_id());
    resp->set_state(v1::RUN_STATE_CANCELLED);
    resp->set_cancelled_by(req->requested_by());
    resp->set_cancel_reason(req->reason());
    return grpc::Status::OK;
  }
  grpc::Status ApproveRun(grpc::ServerContext* ctx, const v1::ApproveRunRequest* req,
                          v1::Run* resp) override {
    log_->Record(ctx, req->tenant_id());
    std::lock_guard<std::mutex> lock(mu_);
    approve_requests.push_back(*req);
    resp->set_run_id(req->run_id());
    resp->set_state(v1::RUN_STATE_SUCCEEDED);
    resp->set_approved_by(req->approved_by());
    resp->mutable_approved_at()->set_seconds(1772326800);  // 2026-03-01T01:00:00Z
    resp->mutable_import_summary()->set_import_id("imp-7");
    resp->mutable_import_summary()->set_deleted(40);
    resp->mutable_import_summary()->set_status(v1::IMPORT_STATUS_APPLIED);
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::vector<v1::CancelRunRequest> cancel_requests;
  grpc::Status cancel_status = grpc::Status::OK;
  std::vector<v1::ApproveRunRequest> approve_requests;
  std::deque<v1::Run> script;  // GetRun answers, the last one repeated
  grpc::Status get_status = grpc::Status::OK;
  int stored_runs = 5;
  std::vector<v1::ListRunsRequest> list_requests;

 private:
  CallLog* log_;
};

class FakeIntegrations : public v1::IntegrationService::Service {
 public:
  explicit FakeIntegrations(CallLog* log) : log_(log) {}
  grpc::Status CreateIntegration(grpc::ServerContext* ctx, const v1::CreateIntegrationRequest* req,
                                 v1::Integration* resp) override {
    log_->Record(ctx, req->integration().tenant_id());
    created = *req;
    *resp = req->integration();
    resp->set_integration_id("int-1");
    resp->set_credential_kind(req->credentials().has_password() ? v1::CREDENTIAL_KIND_PASSWORD
                                                                : v1::CREDENTIAL_KIND_PRIVATE_KEY);
    return grpc::Status::OK;
  }
  grpc::Status TestIntegration(grpc::ServerContext* ctx, const v1::TestIntegrationRequest* req,
                               v1::TestConnectionResponse* resp) override {
    log_->Record(ctx, req->tenant_id());
    *resp = test_response;
    return grpc::Status::OK;
  }
  grpc::Status ListIntegrations(grpc::ServerContext* ctx, const v1::ListIntegrationsRequest* req,
                                v1::ListIntegrationsResponse* resp) override {
    log_->Record(ctx, req->tenant_id());
    v1::Integration* i = resp->add_integrations();
    i->set_integration_id("int-1");
    i->set_name("Nightly HR");
    i->set_direction(v1::RUN_DIRECTION_IMPORT);
    i->mutable_endpoint()->set_host("sftp.example.com");
    i->mutable_endpoint()->set_username("acme");
    i->set_schedule("0 2 * * *");
    i->set_time_zone("Europe/Berlin");
    i->set_active(true);
    return grpc::Status::OK;
  }
  grpc::Status GetIntegration(grpc::ServerContext* ctx, const v1::GetIntegrationRequest* req,
                              v1::Integration* resp) override {
    log_->Record(ctx, req->tenant_id());
    if (req->integration_id() != stored.integration_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "integration " + req->integration_id() + " not found");
    }
    *resp = stored;
    return grpc::Status::OK;
  }
  v1::CreateIntegrationRequest created;
  v1::TestConnectionResponse test_response;
  v1::Integration stored;  // what GetIntegration returns

 private:
  CallLog* log_;
};

class FakeRoster : public v1::RosterService::Service {
 public:
  explicit FakeRoster(CallLog* log) : log_(log) {}
  grpc::Status ListPeople(grpc::ServerContext* ctx, const v1::ListPeopleRequest* req,
                          v1::ListPeopleResponse* resp) override {
    log_->Record(ctx, req->tenant_id());
    last_people = *req;
    v1::Person* p = resp->add_people();
    p->set_person_id("p-1");
    p->set_first_name("Jürgen");
    p->set_last_name("Groß");
    p->set_active(false);
    p->set_person_type(v1::PERSON_TYPE_CONTRACTOR);
    return grpc::Status::OK;
  }
  grpc::Status AssignSeat(grpc::ServerContext* ctx, const v1::AssignSeatRequest* req,
                          v1::Person* resp) override {
    log_->Record(ctx, req->tenant_id());
    resp->set_person_id(req->person_id());
    resp->set_seat(req->seat());
    return grpc::Status::OK;
  }
  grpc::Status GetImport(grpc::ServerContext* ctx, const v1::GetImportRequest* req,
                         v1::ImportSummary* resp) override {
    log_->Record(ctx, req->tenant_id());
    resp->set_import_id(req->import_id());
    resp->set_status(v1::IMPORT_STATUS_REJECTED);
    resp->set_rows_read(4);
    resp->set_rejected_rows(2);
    resp->set_message("2 rows have errors");
    v1::RowError* e = resp->add_errors();
    e->set_line(3);
    e->set_column("E-Mail");
    e->set_value("not-an-email");
    e->set_reason("invalid email");
    e = resp->add_errors();
    e->set_line(17);
    e->set_column("Sprache");
    e->set_reason("missing language");
    resp->set_error_report_file_id(error_report_file_id);
    return grpc::Status::OK;
  }
  grpc::Status UploadRoster(grpc::ServerContext* ctx,
                            grpc::ServerReader<v1::UploadRosterRequest>* reader,
                            v1::ImportSummary* resp) override {
    v1::UploadRosterRequest req;
    uploaded_bytes.clear();
    upload_chunks = 0;
    bool first = true;
    while (reader->Read(&req)) {
      if (first) {
        if (!req.has_header()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no header");
        upload_header = req.header();
        upload_deadline = ctx->deadline();
        log_->Record(ctx, req.header().tenant_id());
        first = false;
        continue;
      }
      if (req.has_header()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "2 headers");
      uploaded_bytes += req.chunk();
      ++upload_chunks;
    }
    if (first) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty stream");
    if (!upload_status.ok()) return upload_status;
    *resp = upload_response;
    return grpc::Status::OK;
  }
  grpc::Status ApproveDeletions(grpc::ServerContext* ctx, const v1::ApproveDeletionsRequest* req,
                                v1::ImportSummary* resp) override {
    log_->Record(ctx, req->tenant_id());
    resp->set_import_id(req->import_id());
    resp->set_status(v1::IMPORT_STATUS_APPLIED);
    resp->set_deleted(700);
    resp->mutable_approved_at()->set_seconds(1795262400);
    return grpc::Status::OK;
  }
  grpc::Status RestoreBackup(grpc::ServerContext* ctx, const v1::RestoreBackupRequest* req,
                             v1::ImportSummary* resp) override {
    log_->Record(ctx, req->tenant_id());
    last_restore = *req;
    *resp = restore_response;
    return grpc::Status::OK;
  }
  std::string error_report_file_id;
  std::vector<v1::ImportSummary> extra_imports;  // listed after imp-1
  v1::UploadRosterHeader upload_header;
  std::string uploaded_bytes;
  int upload_chunks = 0;
  std::chrono::system_clock::time_point upload_deadline;
  grpc::Status upload_status = grpc::Status::OK;
  v1::ImportSummary upload_response;
  v1::RestoreBackupRequest last_restore;
  v1::ImportSummary restore_response;
  grpc::Status ListImports(grpc::ServerContext* ctx, const v1::ListImportsRequest* req,
                           v1::ListImportsResponse* resp) override {
    log_->Record(ctx, req->tenant_id());
    last_imports = *req;
    v1::ImportSummary* s = resp->add_imports();
    s->set_import_id("imp-1");
    s->set_status(v1::IMPORT_STATUS_APPLIED);
    s->set_added(10);
    s->set_deactivated(2);
    for (const v1::ImportSummary& extra : extra_imports) *resp->add_imports() = extra;
    return grpc::Status::OK;
  }
  v1::ListPeopleRequest last_people;
  v1::ListImportsRequest last_imports;

 private:
  CallLog* log_;
};

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

class FakeBackup : public v1::BackupService::Service {
 public:
  enum class Mode { kGood, kDataLossAfterChunks, kWrongShaButOk, kNotFound };
  explicit FakeBackup(CallLog* log) : log_(log) {}
  grpc::Status GetFile(grpc::ServerContext* ctx, const v1::GetFileRequest* req,
                       grpc::ServerWriter<v1::GetFileResponse>* writer) override {
    log_->Record(ctx, req->tenant_id());
    if (mode == Mode::kNotFound) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "file " + req->file_id() + " not found");
    }
    v1::GetFileResponse info;
    info.mutable_info()->set_file_id(req->file_id());
    info.mutable_info()->set_name("roster.csv");
    info.mutable_info()->set_size_bytes(static_cast<int64_t>(content.size()));
    info.mutable_info()->set_sha256(mode == Mode::kWrongShaButOk ? std::string(64, '0')
                                                                 : Sha256Hex(content));
    writer->Write(info);
    for (size_t off = 0; off < content.size(); off += 1000) {
      v1::GetFileResponse chunk;
      chunk.set_chunk(content.substr(off, 1000));
      writer->Write(chunk);
    }
    if (mode == Mode::kDataLossAfterChunks) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "blob checksum mismatch");
    }
    return grpc::Status::OK;
  }
  Mode mode = Mode::kGood;
  std::string content;

 private:
  CallLog* log_;
};

class FakeTransfer : public v1::TransferService::Service {
 public:
  explicit FakeTransfer(CallLog* log) : log_(log) {}
  grpc::Status ScanHostKey(grpc::ServerContext* ctx, const v1::ScanHostKeyRequest* req,
                           v1::ScanHostKeyResponse* resp) override {
    log_->Record(ctx, "acme");  // the request carries no tenant; checks the deadline
    last = *req;
    if (req->port() == 2) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "TCP connect refused");
    resp->set_host_key_type("ssh-ed25519");
    resp->set_host_key_sha256("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s");
    return grpc::Status::OK;
  }
  grpc::Status Reprocess(grpc::ServerContext* ctx, const v1::ReprocessRequest* req,
                         v1::ReprocessResponse* resp) override {
    log_->Record(ctx, req->tenant_id());
    last_reprocess = *req;
    if (req->remote_path() == "in/none.csv") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no processed file of integration int_1 matches remote path");
    }
    v1::ProcessedFileEntry* e = resp->add_forgotten();
    e->set_remote_path(req->remote_path());
    e->set_size_bytes(1234);
    e->set_sha256(std::string(64, 'a'));
    e->set_file_id("file_9");
    e->mutable_processed_at()->set_seconds(1763700000);
    return grpc::Status::OK;
  }
  v1::ScanHostKeyRequest last;
  v1::ReprocessRequest last_reprocess;

 private:
  CallLog* log_;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&runs_);
    builder.RegisterService(&integrations_);
    builder.RegisterService(&roster_);
    builder.RegisterService(&backup_);
    builder.RegisterService(&transfer_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = server_->InProcessChannel(grpc::ChannelArguments());
    stubs_.integrations = v1::IntegrationService::NewStub(channel);
    stubs_.runs = v1::RunService::NewStub(channel);
    stubs_.roster = v1::RosterService::NewStub(channel);
    stubs_.backup = v1::BackupService::NewStub(channel);
    stubs_.transfer = v1::TransferService::NewStub(channel);
    char tmpl[] = "/tmp/rosterctl_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    server_->Shutdown();
    for (const std::string& f : DirEntries()) ::unlink((dir_ + "/" + f).c_str());
    ::rmdir(dir_.c_str());
    EXPECT_EQ(log_.calls_without_deadline, 0) << "every RPC must carry a deadline";
    for (const std::string& t : log_.tenants) EXPECT_EQ(t, "acme");
  }

  std::vector<std::string> DirEntries() const {
    std::vector<std::string> names;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    return names;
  }

  Result Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--tenant", "acme", "--timeout", "10"});
    auto env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    std::ostringstream out, err;
    absl::StatusOr<ParsedArgs> parsed = Parse(args, env);
    if (!parsed.ok()) return {2, "", std::string(parsed.status().message())};
    CommandContext ctx;
    ctx.stubs = &stubs_;
    ctx.out = &out;
    ctx.err = &err;
    ctx.env = env;
    ctx.read_file = [this](const std::string& path, size_t max) -> absl::StatusOr<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return absl::NotFoundError("cannot read " + path + ": no such file");
      return it->second;
    };
    ctx.poll_interval = absl::Milliseconds(1);
    const int code = RunCommand(*parsed, ctx);
    return {code, out.str(), err.str()};
  }

  v1::Run RunIn(v1::RunState state) {
    v1::Run r;
    r.set_run_id("r-1");
    r.set_integration_id("int-1");
    r.set_state(state);
    return r;
  }

  CallLog log_;
  FakeRuns runs_{&log_};
  FakeIntegrations integrations_{&log_};
  FakeRoster roster_{&log_};
  FakeBackup backup_{&log_};
  FakeTransfer transfer_{&log_};
  std::unique_ptr<grpc::Server> server_;
  ServiceStubs stubs_;
  std::map<std::string, std::string> env_;
  std::map<std::string, std::string> files_;
  std::string dir_;
};

// ---- runs ----

TEST_F(CommandsTest, TriggerWaitPollsUntilSucceededAndPrintsTheSummary) {
  v1::Run done = RunIn(v1::RUN_STATE_SUCCEEDED);
  done.mutable_import_summary()->set_added(3);
  done.mutable_import_summary()->set_backup_file_id("f-backup");
  v1::RunStepRecord* step = done.add_steps();
  step->set_state(v1::RUN_STATE_FETCHING);
  step->set_detail("roster_20261121.csv");
  step->mutable_at()->set_seconds(1795262400);
  runs_.script = {RunIn(v1::RUN_STATE_FETCHING), RunIn(v1::RUN_STATE_IMPORTING), done};
  Result r = Run({"runs", "trigger", "int-1", "--wait"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(r.out, HasSubstr("f-backup"));
  EXPECT_THAT(r.out, testing::ContainsRegex(
                        "2026-11-21T12:00:00Z +fetching +1 +- +roster_20261121.csv"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Added: +3"));
  EXPECT_THAT(r.err, HasSubstr("run r-1: fetching"));
  EXPECT_THAT(r.err, HasSubstr("run r-1: importing"));
}

TEST_F(CommandsTest, TriggerWaitExitCodeFollowsTheTerminalState) {
  struct Case {
    v1::RunState state;
    int code;
  };
  for (const Case& c : {Case{v1::RUN_STATE_SKIPPED, 0}, Case{v1::RUN_STATE_HELD, 1},
                        Case{v1::RUN_STATE_FAILED, 1}, Case{v1::RUN_STATE_SUCCEEDED, 0},
                        Case{v1::RUN_STATE_CANCELLED, 1}}) {
    v1::Run end = RunIn(c.state);
    if (c.state == v1::RUN_STATE_FAILED) end.set_error("host key mismatch");
    if (c.state == v1::RUN_STATE_HELD) {
      end.mutable_import_summary()->set_import_id("imp-7");
      end.mutable_import_summary()->set_held_reason("40 removals exceed 10");
    }
    runs_.script = {end};
    Result r = Run({"runs", "trigger", "int-1", "--wait"});
    EXPECT_EQ(r.code, c.code) << RunStateName(c.state) << ": " << r.err;
    if (c.state == v1::RUN_STATE_FAILED) {
      EXPECT_THAT(r.err,
                  HasSubstr("rosterctl: runs trigger: run r-1 ended FAILED: host key mismatch"));
    }
    if (c.state == v1::RUN_STATE_HELD) {
      EXPECT_THAT(r.err, HasSubstr("40 removals exceed 10; approve with `rosterctl runs "
                                   "approve r-1`"));
    }
    if (c.state == v1::RUN_STATE_CANCELLED) {
      EXPECT_THAT(r.err, HasSubstr("run r-1 ended CANCELLED"));
    }
  }
}

TEST_F(CommandsTest, TriggerWithoutWaitReturnsAtOnce) {
  runs_.script = {RunIn(v1::RUN_STATE_FAILED)};  // never asked
  Result r = Run({"runs", "trigger", "int-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Run r-1 queued\n");
}

TEST_F(CommandsTest, TriggerWaitGivesUpAfterTheWaitTimeout) {
  runs_.script = {RunIn(v1::RUN_STATE_FETCHING)};
  const absl::Time start = absl::Now();
  Result r = Run({"runs", "trigger", "int-1", "--wait", "--wait-timeout", "0.2"});
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("rosterctl: runs trigger: DEADLINE_EXCEEDED: run r-1 is still "
                               "fetching"));
}

TEST_F(CommandsTest, WaitTimeoutWithoutWaitIsAUsageError) {
  Result r = Run({"runs", "trigger", "int-1", "--wait-timeout", "5"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--wait-timeout needs --wait"));
  EXPECT_THAT(r.err, HasSubstr("rosterctl runs trigger INTEGRATION_ID"));
}

TEST_F(CommandsTest, RpcErrorsPrintCommandCodeAndMessage) {
  runs_.get_status = grpc::Status(grpc::StatusCode::NOT_FOUND, "run r-9 not found");
  Result r = Run({"runs", "show", "r-9"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "rosterctl: runs show: NOT_FOUND: run r-9 not found\n");
  EXPECT_EQ(r.out, "");
  // A server-side INVALID_ARGUMENT is an RPC failure (1), not a usage error (2).
  runs_.get_status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad run id");
  r = Run({"runs", "show", "r-9"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "rosterctl: runs show: INVALID_ARGUMENT: bad run id\n");
}

TEST_F(CommandsTest, JsonOutputIsTheProtobufJsonOfTheResponse) {
  v1::Run run = RunIn(v1::RUN_STATE_SUCCEEDED);
  run.set_bytes_transferred(1234);
  runs_.script = {run};
  Result r = Run({"--output", "json", "runs", "show", "r-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  v1::Run parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, run));
  EXPECT_THAT(r.out, HasSubstr("\"state\":\"RUN_STATE_SUCCEEDED\""));
}

TEST_F(CommandsTest, RunsListPassesFiltersAndStopsAtTheLimit) {
  Result r = Run({"runs", "list", "--integration", "int-7", "--state", "failed", "--limit", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_FALSE(runs_.list_requests.empty());
  for (const auto& req : runs_.list_requests) {
    EXPECT_EQ(req.integration_id(), "int-7");
    EXPECT_EQ(req.state(), v1::RUN_STATE_FAILED);
  }
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << r.out;  // header + 3
  EXPECT_THAT(lines[0], HasSubstr("RUN"));
  EXPECT_THAT(lines[3], HasSubstr("r-2"));
  EXPECT_THAT(r.err, HasSubstr("more runs exist"));

  runs_.list_requests.clear();
  r = Run({"--output", "json", "runs", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  v1::ListRunsResponse all;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &all).ok()) << r.out;
  EXPECT_EQ(all.runs_size(), 5);
  EXPECT_EQ(all.next_page_token(), "");
}

TEST_F(CommandsTest, RunsCancelSendsWhoAndWhy) {
  Result r = Run({"runs", "cancel", "r-5", "--reason", "wrong file", "--by", "alice"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(runs_.cancel_requests.size(), 1u);
  EXPECT_EQ(runs_.cancel_requests[0].tenant_id(), "acme");
  EXPECT_EQ(runs_.cancel_requests[0].run_id(), "r-5");
  EXPECT_EQ(runs_.cancel_requests[0].requested_by(), "alice");
  EXPECT_EQ(runs_.cancel_requests[0].reason(), "wrong file");
  EXPECT_EQ(r.out, "Run r-5 CANCELLED by alice: wrong file\n");

  // A finished run: the server's FAILED_PRECONDITION, exit 1.
  runs_.cancel_status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                     "run r-5 already finished SUCCEEDED");
  r = Run({"runs", "cancel", "r-5", "--by", "alice"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "rosterctl: runs cancel: FAILED_PRECONDITION: run r-5 already finished SUCCEEDED\n");
  // The run id is required.
  r = Run({"runs", "cancel"});
  EXPECT_EQ(r.code, 2);
}

TEST_F(CommandsTest, RunsApprovePassesTheOperatorAndPrintsTheOutcome) {
  Result r = Run({"runs", "approve", "r-6", "--by", "bob"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(runs_.approve_requests.size(), 1u);
  EXPECT_EQ(runs_.approve_requests[0].run_id(), "r-6");
  EXPECT_EQ(runs_.approve_requests[0].approved_by(), "bob");
  EXPECT_THAT(r.out, HasSubstr("Approved run r-6 (import imp-7): 40 deleted, 0 deactivated"));
  EXPECT_THAT(r.out, HasSubstr("Approved by"));
  EXPECT_THAT(r.out, HasSubstr("bob"));
  EXPECT_EQ(log_.calls_without_deadline, 0);
}

TEST_F(CommandsTest, RunsShowPrintsAttemptsStepTimesAndErrors) {
  v1::Run run = RunIn(v1::RUN_STATE_FAILED);
  run.set_error("fetch failed after 3 attempts: sftp: connection refused");
  run.set_attempt(3);
  auto add_step = [&](v1::RunState state, int64_t at, int attempt, const std::string& detail) {
    v1::RunStepRecord* s = run.add_steps();
    s->set_state(state);
    s->mutable_at()->set_seconds(at);
    s->set_attempt(attempt);
    s->set_detail(detail);
  };
  add_step(v1::RUN_STATE_QUEUED, 1772326800, 1, "triggered manually");
  add_step(v1::RUN_STATE_FETCHING, 1772326800, 1, "fetch job r-1:fetch queued");
  add_step(v1::RUN_STATE_FETCHING, 1772326890, 2, "fetch attempt 1 of 3 failed: refused");
  add_step(v1::RUN_STATE_FAILED, 1772327010, 3, "fetch failed after 3 attempts: refused");
  runs_.script = {run};
  Result r = Run({"runs", "show", "r-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("fetch failed after 3 attempts: sftp: connection refused"));
  EXPECT_THAT(r.out, HasSubstr("ATTEMPT"));
  EXPECT_THAT(r.out, HasSubstr("TOOK"));
  EXPECT_THAT(r.out, HasSubstr("1m30s"));  // first fetch attempt, until its failure
  EXPECT_THAT(r.out, HasSubstr(" 2m "));   // second attempt
  EXPECT_THAT(r.out, HasSubstr("Attempt"));

  v1::Run cancelled = RunIn(v1::RUN_STATE_CANCELLED);
  cancelled.set_cancelled_by("alice");
  cancelled.set_cancel_reason("wrong file");
  runs_.script = {cancelled};
  r = Run({"runs", "show", "r-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Cancelled by"));
  EXPECT_THAT(r.out, HasSubstr("wrong file"));
}

TEST_F(CommandsTest, BadRunStateIsAUsageErrorNamingTheOption) {
  Result r = Run({"runs", "list", "--state", "exploded"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("invalid value 'exploded' for --state"));
  EXPECT_TRUE(runs_.list_requests.empty());
}

// ---- integrations ----

TEST_F(CommandsTest, CreateReadsThePasswordFromAFileAndNeverPrintsIt) {
  files_["/run/secrets/sftp"] = "s3cret-pw\n";
  Result r = Run({"integrations",    "create",
                  "--name",          "Nightly HR",
                  "--direction",     "import",
                  "--host",          "sftp.example.com",
                  "--port",          "2222",
                  "--user",          "acme",
                  "--host-key",      "SHA256:abcdef",
                  "--password-file", "/run/secrets/sftp",
                  "--schedule",      "0 2 * * *",
                  "--time-zone",     "Europe/Berlin",
                  "--folder",        "/out",
                  "--glob",          "roster_*.csv",
                  "--map",           "Personal Nr.=person_id",
                  "--map",           "E-Mail = email",
                  "--sync",          "delete"});
  ASSERT_EQ(r.code, 0) << r.err;
  const v1::CreateIntegrationRequest& req = integrations_.created;
  EXPECT_EQ(req.credentials().password(), "s3cret-pw");
  EXPECT_EQ(req.integration().tenant_id(), "acme");
  EXPECT_EQ(req.integration().endpoint().port(), 2222);
  EXPECT_EQ(req.integration().endpoint().host_key_sha256(), "SHA256:abcdef");
  EXPECT_EQ(req.integration().time_zone(), "Europe/Berlin");
  EXPECT_TRUE(req.integration().active());
  const auto& settings = req.integration().import_settings();
  EXPECT_EQ(settings.file_glob(), "roster_*.csv");
  EXPECT_EQ(settings.header_map().at("Personal Nr."), "person_id");
  EXPECT_EQ(settings.header_map().at("E-Mail"), "email");
  EXPECT_EQ(settings.sync_policy(), v1::SYNC_POLICY_DELETE);
  EXPECT_THAT(r.out, HasSubstr("int-1"));
  EXPECT_THAT(r.out, HasSubstr("'Personal Nr.' -> person_id"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("s3cret")));
}

TEST_F(CommandsTest, CreateWithKeyFileAndPassphraseOrPasswordEnv) {
  files_["/k"] = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
  files_["/pp"] = "open sesame\n";
  Result r = Run({"integrations", "create", "--name", "Out", "--direction", "export", "--host", "h",
                  "--user", "u", "--host-key", "SHA256:x", "--key-file", "/k", "--passphrase-file",
                  "/pp", "--file-name", "export.csv", "--inactive"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(integrations_.created.credentials().private_key().key_pem(), files_["/k"]);
  EXPECT_EQ(integrations_.created.credentials().private_key().passphrase(), "open sesame");
  EXPECT_EQ(integrations_.created.integration().export_settings().file_name(), "export.csv");
  EXPECT_EQ(integrations_.created.integration().endpoint().port(), 22);
  EXPECT_FALSE(integrations_.created.integration().active());
  EXPECT_THAT(r.out, Not(HasSubstr("OPENSSH")));

  env_["SFTP_PW"] = "from-env";
  r = Run({"integrations", "create", "--name", "In", "--direction", "import", "--host", "h",
           "--user", "u", "--host-key", "SHA256:x", "--password-env", "SFTP_PW"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(integrations_.created.credentials().password(), "from-env");
}

TEST_F(CommandsTest, CreateRefusesBadCombinationsBeforeCallingTheServer) {
  files_["/pw"] = "pw";
  files_["/notakey"] = "hello";
  const std::vector<std::string> base = {"integrations", "create",  "--name", "n",
                                         "--host",       "h",       "--user", "u",
                                         "--host-key",   "SHA256:x"};
  struct Case {
    std::vector<std::string> extra;
    std::string message;
    int code;
  };
  for (const Case& c : std::vector<Case>{
           {{"--direction", "import"}, "exactly one of --password-file", 2},
           {{"--direction", "import", "--password-file", "/pw", "--password-env", "X"},
            "exactly one of",
            2},
           {{"--direction", "sideways", "--password-file", "/pw"}, "--direction", 2},
           {{"--direction", "export", "--password-file", "/pw", "--glob", "*.csv"},
            "--glob is for --direction import",
            2},
           {{"--direction", "import", "--password-file", "/pw", "--file-name", "x"},
            "--file-name is for --direction export",
            2},
           {{"--direction", "import", "--password-file", "/pw", "--passphrase-file", "/pw"},
            "--passphrase-file needs --key-file",
            2},
           {{"--direction", "import", "--password-file", "/pw", "--map", "no-equals"},
            "invalid --map 'no-equals'",
            2},
           {{"--direction", "import", "--password-file", "/pw", "--port", "70000"}, "--port", 2},
           {{"--direction", "import", "--password-env", "UNSET_VAR"}, "UNSET_VAR", 2},
           {{"--direction", "import", "--key-file", "/notakey"}, "/notakey", 2},
           {{"--direction", "import", "--password-file", "/missing"},
            "rosterctl: integrations create: NOT_FOUND: --password-file: cannot read /missing",
            1},
       }) {
    std::vector<std::string> args = base;
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    Result r = Run(args);
    EXPECT_EQ(r.code, c.code) << c.message << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_THAT(r.err, Not(HasSubstr("hello")));
  }
  EXPECT_TRUE(log_.tenants.empty()) << "no call may be made for a bad command line";

  Result bad_key = Run({"integrations", "create", "--name", "n", "--host", "h", "--user", "u",
                        "--host-key", "ab:cd", "--direction", "import", "--password-file", "/pw"});
  EXPECT_EQ(bad_key.code, 2);
  EXPECT_THAT(bad_key.err, HasSubstr("--host-key"));
}

TEST(HeaderMappingTest, SplitsAtTheLastEqualsSign) {
  auto m = ParseHeaderMapping("Personal Nr.=person_id");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->first, "Personal Nr.");
  EXPECT_EQ(m->second, "person_id");
  auto eq = ParseHeaderMapping("a=b=attr:c");
  ASSERT_TRUE(eq.ok());
  EXPECT_EQ(eq->first, "a=b");
  EXPECT_EQ(eq->second, "attr:c");
  EXPECT_FALSE(ParseHeaderMapping("=email").ok());
  EXPECT_FALSE(ParseHeaderMapping("Email=").ok());
}

TEST_F(CommandsTest, ConnectionTestPrintsEveryStepAndFailsOnAFailedOne) {
  v1::TestConnectionResponse resp;
  auto add = [&](std::string name, bool ok, std::string detail) {
    v1::ConnectionStep* s = resp.add_steps();
    s->set_name(name);
    s->set_ok(ok);
    s->set_detail(detail);
    s->set_duration_ms(12);
  };
  add("tcp", true, "connected");
  add("host_key", false, "fingerprint SHA256:zzz does not match the pinned SHA256:abc");
  resp.set_ok(false);
  integrations_.test_response = resp;
  Result r = Run({"integrations", "test", "int-1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, testing::ContainsRegex("tcp +ok +12 ms +connected"));
  EXPECT_THAT(r.out, testing::ContainsRegex("host_key +FAILED"));
  EXPECT_THAT(r.out, HasSubstr("Result: FAILED"));
  EXPECT_THAT(r.err, HasSubstr("failed at step 'host_key'"));

  resp.mutable_steps(1)->set_ok(true);
  resp.set_ok(true);
  integrations_.test_response = resp;
  r = Run({"integrations", "test", "int-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Result: ok"));
}

// ---- people ----

TEST_F(CommandsTest, PeopleListFiltersAndAlignsNonAsciiNames) {
  Result r = Run({"people", "list", "--type", "contractor", "--active", "false"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(roster_.last_people.person_type(), v1::PERSON_TYPE_CONTRACTOR);
  ASSERT_TRUE(roster_.last_people.has_active());
  EXPECT_FALSE(roster_.last_people.active());
  EXPECT_THAT(r.out, HasSubstr("p-1     Jürgen      Groß"));

  r = Run({"people", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(roster_.last_people.has_active()) << "no --active: both";
}

TEST_F(CommandsTest, AssignSeat) {
  Result r = Run({"people", "assign-seat", "p-1", "B-12"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, testing::ContainsRegex("Seat: +B-12"));
}

// ---- imports, integrations list ----

TEST_F(CommandsTest, ImportsShowListsRowErrorsWithLineNumbers) {
  Result r = Run({"imports", "show", "imp-9"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, testing::ContainsRegex("Import status: +rejected"));
  EXPECT_THAT(r.out, HasSubstr("2 rows have errors"));
  EXPECT_THAT(r.out, HasSubstr("LINE  COLUMN   VALUE         REASON"));
  EXPECT_THAT(r.out, HasSubstr("3     E-Mail   not-an-email  invalid email"));
  EXPECT_THAT(r.out, HasSubstr("17    Sprache                missing language"));
}

TEST_F(CommandsTest, ImportsListFiltersByIntegration) {
  Result r = Run({"imports", "list", "--integration", "int-3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(roster_.last_imports.integration_id(), "int-3");
  EXPECT_THAT(r.out, HasSubstr("imp-1"));
  EXPECT_THAT(r.out, HasSubstr("applied"));
}

TEST_F(CommandsTest, IntegrationsListTable) {
  Result r = Run({"integrations", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, testing::ContainsRegex(
                         "int-1 +Nightly HR +import +sftp.example.com:22 +acme +0 2 \\* \\* \\* +"
                         "Europe/Berlin +yes"));
}

// ---- backups download ----

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(CommandsTest, DownloadWritesTheVerifiedFile) {
  backup_.content = std::string(2500, 'x') + "\n\0binary" + std::string(10, '\xff');
  const std::string path = dir_ + "/out.csv";
  Result r = Run({"backups", "download", "f-1", "-o", path});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ReadAll(path), backup_.content);
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"out.csv"}) << "no temp file left behind";
  EXPECT_THAT(r.out, HasSubstr("to " + path));
}

TEST_F(CommandsTest, DownloadToStdout) {
  backup_.content = "person_id,email\n1,a@example.com\n";
  Result r = Run({"backups", "download", "f-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, backup_.content);
}

TEST_F(CommandsTest, DownloadDeletesThePartialFileOnDataLoss) {
  backup_.content = std::string(5000, 'y');
  backup_.mode = FakeBackup::Mode::kDataLossAfterChunks;
  const std::string path = dir_ + "/out.csv";
  Result r = Run({"backups", "download", "f-1", "-o", path});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "rosterctl: backups download: DATA_LOSS: blob checksum mismatch\n");
  EXPECT_TRUE(DirEntries().empty()) << "partial output left behind";
}

TEST_F(CommandsTest, DownloadVerifiesTheShaItselfAndKeepsAnExistingFileOnFailure) {
  backup_.content = "abc";
  backup_.mode = FakeBackup::Mode::kWrongShaButOk;
  const std::string path = dir_ + "/keep.csv";
  { std::ofstream(path) << "previous contents"; }
  Result r = Run({"backups", "download", "f-1", "-o", path});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("DATA_LOSS: file f-1 has SHA-256"));
  EXPECT_EQ(ReadAll(path), "previous contents");
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"keep.csv"});
}

TEST_F(CommandsTest, DownloadOfAMissingFileCreatesNothing) {
  backup_.mode = FakeBackup::Mode::kNotFound;
  Result r = Run({"backups", "download", "f-404", "-o", dir_ + "/x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "rosterctl: backups download: NOT_FOUND: file f-404 not found\n");
  EXPECT_TRUE(DirEntries().empty());
}

// ---- imports preview / upload / errors / approve, backups restore ----

std::string WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

v1::ImportSummary PreviewResponse() {
  v1::ImportSummary s;
  s.set_import_id("imp-p");
  s.set_status(v1::IMPORT_STATUS_PREVIEW);
  s.set_rows_read(1200);
  s.set_added(2);
  s.set_updated(1);
  s.set_deleted(650);
  s.set_unchanged(540);
  s.set_rejected_rows(7);
  s.set_held(650);
  s.set_held_reason("650 removals exceed max_removals 500");
  s.add_header_notes("header 'E-Mail': removed a zero-width space");
  s.set_diff_file_id("f-diff");
  s.set_error_report_file_id("f-err");
  v1::PersonChange* c = s.add_examples();
  c->set_kind(v1::CHANGE_KIND_ADDED);
  c->set_person_id("p-1");
  c->mutable_after()->set_first_name("Zoë");
  c->mutable_after()->set_last_name("Doe");
  c->mutable_after()->set_email("zoe@example.com");
  c = s.add_examples();
  c->set_kind(v1::CHANGE_KIND_UPDATED);
  c->set_person_id("p-2");
  c->add_changed_fields("last_name");
  c->add_changed_fields("attr:cost_center");
  c = s.add_examples();
  c->set_kind(v1::CHANGE_KIND_DELETED);
  c->set_person_id("p-3");
  c->mutable_before()->set_first_name("Max");
  c->mutable_before()->set_last_name("Mustermann");
  return s;
}

TEST_F(CommandsTest, ImportsPreviewStreamsTheFileAndPrintsTheDiff) {
  std::string content = "Employee ID\tE-Mail\n";
  while (content.size() < 600 * 1024)
    absl::StrAppend(&content, content.size(), "\tx@example.com\n");
  const std::string path = WriteFile(dir_ + "/roster.csv", content);
  roster_.upload_response = PreviewResponse();
  Result r = Run({"imports", "preview", path, "--map", "Employee ID=person_id", "--map",
                  "E-Mail=email", "--sync", "deactivate", "--encoding", "windows-1252",
                  "--delimiter", "tab", "--examples", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  const v1::UploadRosterHeader& h = roster_.upload_header;
  EXPECT_EQ(h.tenant_id(), "acme");
  EXPECT_EQ(h.name(), "roster.csv");
  EXPECT_TRUE(h.preview());
  EXPECT_EQ(h.examples_per_kind(), 3);
  EXPECT_EQ(h.integration_id(), "");
  EXPECT_EQ(h.header_map().at("Employee ID"), "person_id");
  EXPECT_EQ(h.header_map().at("E-Mail"), "email");
  EXPECT_EQ(h.policy().sync_policy(), v1::SYNC_POLICY_DEACTIVATE);
  EXPECT_EQ(h.policy().encoding(), "windows-1252");
  EXPECT_EQ(h.policy().delimiter(), "\t");
  EXPECT_EQ(roster_.uploaded_bytes, content) << "the file arrives whole and in order";
  EXPECT_GE(roster_.upload_chunks, 3) << "streamed in chunks, not one message";

  EXPECT_THAT(r.out, HasSubstr("Rows read: 1200"));
  EXPECT_THAT(r.out, testing::ContainsRegex("added +2\n"));
  EXPECT_THAT(r.out, testing::ContainsRegex("deleted +650\n"));
  EXPECT_THAT(r.out, testing::ContainsRegex("rejected rows +7\n"));
  EXPECT_THAT(r.out, HasSubstr("Would hold 650 removals for approval: 650 removals exceed"));
  EXPECT_THAT(r.out, testing::ContainsRegex("added +p-1 +Zoë Doe <zoe@example.com>"));
  EXPECT_THAT(r.out, testing::ContainsRegex("updated +p-2 +changed: last_name, attr:cost_center"));
  EXPECT_THAT(r.out, testing::ContainsRegex("deleted +p-3 +Max Mustermann"));
  EXPECT_THAT(r.out, HasSubstr("header 'E-Mail': removed a zero-width space"));
  EXPECT_THAT(r.out, HasSubstr("Diff file: f-diff (rosterctl backups download f-diff"));
  EXPECT_THAT(r.out, HasSubstr("f-err"));

  // --output json is the summary itself.
  r = Run({"--output", "json", "imports", "preview", path});
  ASSERT_EQ(r.code, 0) << r.err;
  v1::ImportSummary parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, PreviewResponse()));
  EXPECT_EQ(roster_.upload_header.examples_per_kind(), 10) << "default examples";
  EXPECT_TRUE(roster_.upload_header.header_map().empty());
}

TEST_F(CommandsTest, PreviewAsAnIntegrationTakesItsMappingAndPolicyUnlessOverridden) {
  v1::Integration& in = integrations_.stored;
  in.set_integration_id("int-4");
  in.set_direction(v1::RUN_DIRECTION_IMPORT);
  (*in.mutable_import_settings()->mutable_header_map())["Personal Nr."] = "person_id";
  in.mutable_import_settings()->set_sync_policy(v1::SYNC_POLICY_KEEP);  // legacy field
  in.mutable_import_settings()->mutable_policy()->set_encoding("windows-1252");
  in.mutable_import_settings()->mutable_policy()->set_max_removals(10);
  const std::string path = WriteFile(dir_ + "/hr.txt", "Personal Nr.\n1\n");
  roster_.upload_response = PreviewResponse();

  Result r = Run({"imports", "preview", path, "--integration", "int-4"});
  ASSERT_EQ(r.code, 0) << r.err;
  v1::UploadRosterHeader h = roster_.upload_header;
  EXPECT_EQ(h.integration_id(), "int-4");
  EXPECT_EQ(h.name(), "hr.txt");
  EXPECT_EQ(h.header_map().at("Personal Nr."), "person_id");
  EXPECT_EQ(h.policy().sync_policy(), v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(h.policy().encoding(), "windows-1252");
  EXPECT_EQ(h.policy().max_removals(), 10);

  r = Run({"imports", "preview", path, "--integration", "int-4", "--map", "Mail=email", "--sync",
           "delete", "--delimiter", ";"});
  ASSERT_EQ(r.code, 0) << r.err;
  h = roster_.upload_header;
  EXPECT_EQ(h.header_map().size(), 1u) << "--map replaces the integration's mapping";
  EXPECT_EQ(h.header_map().at("Mail"), "email");
  EXPECT_EQ(h.policy().sync_policy(), v1::SYNC_POLICY_DELETE);
  EXPECT_EQ(h.policy().delimiter(), ";");
  EXPECT_EQ(h.policy().encoding(), "windows-1252") << "not overridden: kept";

  roster_.upload_header.Clear();
  r = Run({"imports", "preview", path, "--integration", "int-404"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "rosterctl: imports preview: NOT_FOUND: integration int-404 not found\n");
  EXPECT_EQ(roster_.upload_header.name(), "") << "nothing uploaded";
}

TEST_F(CommandsTest, ImportsUploadAppliesAndExitCodesFollowTheStatus) {
  const std::string path = WriteFile(dir_ + "/roster.csv", "person_id,email\n1,a@example.com\n");
  v1::ImportSummary applied;
  applied.set_import_id("imp-5");
  applied.set_status(v1::IMPORT_STATUS_APPLIED);
  applied.set_added(5);
  applied.set_backup_file_id("f-bk");
  applied.set_source("upload");
  roster_.upload_response = applied;
  Result r = Run({"imports", "upload", path, "--request-id", "req-1", "--sync", "keep"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(roster_.upload_header.preview());
  EXPECT_EQ(roster_.upload_header.request_id(), "req-1");
  EXPECT_EQ(roster_.upload_header.examples_per_kind(), 0);
  EXPECT_EQ(roster_.upload_header.policy().sync_policy(), v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(roster_.uploaded_bytes, "person_id,email\n1,a@example.com\n");
  EXPECT_THAT(r.out, testing::ContainsRegex("Import status: +applied"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Added: +5"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Backup file: +f-bk"));

  v1::ImportSummary held = applied;
  held.set_import_id("imp-7");
  held.set_status(v1::IMPORT_STATUS_HELD);
  held.set_held(700);
  held.set_held_reason("the header set changed: 'E-Mail' is gone");
  roster_.upload_response = held;
  r = Run({"imports", "upload", path});
  EXPECT_EQ(r.code, 0) << "adds and updates applied: " << r.err;
  EXPECT_THAT(r.out, testing::ContainsRegex("Import status: +held"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Held removals: +700"));
  EXPECT_THAT(r.out, HasSubstr("700 removals are held for approval: the header set changed"));
  EXPECT_THAT(r.out, HasSubstr("rosterctl imports approve imp-7"));

  v1::ImportSummary rejected;
  rejected.set_import_id("imp-8");
  rejected.set_status(v1::IMPORT_STATUS_REJECTED);
  rejected.set_message("roster.csv: duplicate header 'Email' in columns 2 and 5");
  rejected.set_error_report_file_id("f-err8");
  roster_.upload_response = rejected;
  r = Run({"imports", "upload", path});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("rosterctl: imports upload: import imp-8 was rejected: "
                               "roster.csv: duplicate header 'Email' in columns 2 and 5"));
  EXPECT_THAT(r.err, HasSubstr("rosterctl imports errors imp-8"));
  roster_.upload_response.set_status(v1::IMPORT_STATUS_FAILED);
  EXPECT_EQ(Run({"imports", "upload", path}).code, 1);

  roster_.upload_status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not yet");
  r = Run({"imports", "upload", path});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "rosterctl: imports upload: UNIMPLEMENTED: not yet\n");

  r = Run({"imports", "upload", dir_ + "/missing.csv"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND: cannot read " + dir_ + "/missing.csv"));

  // --examples is for preview only.
  EXPECT_EQ(Run({"imports", "upload", path, "--examples", "3"}).code, 2);
  EXPECT_EQ(Run({"imports", "preview", path, "--examples", "-1"}).code, 2);
  EXPECT_EQ(Run({"imports", "preview", path, "--delimiter", ":"}).code, 2);
  EXPECT_EQ(Run({"imports", "preview", path, "--encoding", "latin1"}).code, 2);
}

TEST_F(CommandsTest, UploadGetsAnHourUnlessTimeoutIsGiven) {
  const std::string path = WriteFile(dir_ + "/roster.csv", "person_id\n1\n");
  roster_.upload_response.set_status(v1::IMPORT_STATUS_APPLIED);
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  absl::StatusOr<ParsedArgs> parsed = Parse({"--tenant", "acme", "imports", "upload", path}, env);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  std::ostringstream out, err;
  CommandContext ctx;
  ctx.stubs = &stubs_;
  ctx.out = &out;
  ctx.err = &err;
  ctx.env = env;
  const auto now = std::chrono::system_clock::now();
  ASSERT_EQ(RunCommand(*parsed, ctx), 0) << err.str();
  EXPECT_GT(roster_.upload_deadline, now + std::chrono::minutes(59));
  EXPECT_LT(roster_.upload_deadline, now + std::chrono::minutes(61));
  EXPECT_EQ(log_.calls_without_deadline, 1);  // the CallLog's 60 s bound, by design here
  log_.calls_without_deadline = 0;

  // An explicit --timeout wins (Run() passes --timeout 10).
  Result r = Run({"imports", "upload", path});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(roster_.upload_deadline, std::chrono::system_clock::now() + std::chrono::seconds(11));
}

TEST_F(CommandsTest, ImportsErrorsDownloadsTheReportOrSaysThereIsNone) {
  backup_.content = "line,column,value,reason\n3,E-Mail,not-an-email,invalid email\n";
  roster_.error_report_file_id = "f-err";
  const std::string path = dir_ + "/errors.csv";
  Result r = Run({"imports", "errors", "imp-9", "-o", path});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ReadAll(path), backup_.content);
  EXPECT_THAT(r.out, HasSubstr("to " + path));

  r = Run({"imports", "errors", "imp-9"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, backup_.content);

  backup_.mode = FakeBackup::Mode::kDataLossAfterChunks;
  backup_.content = std::string(3000, 'z');
  r = Run({"imports", "errors", "imp-9", "-o", dir_ + "/partial.csv"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "rosterctl: imports errors: DATA_LOSS: blob checksum mismatch\n");
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"errors.csv"});

  roster_.error_report_file_id = "";
  r = Run({"imports", "errors", "imp-9", "-o", dir_ + "/none.csv"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("rosterctl: imports errors: import imp-9 has no error report "
                               "(2 rejected rows"));
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"errors.csv"});
}

TEST_F(CommandsTest, ImportsApproveAndHeldImportsInListAndShow) {
  Result r = Run({"imports", "approve", "imp-7"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Approved the held removals of import imp-7: 700 deleted"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Approved: +2026-11-21T12:00:00Z"));

  v1::ImportSummary held;
  held.set_import_id("imp-7");
  held.set_status(v1::IMPORT_STATUS_HELD);
  held.set_added(3);
  held.set_held(700);
  held.set_held_reason("700 removals exceed max_removals 500");
  held.set_error_report_file_id("f-err7");
  roster_.extra_imports = {held};
  r = Run({"imports", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("HELD"));
  EXPECT_THAT(r.out, testing::ContainsRegex("imp-7 +- +- +held +0 +3 +0 +0 +0 +0 +0 +700"));

  const std::string shown = FormatImportSummary(held);
  EXPECT_THAT(shown, testing::ContainsRegex("Import status: +held"));
  EXPECT_THAT(shown, testing::ContainsRegex("Held reason: +700 removals exceed max_removals 500"));
  EXPECT_THAT(shown, testing::ContainsRegex("Error report: +f-err7"));
  EXPECT_THAT(shown, HasSubstr("rosterctl imports approve imp-7"));

  roster_.error_report_file_id = "f-err";
  r = Run({"imports", "show", "imp-9"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, testing::ContainsRegex("Error report: +f-err"));
}

TEST_F(CommandsTest, BackupsRestorePreviewAndApply) {
  v1::ImportSummary diff = PreviewResponse();
  diff.set_status(v1::IMPORT_STATUS_PREVIEW);
  roster_.restore_response = diff;
  Result r = Run({"backups", "restore", "f-b1", "--preview", "--examples", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(roster_.last_restore.backup_file_id(), "f-b1");
  EXPECT_TRUE(roster_.last_restore.preview());
  EXPECT_EQ(roster_.last_restore.examples_per_kind(), 2);
  EXPECT_THAT(r.out, HasSubstr("Restore preview of backup f-b1 (nothing changed)"));
  EXPECT_THAT(r.out, testing::ContainsRegex("added +p-1 +Zoë Doe"));

  v1::ImportSummary done;
  done.set_import_id("imp-r");
  done.set_status(v1::IMPORT_STATUS_APPLIED);
  done.set_added(650);
  done.set_backup_file_id("f-b2");
  done.set_source("restore");
  roster_.restore_response = done;
  r = Run({"backups", "restore", "f-b1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(roster_.last_restore.preview());
  EXPECT_THAT(r.out, HasSubstr("Restored backup f-b1; the roster before the restore is backup "
                               "f-b2"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Added: +650"));

  done.set_status(v1::IMPORT_STATUS_FAILED);
  done.set_message("backup f-b1 is not a BACKUP file");
  roster_.restore_response = done;
  r = Run({"backups", "restore", "f-b1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("restore imp-r failed: backup f-b1 is not a BACKUP file"));
}

TEST_F(CommandsTest, PeopleListFiltersByAttributes) {
  Result r = Run({"people", "list", "--attr", "cost_center=CC-1", "--attr", "site=Berlin=Mitte"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(roster_.last_people.attributes().size(), 2u);
  EXPECT_EQ(roster_.last_people.attributes().at("cost_center"), "CC-1");
  EXPECT_EQ(roster_.last_people.attributes().at("site"), "Berlin=Mitte");
  r = Run({"people", "list", "--attr", "site=a", "--attr", "site=b"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--attr gives attribute 'site' twice"));
  r = Run({"people", "list", "--attr", "=x"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("invalid --attr '=x' (expected NAME=VALUE)"));
}

TEST_F(CommandsTest, CreateCarriesTheImportPolicy) {
  files_["/pw"] = "pw";
  const std::vector<std::string> base = {
      "integrations",    "create", "--name",   "HR",   "--direction", "import",
      "--host",          "h",      "--user",   "u",    "--host-key",  "SHA256:abc",
      "--password-file", "/pw",    "--folder", "/out", "--glob",      "*.csv"};
  std::vector<std::string> args = base;
  for (const char* a : {"--sync",
                        "deactivate",
                        "--encoding",
                        "UTF-8",
                        "--delimiter",
                        "|",
                        "--date-format",
                        "%d.%m.%Y",
                        "--attr-type",
                        "hired_on=date",
                        "--attr-type",
                        "remote=Boolean",
                        "--max-invalid-share",
                        "0.1",
                        "--max-removals",
                        "0",
                        "--max-removal-share",
                        "0.25",
                        "--max-row-drop-share",
                        "0.5",
                        "--allow-header-change"}) {
    args.push_back(a);
  }
  Result r = Run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const v1::ImportPolicy& p = integrations_.created.integration().import_settings().policy();
  EXPECT_EQ(p.sync_policy(), v1::SYNC_POLICY_DEACTIVATE);
  EXPECT_EQ(integrations_.created.integration().import_settings().sync_policy(),
            v1::SYNC_POLICY_DEACTIVATE);
  EXPECT_EQ(p.encoding(), "utf-8");
  EXPECT_EQ(p.delimiter(), "|");
  EXPECT_EQ(p.date_format(), "%d.%m.%Y");
  EXPECT_EQ(p.attribute_types().at("hired_on"), "date");
  EXPECT_EQ(p.attribute_types().at("remote"), "boolean");
  ASSERT_TRUE(p.has_max_invalid_share());
  EXPECT_DOUBLE_EQ(p.max_invalid_share(), 0.1);
  ASSERT_TRUE(p.has_max_removals());
  EXPECT_EQ(p.max_removals(), 0);
  EXPECT_DOUBLE_EQ(p.max_removal_share(), 0.25);
  EXPECT_DOUBLE_EQ(p.max_row_drop_share(), 0.5);
  EXPECT_TRUE(p.allow_header_change());
  EXPECT_FALSE(p.has_min_roster_for_share());
  EXPECT_THAT(r.out, testing::ContainsRegex("Delimiter: +\\|"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Attribute type: +hired_on: date"));
  EXPECT_THAT(r.out, testing::ContainsRegex("Max removals: +0"));

  // Without options the policy is empty: every field takes the server's default.
  r = Run(base);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(integrations_.created.integration().import_settings().policy().ByteSizeLong(), 0u);

  struct Bad {
    std::vector<std::string> extra;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {{"--max-removal-share", "1.5"}, "invalid value '1.5' for --max-removal-share"},
           {{"--max-invalid-share", "x"}, "--max-invalid-share"},
           {{"--max-removals", "-1"}, "--max-removals"},
           {{"--attr-type", "age=number"}, "invalid type 'number' for --attr-type age"},
           {{"--attr-type", "age"}, "invalid --attr-type 'age'"},
           {{"--attr-type", "a=int", "--attr-type", "a=date"}, "attribute 'a' twice"},
           {{"--date-format", "MM/DD/YYYY"}, "--date-format"},
           {{"--delimiter", "::"}, "--delimiter"},
       }) {
    std::vector<std::string> a = base;
    a.insert(a.end(), bad.extra.begin(), bad.extra.end());
    r = Run(a);
    EXPECT_EQ(r.code, 2) << bad.message;
    EXPECT_THAT(r.err, HasSubstr(bad.message));
  }
  std::vector<std::string> export_args = {"integrations",    "create", "--name",     "E",
                                          "--direction",     "export", "--host",     "h",
                                          "--user",          "u",      "--host-key", "SHA256:abc",
                                          "--password-file", "/pw",    "--encoding", "utf-8"};
  r = Run(export_args);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--encoding is for --direction import"));
}

TEST(PolicyParsingTest, SharesAndKeyValues) {
  EXPECT_DOUBLE_EQ(*ParseShare("0", "--x"), 0.0);
  EXPECT_DOUBLE_EQ(*ParseShare("1", "--x"), 1.0);
  EXPECT_DOUBLE_EQ(*ParseShare("0.05", "--x"), 0.05);
  EXPECT_FALSE(ParseShare("1.01", "--x").ok());
  EXPECT_FALSE(ParseShare("nan", "--x").ok());
  EXPECT_TRUE(IsUsageError(ParseShare("", "--x").status()));
  auto kv = ParseKeyValue("a = b=c", "--attr");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "a");
  EXPECT_EQ(kv->second, "b=c");
  EXPECT_FALSE(ParseKeyValue("novalue", "--attr").ok());
}

// ---- Main: what the binary does with argv ----

TEST(MainTest, UsageErrorsExitTwoAndNameTheOption) {
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "ROSTERSYNC_TENANT") return "acme";
    return std::nullopt;
  };
  std::ostringstream out, err;
  EXPECT_EQ(Main({"runs", "list", "--colour", "red"}, env, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("rosterctl: unknown option --colour for 'runs list'"));
  EXPECT_THAT(err.str(), HasSubstr("rosterctl runs list"));  // that command's usage

  std::ostringstream out2, err2;
  EXPECT_EQ(Main({"integrations", "create", "--password", "hunter2"}, env, out2, err2), 2);
  EXPECT_THAT(err2.str(), HasSubstr("--password-file"));
  EXPECT_THAT(err2.str(), Not(HasSubstr("hunter2")));

  std::ostringstream out3, err3;
  EXPECT_EQ(Main({"--help"}, env, out3, err3), 0);
  EXPECT_THAT(out3.str(), HasSubstr("backups download FILE_ID"));
}

TEST_F(CommandsTest, CreateCarriesFetchAndUploadOptions) {
  files_["/pw"] = "pw";
  Result r = Run({"integrations", "create", "--name", "HR", "--direction", "import", "--host", "h",
                  "--user", "u", "--host-key", "SHA256:abc", "--password-file", "/pw", "--folder",
                  "/out", "--glob", "*.csv", "--stability-interval", "2000", "--min-age", "60",
                  "--done-marker", ".done", "--order", "oldest-first", "--after-fetch", "move",
                  "--archive-folder", "/out/done"});
  ASSERT_EQ(r.code, 0) << r.err;
  const v1::FetchOptions& f = integrations_.created.integration().import_settings().fetch();
  EXPECT_EQ(f.stability_interval_ms(), 2000);
  EXPECT_EQ(f.min_age_s(), 60);
  EXPECT_EQ(f.done_marker_suffix(), ".done");
  EXPECT_EQ(f.order(), v1::FetchOptions::ORDER_OLDEST_FIRST);
  EXPECT_EQ(f.after_fetch(), v1::FetchOptions::AFTER_FETCH_MOVE);
  EXPECT_EQ(f.archive_folder(), "/out/done");

  r = Run({"integrations", "create", "--name", "Out", "--direction", "export", "--host", "h",
           "--user", "u", "--host-key", "SHA256:abc", "--password-file", "/pw", "--file-name",
           "roster_{yyyyMMdd}.csv", "--temp-suffix", ".filepart"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(integrations_.created.integration().export_settings().file_name(),
            "roster_{yyyyMMdd}.csv");
  EXPECT_EQ(integrations_.created.integration().export_settings().upload().temp_suffix(),
            ".filepart");

  Result bad = Run({"integrations", "create", "--name", "HR", "--direction", "import", "--host",
                    "h", "--user", "u", "--host-key", "SHA256:abc", "--password-file", "/pw",
                    "--order", "sideways"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--order"));
  Result wrong_side = Run({"integrations", "create", "--name", "Out", "--direction", "export",
                           "--host", "h", "--user", "u", "--host-key", "SHA256:abc",
                           "--password-file", "/pw", "--file-name", "x.csv", "--done-marker",
                           ".done"});
  EXPECT_EQ(wrong_side.code, 2);
  EXPECT_THAT(wrong_side.err, HasSubstr("--done-marker is for --direction import"));
}

// ---- integrations scan-host-key ----

TEST_F(CommandsTest, ScanHostKeyPrintsTheFingerprintToPin) {
  Result r = Run({"integrations", "scan-host-key", "--host", "sftp.example.com", "--port", "2222"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(transfer_.last.host(), "sftp.example.com");
  EXPECT_EQ(transfer_.last.port(), 2222);
  EXPECT_THAT(r.out, HasSubstr("ssh-ed25519"));
  EXPECT_THAT(r.out, HasSubstr("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"));
  Result json = Run({"integrations", "scan-host-key", "--host", "h", "--output", "json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(transfer_.last.port(), 22);
  EXPECT_THAT(json.out, HasSubstr("\"hostKeySha256\""));
}

// ---- integrations reprocess ----

TEST_F(CommandsTest, ReprocessForgetsAFetchedFileAndShowsIt) {
  Result r = Run({"integrations", "reprocess", "int_1", "--path", "in/roster.csv"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(transfer_.last_reprocess.tenant_id(), "acme");
  EXPECT_EQ(transfer_.last_reprocess.integration_id(), "int_1");
  EXPECT_EQ(transfer_.last_reprocess.remote_path(), "in/roster.csv");
  EXPECT_EQ(transfer_.last_reprocess.sha256(), "");
  EXPECT_THAT(r.out, HasSubstr("in/roster.csv"));
  EXPECT_THAT(r.out, HasSubstr("file_9"));
  EXPECT_THAT(r.out, HasSubstr("Forgot 1 processed file(s)"));
  Result json = Run({"integrations", "reprocess", "int_1", "--sha256", std::string(64, 'a'),
                     "--output", "json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(transfer_.last_reprocess.sha256(), std::string(64, 'a'));
  EXPECT_THAT(json.out, HasSubstr("\"forgotten\""));
}

TEST_F(CommandsTest, ReprocessErrors) {
  Result neither = Run({"integrations", "reprocess", "int_1"});
  EXPECT_EQ(neither.code, 2);
  EXPECT_THAT(neither.err, HasSubstr("--path"));
  EXPECT_EQ(Run({"integrations", "reprocess"}).code, 2);
  Result none = Run({"integrations", "reprocess", "int_1", "--path", "in/none.csv"});
  EXPECT_EQ(none.code, 1);
  EXPECT_THAT(none.err, HasSubstr("no processed file"));
}

TEST_F(CommandsTest, ScanHostKeyErrors) {
  EXPECT_EQ(Run({"integrations", "scan-host-key"}).code, 2);
  Result bad_port = Run({"integrations", "scan-host-key", "--host", "h", "--port", "70000"});
  EXPECT_EQ(bad_port.code, 2);
  EXPECT_THAT(bad_port.err, HasSubstr("--port"));
  Result down = Run({"integrations", "scan-host-key", "--host", "h", "--port", "2"});
  EXPECT_EQ(down.code, 1);
  EXPECT_THAT(down.err, HasSubstr("TCP connect refused"));
}

}  // namespace
}  // namespace rostersync::rosterctl
