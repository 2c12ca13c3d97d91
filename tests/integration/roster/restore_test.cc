// RestoreBackup and BulkUpsertPeople end to end inside one process, against real PostgreSQL
// (fixture) and the real backup service (BackupService on a gRPC server on port 0, blobs in a
// temp folder), reached through GrpcArchive. RosterService is served on the same gRPC server
// and called through its stub (or its Do* methods for requests larger than a gRPC message).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/archive_client.h"
#include "rostersync/v1/roster.grpc.pb.h"
#include "services/roster/importer.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_service.h"
#include "services/roster/roster_store.h"
#include "services/roster/staging_table.h"
#include "tests/fixtures/archive_harness.h"

namespace rostersync::roster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kTenant[] = "tenant_a";
constexpr char kOtherTenant[] = "tenant_b";
constexpr char kIntegration[] = "int_1";

// SHA-256 (hex) over the roster sorted by person_id (bytewise), every field but updated_at,
// attributes as JSON with sorted keys. Two rosters with the same digest are the same roster.
std::string CanonicalDigest(std::vector<v1::Person> people) {
  std::sort(people.begin(), people.end(), [](const v1::Person& a, const v1::Person& b) {
    return a.person_id() < b.person_id();
  });
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const v1::Person& p : people) {
    nlohmann::json attrs = nlohmann::json::object();  // std::map: keys sorted
    for (const auto& [k, v] : p.attributes()) attrs[k] = v;
    nlohmann::json row = nlohmann::json::array(
        {p.tenant_id(), p.person_id(), p.email(), p.first_name(), p.last_name(), p.language(),
         p.active(), static_cast<int>(p.person_type()), p.seat(), attrs,
         p.source_integration_id()});
    std::string line = row.dump() + "\n";
    EVP_DigestUpdate(ctx, line.data(), line.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", md[i]);
  return hex;
}

v1::Person MakePerson(const std::string& id, const std::string& first, const std::string& last,
                      std::map<std::string, std::string> attrs = {}) {
  v1::Person p;
  p.set_person_id(id);
  p.set_email(absl::StrCat(id, "@example.com"));
  p.set_first_name(first);
  p.set_last_name(last);
  p.set_language("en");
  p.set_active(true);
  p.set_person_type(v1::PERSON_TYPE_EMPLOYEE);
  p.set_source_integration_id(kIntegration);
  for (auto& [k, v] : attrs) (*p.mutable_attributes())[k] = v;
  return p;
}

class RestoreTest : public rostersync::testing::ArchiveHarnessTest {
 protected:
  void SetUp() override {
    absl::Status st = harness_.Prepare({.database_prefix = "restore_",
                                        .pool_size = 4,
                                        .archive_deadline = absl::Seconds(60),
                                        .temp_dir_prefix = "restore_test"});
    ASSERT_TRUE(st.ok()) << st;

    store_ = std::make_unique<RosterStore>(harness_.pool());
    ASSERT_TRUE(store_->Migrate().ok());

    // The roster service needs the archive, which is this very server: register it now and
    // give it the archive once the channel exists (it serves nothing before BuildAndStart).
    archive_holder_ = std::make_unique<ArchiveProxy>();
    roster_service_ = std::make_unique<RosterServiceImpl>(*store_, *archive_holder_);
    st = harness_.Serve({roster_service_.get()});
    ASSERT_TRUE(st.ok()) << st;
    archive_ = &harness_.archive();
    archive_holder_->real = archive_;
    backup_stub_ = &harness_.stub();
    roster_stub_ = v1::RosterService::NewStub(harness_.channel());
    importer_ = std::make_unique<Importer>(*store_, *archive_);
  }

  void TearDown() override {
    importer_.reset();
    roster_stub_.reset();
    harness_.StopServing();
    roster_service_.reset();
    archive_holder_.reset();
    store_.reset();
    harness_.Stop();
  }

  // Forwards to the real archive, set after the server started.
  struct ArchiveProxy : public Archive {
    absl::StatusOr<std::unique_ptr<ArchiveWriter>> OpenWriter(
        const v1::PutFileHeader& header) override {
      return real->OpenWriter(header);
    }
    absl::StatusOr<v1::FileInfo> Read(
        const std::string& tenant_id, const std::string& file_id,
        const std::function<absl::Status(std::string_view)>& sink) override {
      return real->Read(tenant_id, file_id, sink);
    }
    absl::StatusOr<v1::FileInfo> Stat(const std::string& tenant_id,
                                      const std::string& file_id) override {
      return real->Stat(tenant_id, file_id);
    }
    Archive* real = nullptr;
  };

  std::string PutFile(const std::string& bytes, v1::FileKind kind,
                      const std::string& tenant = kTenant, const std::string& name = "roster.csv") {
    v1::PutFileHeader h;
    h.set_tenant_id(tenant);
    h.set_kind(kind);
    h.set_name(name);
    h.set_integration_id(kIntegration);
    h.set_content_type("text/csv");
    auto writer = archive_->OpenWriter(h);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (!writer.ok()) return "";
    EXPECT_TRUE((*writer)->Write(bytes).ok());
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

  std::vector<v1::Person> Roster(const std::string& tenant = kTenant) {
    auto people = store_->LoadPeople(tenant);
    EXPECT_TRUE(people.ok()) << people.status();
    return people.ok() ? *people : std::vector<v1::Person>();
  }

  grpc::Status Restore(const std::string& file_id, bool preview, v1::ImportSummary* out,
                       const std::string& tenant = kTenant, int examples = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    v1::RestoreBackupRequest req;
    req.set_tenant_id(tenant);
    req.set_backup_file_id(file_id);
    req.set_preview(preview);
    req.set_examples_per_kind(examples);
    return roster_stub_->RestoreBackup(&ctx, req, out);
  }

  grpc::Status Upsert(const std::string& request_id, const std::vector<v1::Person>& people,
                      v1::ImportSummary* out, const std::string& tenant = kTenant) {
    grpc::ClientContext ctx;
    v1::BulkUpsertPeopleRequest req;
    req.set_tenant_id(tenant);
    req.set_request_id(request_id);
    for (const v1::Person& p : people) *req.add_people() = p;
    return roster_stub_->BulkUpsertPeople(&ctx, req, out);
  }

  v1::ImportSummary MustUpsert(const std::string& request_id,
                               const std::vector<v1::Person>& people) {
    v1::ImportSummary s;
    grpc::Status st = Upsert(request_id, people, &s);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(s.status(), v1::IMPORT_STATUS_APPLIED);
    return s;
  }

  void MustAssignSeat(const std::string& person_id, const std::string& seat) {
    auto p = store_->AssignSeat(kTenant, person_id, seat);
    ASSERT_TRUE(p.ok()) << p.status();
  }

  v1::ImportSummary MustImport(const std::string& job_id, const std::string& csv,
                               v1::SyncPolicy policy,
                               const std::map<std::string, std::string>& header_map = {}) {
    v1::RosterJob job;
    job.set_job_id(job_id);
    job.set_tenant_id(kTenant);
    job.set_run_id(job_id.substr(0, job_id.find(':')));
    job.set_integration_id(kIntegration);
    job.set_op(v1::RosterJob::OP_IMPORT);
    job.set_file_id(PutFile(csv, v1::FILE_KIND_SOURCE));
    job.set_sync_policy(policy);
    for (const auto& [k, v] : header_map) (*job.mutable_header_map())[k] = v;
    auto outcome = importer_->Import(job);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? outcome->summary : v1::ImportSummary();
  }

  std::unique_ptr<RosterStore> store_;
  std::unique_ptr<ArchiveProxy> archive_holder_;
  std::unique_ptr<RosterServiceImpl> roster_service_;
  GrpcArchive* archive_ = nullptr;
  v1::BackupService::Stub* backup_stub_ = nullptr;
  std::unique_ptr<v1::RosterService::Stub> roster_stub_;
  std::unique_ptr<Importer> importer_;
};

std::vector<std::string> Ids(const std::vector<v1::Person>& people) {
  std::vector<std::string> out;
  for (const auto& p : people) out.push_back(p.person_id());
  return out;
}

// ---------------------------------------------------------------------------------------------
// The round trip on 100,000 people.

constexpr int kPeople = 100000;

v1::Person GeneratedPerson(int i) {
  static const char* kLanguages[] = {"en", "fr", "de-DE", "es", "pt-BR"};
  static const v1::PersonType kTypes[] = {v1::PERSON_TYPE_EMPLOYEE, v1::PERSON_TYPE_CONTRACTOR,
                                          v1::PERSON_TYPE_INTERN, v1::PERSON_TYPE_STUDENT,
                                          v1::PERSON_TYPE_PART_TIME};
  v1::Person p;
  p.set_person_id(absl::StrFormat("P%06d", i));
  p.set_email(absl::StrFormat("person%06d@example.com", i));
  p.set_first_name(absl::StrCat("Given", i));
  // Every 997th name has what CSV and COPY must both survive.
  p.set_last_name(i % 997 == 0 ? absl::StrCat("O'Neil, \"Jr\"\tback\\slash\r\nline ", i)
                               : absl::StrCat("Family", i % 5000));
  p.set_language(kLanguages[i % 5]);
  p.set_active(i % 11 != 0);
  p.set_person_type(kTypes[i % 5]);
  p.set_source_integration_id(kIntegration);
  (*p.mutable_attributes())["department"] = absl::StrCat("Dept", i % 37);
  if (i % 3 == 0) (*p.mutable_attributes())["cost_center"] = absl::StrCat("CC", i % 101);
  if (i % 10 == 0) (*p.mutable_attributes())["zz_unicode"] = "Zoë – ümlaut";
  return p;
}

// The same people as an HR file whose first and last name columns were mapped the wrong way
// round: every person's names are swapped by the import.
std::string MisMappedFile() {
  std::string csv = "Employee ID,Mail,Given,Family,Lang,Status,Kind,Dept\r\n";
  csv.reserve(kPeople * 90);
  for (int i = 0; i < kPeople; ++i) {
    v1::Person p = GeneratedPerson(i);
    csv += CsvLine({p.person_id(), p.email(), p.first_name(), p.last_name(), p.language(),
                    p.active() ? "yes" : "no", PersonTypeName(p.person_type()),
                    p.attributes().at("department")});
  }
  return csv;
}

TEST_F(RestoreTest, RoundTripOf100000PeopleGivesBackTheSameRosterByDigest) {
  const absl::Time t0 = absl::Now();
  // 1. The roster: 100,000 people over the bulk upsert API, in requests of 10,000.
  for (int batch = 0; batch < kPeople / 10000; ++batch) {
    v1::BulkUpsertPeopleRequest req;
    req.set_tenant_id(kTenant);
    req.set_request_id(absl::StrCat("load-", batch));
    for (int i = batch * 10000; i < (batch + 1) * 10000; ++i) *req.add_people() = GeneratedPerson(i);
    auto s = roster_service_->DoBulkUpsertPeople(req);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ(s->added(), 10000);
  }
  // Seats (rostersync's own data) for some.
  for (int i = 0; i < kPeople; i += 211) {
    MustAssignSeat(absl::StrFormat("P%06d", i), absl::StrCat("SEAT-", i));
  }
  const absl::Time t1 = absl::Now();
  const std::vector<v1::Person> original = Roster();
  ASSERT_EQ(original.size(), static_cast<size_t>(kPeople));
  const std::string original_digest = CanonicalDigest(original);

  // 2. A mis-mapped import mangles every name.
  v1::ImportSummary bad =
      MustImport("run_bad:import", MisMappedFile(), v1::SYNC_POLICY_DEACTIVATE,
                 {{"Employee ID", "person_id"}, {"Mail", "email"}, {"Given", "last_name"},
                  {"Family", "first_name"}, {"Lang", "language"}, {"Status", "active"},
                  {"Kind", "person_type"}, {"Dept", "attr:department"}});
  ASSERT_EQ(bad.status(), v1::IMPORT_STATUS_APPLIED) << bad.message();
  ASSERT_EQ(bad.updated(), kPeople);
  ASSERT_FALSE(bad.backup_file_id().empty());
  const absl::Time t2 = absl::Now();
  const std::string mangled_digest = CanonicalDigest(Roster());
  ASSERT_NE(mangled_digest, original_digest);

  // 3. Preview of the restore: the diff, nothing changed.
  const absl::Time t_preview = absl::Now();
  v1::ImportSummary preview;
  grpc::Status st = Restore(bad.backup_file_id(), /*preview=*/true, &preview, kTenant, 3);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(preview.status(), v1::IMPORT_STATUS_PREVIEW);
  EXPECT_EQ(preview.rows_read(), kPeople);
  EXPECT_EQ(preview.updated(), kPeople);
  EXPECT_EQ(preview.added(), 0);
  EXPECT_EQ(preview.deleted(), 0);
  ASSERT_EQ(preview.examples_size(), 3);
  EXPECT_EQ(preview.examples(0).kind(), v1::CHANGE_KIND_UPDATED);
  EXPECT_THAT(preview.examples(0).changed_fields(), ElementsAre("first_name", "last_name"));
  EXPECT_EQ(CanonicalDigest(Roster()), mangled_digest);

  // 4. The restore brings back exactly the roster before the mis-mapped import.
  const absl::Duration preview_time = absl::Now() - t_preview;
  const int backups_before = CountFiles(kTenant, v1::FILE_KIND_BACKUP);
  v1::ImportSummary restored;
  const absl::Time t_restore = absl::Now();
  st = Restore(bad.backup_file_id(), /*preview=*/false, &restored);
  ASSERT_TRUE(st.ok()) << st.error_message();
  const absl::Time t3 = absl::Now();
  EXPECT_EQ(restored.status(), v1::IMPORT_STATUS_APPLIED);
  EXPECT_EQ(restored.source(), "restore");
  EXPECT_EQ(restored.source_file_id(), bad.backup_file_id());
  EXPECT_EQ(restored.updated(), kPeople);
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_BACKUP), backups_before + 1);
  EXPECT_EQ(CanonicalDigest(Roster()), original_digest);

  // 5. The restore was itself backed up: its backup holds the mangled roster (restoring such a
  // backup is RestoreBringsBackSeatsDeletedPeopleAndAttributesExactly; not repeated at this
  // size to keep the test short).
  ASSERT_FALSE(restored.backup_file_id().empty());
  EXPECT_NE(restored.backup_file_id(), bad.backup_file_id());
  auto pre_restore = ParseSnapshot(ReadFile(kTenant, restored.backup_file_id()), kTenant);
  ASSERT_TRUE(pre_restore.ok()) << pre_restore.status();
  EXPECT_EQ(CanonicalDigest(*std::move(pre_restore)), mangled_digest);

  // Import history, through the RPC.
  grpc::ClientContext ctx;
  v1::GetImportRequest get;
  get.set_tenant_id(kTenant);
  get.set_import_id(restored.import_id());
  v1::ImportSummary got;
  ASSERT_TRUE(roster_stub_->GetImport(&ctx, get, &got).ok());
  EXPECT_EQ(got.source(), "restore");
  EXPECT_EQ(got.source_file_id(), bad.backup_file_id());
  EXPECT_EQ(got.backup_file_id(), restored.backup_file_id());
  EXPECT_EQ(got.updated(), kPeople);
  std::cerr << "load " << absl::ToDoubleSeconds(t1 - t0) << " s, mis-mapped import "
            << absl::ToDoubleSeconds(t2 - t1) << " s, preview "
            << absl::ToDoubleSeconds(preview_time) << " s, restore "
            << absl::ToDoubleSeconds(t3 - t_restore) << " s, total "
            << absl::ToDoubleSeconds(absl::Now() - t0) << " s\n";
}

// ---------------------------------------------------------------------------------------------
// Restore on small rosters.

TEST_F(RestoreTest, PreviewReturnsTheDiffAndChangesNothing) {
  MustUpsert("r1", {MakePerson("A", "Ann", "Lee", {{"dept", "Sales"}}), MakePerson("B", "Bo", "Ng"),
                    MakePerson("C", "Cy", "Ho")});
  MustAssignSeat("A", "S-1");
  // An import that updates A, deletes C and adds D; its backup holds {A, B, C}.
  v1::ImportSummary imp = MustImport(
      "run_2:import",
      "person_id,email,first_name,last_name,language,active,attr:dept\n"
      "A,A@example.com,Anne,Lee,en,true,Marketing\n"
      "B,B@example.com,Bo,Ng,en,true,\n"
      "D,D@example.com,Di,Oz,en,true,\n",
      v1::SYNC_POLICY_DELETE);
  ASSERT_EQ(imp.status(), v1::IMPORT_STATUS_APPLIED) << imp.message();
  ASSERT_EQ(imp.deleted(), 1);
  const std::string before = CanonicalDigest(Roster());
  const int backups = CountFiles(kTenant, v1::FILE_KIND_BACKUP);

  v1::ImportSummary preview;
  grpc::Status st = Restore(imp.backup_file_id(), true, &preview);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(preview.status(), v1::IMPORT_STATUS_PREVIEW);
  EXPECT_EQ(preview.source(), "restore");
  EXPECT_EQ(preview.rows_read(), 3);
  EXPECT_EQ(preview.added(), 1);      // C comes back
  EXPECT_EQ(preview.updated(), 1);    // A
  EXPECT_EQ(preview.deleted(), 1);    // D goes
  EXPECT_EQ(preview.unchanged(), 1);  // B
  EXPECT_TRUE(preview.backup_file_id().empty());
  ASSERT_EQ(preview.examples_size(), 3);
  std::map<v1::ChangeKind, v1::PersonChange> by_kind;
  for (const auto& c : preview.examples()) by_kind[c.kind()] = c;
  EXPECT_EQ(by_kind[v1::CHANGE_KIND_ADDED].person_id(), "C");
  EXPECT_EQ(by_kind[v1::CHANGE_KIND_ADDED].after().first_name(), "Cy");
  EXPECT_FALSE(by_kind[v1::CHANGE_KIND_ADDED].has_before());
  EXPECT_EQ(by_kind[v1::CHANGE_KIND_DELETED].person_id(), "D");
  EXPECT_FALSE(by_kind[v1::CHANGE_KIND_DELETED].has_after());
  const v1::PersonChange& a = by_kind[v1::CHANGE_KIND_UPDATED];
  EXPECT_EQ(a.person_id(), "A");
  EXPECT_EQ(a.before().first_name(), "Anne");
  EXPECT_EQ(a.after().first_name(), "Ann");
  EXPECT_EQ(a.after().seat(), "S-1");
  EXPECT_THAT(a.changed_fields(), ElementsAre("first_name", "attr:dept"));

  // Nothing changed, nothing backed up, nothing recorded.
  EXPECT_EQ(CanonicalDigest(Roster()), before);
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_BACKUP), backups);
  auto history = store_->ListImports(kTenant, ImportsFilter{}, nullptr);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u);
}

TEST_F(RestoreTest, RestoreBringsBackSeatsDeletedPeopleAndAttributesExactly) {
  v1::ImportSummary first = MustUpsert(
      "r1", {MakePerson("A", "Ann", "Lee", {{"dept", "Sales"}, {"site", "Oslo"}}),
             MakePerson("B", "Bo", "Ng"), MakePerson("C", "Cy", "Ho")});
  MustAssignSeat("A", "S-1");
  MustAssignSeat("B", "S-2");
  const std::vector<v1::Person> original = Roster();
  // Capture the roster as it is now: the next upsert's backup.
  v1::Person a2 = MakePerson("A", "Ann", "Lee", {{"dept", "Ops"}});
  a2.set_active(false);
  a2.set_person_type(v1::PERSON_TYPE_CONTRACTOR);
  a2.set_language("fr");
  v1::ImportSummary second = MustUpsert("r2", {a2, MakePerson("E", "Ed", "Yu")});
  ASSERT_FALSE(second.backup_file_id().empty());
  // Seats swap hands, C is deleted by a full sync.
  MustAssignSeat("A", "");
  MustAssignSeat("B", "S-1");
  MustAssignSeat("A", "S-2");
  v1::ImportSummary imp = MustImport("run_3:import",
                                     "person_id,email,first_name,last_name,language,active\n"
                                     "A,A@example.com,Ann,Lee,fr,false\n"
                                     "B,B@example.com,Bo,Ng,en,true\n"
                                     "E,E@example.com,Ed,Yu,en,true\n",
                                     v1::SYNC_POLICY_DELETE);
  ASSERT_EQ(imp.deleted(), 1);
  const std::string changed = CanonicalDigest(Roster());
  ASSERT_NE(changed, CanonicalDigest(original));

  v1::ImportSummary restored;
  grpc::Status st = Restore(second.backup_file_id(), false, &restored);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(restored.added(), 1);    // C
  EXPECT_EQ(restored.deleted(), 1);  // E
  EXPECT_EQ(restored.updated(), 2);  // A, B (seats)
  std::vector<v1::Person> now = Roster();
  ASSERT_THAT(Ids(now), ElementsAre("A", "B", "C"));
  EXPECT_EQ(now[0].seat(), "S-1");
  EXPECT_EQ(now[1].seat(), "S-2");
  EXPECT_EQ(now[0].attributes().at("site"), "Oslo");
  EXPECT_EQ(CanonicalDigest(now), CanonicalDigest(original));

  // The pre-restore backup holds the state the restore replaced.
  auto pre = ParseSnapshot(ReadFile(kTenant, restored.backup_file_id()), kTenant);
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_EQ(CanonicalDigest(*pre), changed);
  auto stat = archive_->Stat(kTenant, restored.backup_file_id());
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->kind(), v1::FILE_KIND_BACKUP);
  EXPECT_EQ(stat->labels().at("reason"), "pre-restore");
  EXPECT_EQ(stat->labels().at("restored_file_id"), second.backup_file_id());

  // Restoring that backup brings back the state before the restore.
  v1::ImportSummary undo;
  st = Restore(restored.backup_file_id(), false, &undo);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(CanonicalDigest(Roster()), changed);
  (void)first;
}

// The snapshot is written straight from the cursor's text (jsonb attributes re-ordered without
// a JSON library) for canonical rows and through v1::Person otherwise; both must give the bytes
// RenderSnapshot gives for the same people, whatever the values hold.
TEST_F(RestoreTest, StreamedSnapshotIsByteIdenticalToRenderedSnapshot) {
  v1::Person a = MakePerson("A", " Ann, the \"first\"", "Lee\r\nLine",
                            {{"zz", "last"},
                             {"a", "quote \" back \\ slash"},
                             {"bb", "tab\there\nnewline \x01 ctl \x1f"},
                             {"\xC3\xA4-umlaut", "Zo\xC3\xAB \xF0\x9F\x98\x80"},
                             {"cost center", ", leading comma"}});
  v1::Person b = MakePerson("B", "Bo", "Ng", {{"k\"ey", "escaped key: slow path"}, {"a", "1"}});
  v1::Person c = MakePerson("C", "Cy", "Ho");  // no attributes
  c.set_active(false);
  c.set_person_type(v1::PERSON_TYPE_PART_TIME);
  v1::Person d = MakePerson("D", "Di", "Ux", {{"key\\back", "slow path too"}});
  MustUpsert("s1", {a, b, c, d});
  MustAssignSeat("C", "S, 9");

  std::string streamed;
  absl::Status st = harness_.pool().Transact([&](pqxx::work& txn) {
    return StreamSnapshot(
        txn, kTenant,
        [&](std::string_view bytes) {
          streamed.append(bytes);
          return absl::OkStatus();
        },
        /*batch=*/2);
  });
  ASSERT_TRUE(st.ok()) << st;
  std::vector<v1::Person> people = Roster();
  std::sort(people.begin(), people.end(), [](const v1::Person& x, const v1::Person& y) {
    return x.person_id() < y.person_id();
  });
  std::string rendered;
  ASSERT_TRUE(RenderSnapshot(people, [&](std::string_view bytes) {
                rendered.append(bytes);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(streamed, rendered);
  auto parsed = ParseSnapshot(streamed, kTenant);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(CanonicalDigest(*parsed), CanonicalDigest(people));
}

TEST_F(RestoreTest, OnlyABackupOfTheSameTenantCanBeRestored) {
  v1::ImportSummary s = MustUpsert("r1", {MakePerson("A", "Ann", "Lee")});
  const std::string before = CanonicalDigest(Roster());

  // Another tenant's backup is not found.
  v1::ImportSummary other_summary;
  ASSERT_TRUE(Upsert("r1", {MakePerson("X", "Xi", "Lo")}, &other_summary, kOtherTenant).ok());
  v1::ImportSummary out;
  grpc::Status st = Restore(other_summary.backup_file_id(), false, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr(other_summary.backup_file_id()));
  st = Restore(other_summary.backup_file_id(), true, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  st = Restore("file_does_not_exist", false, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);

  // A file that is not a backup is refused by name.
  const std::string source = PutFile("person_id,first_name\nA,Ann\n", v1::FILE_KIND_SOURCE,
                                     kTenant, "hr_export.csv");
  st = Restore(source, false, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("hr_export.csv"));
  EXPECT_THAT(st.error_message(), HasSubstr("FILE_KIND_BACKUP"));

  // A BACKUP whose content is broken is refused naming the file and line; nothing changes.
  const std::string broken = PutFile(
      absl::StrCat(kSnapshotHeader, "\r\nA,a@x.io,Ann,Lee,en,true,employee,,{},int_1\r\n",
                   "B,b@x.io,Bo,Ng,en,maybe,employee,,{},int_1\r\n"),
      v1::FILE_KIND_BACKUP, kTenant, "broken_backup.csv");
  st = Restore(broken, false, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("broken_backup.csv"));
  EXPECT_THAT(st.error_message(), HasSubstr("line 3"));
  const std::string dup = PutFile(
      absl::StrCat(kSnapshotHeader, "\r\nA,a@x.io,Ann,Lee,en,true,employee,S1,{},int_1\r\n",
                   "B,b@x.io,Bo,Ng,en,true,employee,S1,{},int_1\r\n"),
      v1::FILE_KIND_BACKUP, kTenant, "dup_seat.csv");
  st = Restore(dup, false, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("seat"));

  st = Restore("", false, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CanonicalDigest(Roster()), before);
  EXPECT_THAT(Ids(Roster(kOtherTenant)), ElementsAre("X"));
  (void)s;
}

TEST_F(RestoreTest, NoBackupNoRestoreAndNoUpsert) {
  MustUpsert("r1", {MakePerson("A", "Ann", "Lee")});
  v1::ImportSummary second = MustUpsert("r2", {MakePerson("B", "Bo", "Ng")});
  const std::string before = CanonicalDigest(Roster());
  rostersync::testing::NoWritesArchive no_writes(*archive_);
  RosterServiceImpl service(*store_, no_writes);

  v1::RestoreBackupRequest restore;
  restore.set_tenant_id(kTenant);
  restore.set_backup_file_id(second.backup_file_id());
  auto r = service.DoRestoreBackup(restore);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("nothing applied"));
  // The preview needs no backup.
  restore.set_preview(true);
  r = service.DoRestoreBackup(restore);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->deleted(), 1);

  v1::BulkUpsertPeopleRequest upsert;
  upsert.set_tenant_id(kTenant);
  upsert.set_request_id("r3");
  *upsert.add_people() = MakePerson("C", "Cy", "Ho");
  auto u = service.DoBulkUpsertPeople(upsert);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().code(), absl::StatusCode::kUnavailable);

  EXPECT_EQ(CanonicalDigest(Roster()), before);
  auto history = store_->ListImports(kTenant, ImportsFilter{}, nullptr);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u);
  // The request_id was not burnt by the failure.
  EXPECT_EQ(MustUpsert("r3", {MakePerson("C", "Cy", "Ho")}).added(), 1);
}

// ---------------------------------------------------------------------------------------------
// BulkUpsertPeople.

TEST_F(RestoreTest, BulkUpsertBacksUpFirstAndIsIdempotentByRequestId) {
  MustUpsert("r1", {MakePerson("A", "Ann", "Lee", {{"dept", "Sales"}}), MakePerson("B", "Bo", "Ng")});
  MustAssignSeat("A", "S-1");
  const std::vector<v1::Person> before = Roster();

  v1::Person a = MakePerson("A", "Anne", "Lee", {{"site", "Oslo"}});
  a.set_seat("S-9");  // ignored: seats are left as they are
  a.set_language("EN_us");
  a.set_source_integration_id("");  // keeps int_1
  v1::ImportSummary s = MustUpsert("r2", {a, MakePerson("C", "Cy", "Ho"), MakePerson("B", "Bo", "Ng")});
  EXPECT_EQ(s.source(), "api");
  EXPECT_EQ(s.rows_read(), 3);
  EXPECT_EQ(s.added(), 1);
  EXPECT_EQ(s.updated(), 1);
  EXPECT_EQ(s.unchanged(), 1);
  EXPECT_EQ(s.deleted(), 0);
  // The backup holds the roster before the upsert, seats included.
  auto backup = ParseSnapshot(ReadFile(kTenant, s.backup_file_id()), kTenant);
  ASSERT_TRUE(backup.ok()) << backup.status();
  EXPECT_EQ(CanonicalDigest(*backup), CanonicalDigest(before));
  std::vector<v1::Person> now = Roster();
  ASSERT_THAT(Ids(now), ElementsAre("A", "B", "C"));
  EXPECT_EQ(now[0].first_name(), "Anne");
  EXPECT_EQ(now[0].seat(), "S-1");
  EXPECT_EQ(now[0].language(), "en-US");
  EXPECT_EQ(now[0].source_integration_id(), kIntegration);
  EXPECT_EQ(now[0].attributes().size(), 1u);  // the given map replaces the person's
  EXPECT_EQ(now[0].attributes().at("site"), "Oslo");
  EXPECT_EQ(now[2].seat(), "");

  // The same request_id again: the same summary, nothing applied, no new backup.
  const int backups = CountFiles(kTenant, v1::FILE_KIND_BACKUP);
  const std::string digest = CanonicalDigest(now);
  v1::ImportSummary again;
  v1::Person changed = MakePerson("A", "Zed", "Lee");
  ASSERT_TRUE(Upsert("r2", {changed, MakePerson("Q", "Q", "Q")}, &again).ok());
  EXPECT_EQ(again.import_id(), s.import_id());
  EXPECT_EQ(again.backup_file_id(), s.backup_file_id());
  EXPECT_EQ(again.added(), 1);
  EXPECT_EQ(again.source(), "api");
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_BACKUP), backups);
  EXPECT_EQ(CanonicalDigest(Roster()), digest);
  // The same request_id for another tenant is another request.
  v1::ImportSummary other;
  ASSERT_TRUE(Upsert("r2", {MakePerson("A", "Ann", "Lee")}, &other, kOtherTenant).ok());
  EXPECT_NE(other.import_id(), s.import_id());
  EXPECT_EQ(other.added(), 1);

  // In the import history.
  grpc::ClientContext ctx;
  v1::ListImportsRequest list;
  list.set_tenant_id(kTenant);
  v1::ListImportsResponse resp;
  ASSERT_TRUE(roster_stub_->ListImports(&ctx, list, &resp).ok());
  ASSERT_EQ(resp.imports_size(), 2);
  EXPECT_EQ(resp.imports(0).import_id(), s.import_id());
  EXPECT_EQ(resp.imports(0).source(), "api");
  EXPECT_EQ(resp.imports(0).backup_file_id(), s.backup_file_id());
}

TEST_F(RestoreTest, BulkUpsertValidationNamesIndexAndField) {
  v1::Person bad_email = MakePerson("A", "Ann", "Lee");
  bad_email.set_email("not-an-address");
  v1::Person bad_lang = MakePerson("B", "Bo", "Ng");
  bad_lang.set_language("english");
  v1::Person no_first = MakePerson("C", "", "Ho");
  v1::Person dup = MakePerson("A", "Ann", "Lee");
  v1::Person wrong_tenant = MakePerson("D", "Di", "Oz");
  wrong_tenant.set_tenant_id(kOtherTenant);
  v1::ImportSummary out;
  grpc::Status st = Upsert("bad", {bad_email, bad_lang, no_first, dup, wrong_tenant}, &out);
  ASSERT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("people[0].email"));
  EXPECT_THAT(st.error_message(), HasSubstr("people[1].language"));
  EXPECT_THAT(st.error_message(), HasSubstr("people[2].first_name"));
  EXPECT_THAT(st.error_message(), HasSubstr("people[3].person_id: \"A\" is also people[0]"));
  EXPECT_THAT(st.error_message(), HasSubstr("people[4].tenant_id"));
  EXPECT_THAT(Roster(), IsEmpty());
  EXPECT_EQ(CountFiles(kTenant, v1::FILE_KIND_BACKUP), 0);

  st = Upsert("", {MakePerson("A", "Ann", "Lee")}, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("request_id"));
  st = Upsert("empty", {}, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A rejected request_id is not burnt: the corrected request applies.
  ASSERT_TRUE(Upsert("bad", {MakePerson("A", "Ann", "Lee")}, &out).ok());
  EXPECT_EQ(out.added(), 1);
}

}  // namespace
}  // namespace rostersync::roster
