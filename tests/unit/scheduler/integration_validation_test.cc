#include "services/scheduler/integration_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::scheduler {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFingerprint[] = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

v1::Integration ValidImport() {
  v1::Integration in;
  in.set_tenant_id("acme");
  in.set_name("nightly HR import");
  in.set_direction(v1::RUN_DIRECTION_IMPORT);
  in.mutable_endpoint()->set_host("sftp.example.com");
  in.mutable_endpoint()->set_port(2222);
  in.mutable_endpoint()->set_username("acme");
  in.mutable_endpoint()->set_host_key_sha256(kFingerprint);
  in.set_schedule("30 2 * * *");
  in.set_time_zone("Europe/Berlin");
  in.mutable_import_settings()->set_remote_folder("/outgoing");
  in.mutable_import_settings()->set_file_glob("roster_*.csv");
  (*in.mutable_import_settings()->mutable_header_map())["Employee ID"] = "person_id";
  (*in.mutable_import_settings()->mutable_header_map())["Cost Center"] = "attr:cost_center";
  ApplyIntegrationDefaults(in);
  return in;
}

v1::Integration ValidExport() {
  v1::Integration in = ValidImport();
  in.set_direction(v1::RUN_DIRECTION_EXPORT);
  in.clear_import_settings();
  in.mutable_export_settings()->set_remote_folder("/incoming");
  in.mutable_export_settings()->set_file_name("roster_export.csv");
  return in;
}

TEST(IntegrationValidationTest, ValidIntegrationsPass) {
  EXPECT_TRUE(ValidateIntegration(ValidImport()).ok()) << ValidateIntegration(ValidImport());
  EXPECT_TRUE(ValidateIntegration(ValidExport()).ok()) << ValidateIntegration(ValidExport());
}

TEST(IntegrationValidationTest, DefaultsAreApplied) {
  v1::Integration in;
  ApplyIntegrationDefaults(in);
  EXPECT_EQ(in.endpoint().port(), 22);
  EXPECT_EQ(in.endpoint().connect_timeout_ms(), 10000);
  EXPECT_EQ(in.endpoint().operation_timeout_ms(), 30000);
  EXPECT_EQ(in.time_zone(), "UTC");
}

struct Case {
  std::string field;  // expected in the message
  std::function<void(v1::Integration&)> mutate;
  bool export_base = false;
};

TEST(IntegrationValidationTest, EachBadFieldIsNamed) {
  const std::vector<Case> cases = {
      {"integration.tenant_id", [](auto& i) { i.clear_tenant_id(); }},
      {"integration.tenant_id", [](auto& i) { i.set_tenant_id("a b"); }},
      {"integration.name", [](auto& i) { i.set_name("  "); }},
      {"integration.direction", [](auto& i) { i.set_direction(v1::RUN_DIRECTION_UNSPECIFIED); }},
      {"integration.endpoint.host", [](auto& i) { i.mutable_endpoint()->clear_host(); }},
      {"integration.endpoint.host", [](auto& i) { i.mutable_endpoint()->set_host("a b"); }},
      {"integration.endpoint.port", [](auto& i) { i.mutable_endpoint()->set_port(70000); }},
      {"integration.endpoint.port", [](auto& i) { i.mutable_endpoint()->set_port(-1); }},
      {"integration.endpoint.username", [](auto& i) { i.mutable_endpoint()->clear_username(); }},
      {"integration.endpoint.host_key_sha256",
       [](auto& i) { i.mutable_endpoint()->clear_host_key_sha256(); }},
      {"integration.endpoint.host_key_sha256",
       [](auto& i) { i.mutable_endpoint()->set_host_key_sha256("MD5:aa:bb"); }},
      {"integration.endpoint.host_key_sha256",
       [](auto& i) {  // 42 characters
         i.mutable_endpoint()->set_host_key_sha256(
             "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2");
       }},
      {"integration.endpoint.host_key_sha256",
       [](auto& i) {  // '-' is not base64
         i.mutable_endpoint()->set_host_key_sha256(
             "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD-s");
       }},
      {"integration.endpoint.connect_timeout_ms",
       [](auto& i) { i.mutable_endpoint()->set_connect_timeout_ms(-5); }},
      {"integration.endpoint.operation_timeout_ms",
       [](auto& i) { i.mutable_endpoint()->set_operation_timeout_ms(-1); }},
      {"integration.endpoint.max_streams",
       [](auto& i) { i.mutable_endpoint()->set_max_streams(9); }},
      {"integration.endpoint.max_streams",
       [](auto& i) { i.mutable_endpoint()->set_max_streams(-1); }},
      {"integration.schedule", [](auto& i) { i.set_schedule("61 * * * *"); }},
      {"integration.time_zone", [](auto& i) { i.set_time_zone("Mars/Olympus_Mons"); }},
      {"integration.import_settings.file_glob",
       [](auto& i) { i.mutable_import_settings()->clear_file_glob(); }},
      {"integration.import_settings.remote_folder",
       [](auto& i) { i.mutable_import_settings()->clear_remote_folder(); }},
      {"integration.import_settings.header_map[\"Employee ID\"]",
       [](auto& i) {
         (*i.mutable_import_settings()->mutable_header_map())["Employee ID"] = "shoe_size";
       }},
      {"integration.export_settings.file_name",
       [](auto& i) { i.mutable_export_settings()->clear_file_name(); }, true},
      {"integration.export_settings.file_name",
       [](auto& i) { i.mutable_export_settings()->set_file_name("../x.csv"); }, true},
      {"integration.export_settings.remote_folder",
       [](auto& i) { i.mutable_export_settings()->clear_remote_folder(); }, true},
  };
  for (const Case& c : cases) {
    v1::Integration in = c.export_base ? ValidExport() : ValidImport();
    c.mutate(in);
    absl::Status status = ValidateIntegration(in);
    ASSERT_FALSE(status.ok()) << c.field;
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field + ":")) << status;
  }
}

TEST(IntegrationValidationTest, ScheduleErrorNamesTheCronField) {
  v1::Integration in = ValidImport();
  in.set_schedule("0 25 * * *");
  absl::Status status = ValidateIntegration(in);
  EXPECT_THAT(std::string(status.message()), HasSubstr("integration.schedule:"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("hour field: \"25\""));
}

TEST(IntegrationValidationTest, ImportDoesNotNeedExportSettingsAndViceVersa) {
  v1::Integration in = ValidImport();
  in.clear_export_settings();
  EXPECT_TRUE(ValidateIntegration(in).ok());
  v1::Integration out = ValidExport();
  out.clear_import_settings();
  EXPECT_TRUE(ValidateIntegration(out).ok());
}

TEST(IntegrationValidationTest, ImportPolicyIsCheckedNamingTheField) {
  v1::Integration good = ValidImport();
  v1::ImportPolicy* p = good.mutable_import_settings()->mutable_policy();
  p->set_encoding("windows-1252");
  p->set_delimiter("\t");
  p->set_date_format("%m/%d/%Y");
  (*p->mutable_attribute_types())["hired_on"] = "date";
  (*p->mutable_attribute_types())["remote"] = "boolean";
  p->set_max_invalid_share(0.0);
  p->set_max_removals(0);
  p->set_max_removal_share(1.0);
  p->set_min_roster_for_share(100);
  p->set_max_row_drop_share(0.5);
  EXPECT_TRUE(ValidateIntegration(good).ok()) << ValidateIntegration(good);
  for (const char* ok_delimiter : {"", ",", ";", "|"}) {
    v1::Integration in = good;
    in.mutable_import_settings()->mutable_policy()->set_delimiter(ok_delimiter);
    EXPECT_TRUE(ValidateIntegration(in).ok()) << ok_delimiter;
  }
  for (const char* ok_encoding : {"", "auto", "utf-8"}) {
    v1::Integration in = good;
    in.mutable_import_settings()->mutable_policy()->set_encoding(ok_encoding);
    EXPECT_TRUE(ValidateIntegration(in).ok()) << ok_encoding;
  }

  const std::vector<std::pair<std::function<void(v1::ImportPolicy&)>, std::string>> cases = {
      {[](v1::ImportPolicy& q) { q.set_encoding("latin1"); }, "policy.encoding"},
      {[](v1::ImportPolicy& q) { q.set_encoding("UTF-16"); }, "policy.encoding"},
      {[](v1::ImportPolicy& q) { q.set_delimiter(",,"); }, "policy.delimiter"},
      {[](v1::ImportPolicy& q) { q.set_delimiter(":"); }, "policy.delimiter"},
      {[](v1::ImportPolicy& q) { q.set_date_format("no specifiers"); }, "policy.date_format"},
      {[](v1::ImportPolicy& q) { q.set_date_format("%Y"); }, "policy.date_format"},
      {[](v1::ImportPolicy& q) { (*q.mutable_attribute_types())["age"] = "number"; },
       "policy.attribute_types[\"age\"]"},
      {[](v1::ImportPolicy& q) { (*q.mutable_attribute_types())[""] = "string"; },
       "policy.attribute_types"},
      {[](v1::ImportPolicy& q) { q.set_max_invalid_share(1.5); }, "policy.max_invalid_share"},
      {[](v1::ImportPolicy& q) { q.set_max_invalid_share(-0.1); }, "policy.max_invalid_share"},
      {[](v1::ImportPolicy& q) { q.set_max_removal_share(2); }, "policy.max_removal_share"},
      {[](v1::ImportPolicy& q) { q.set_max_row_drop_share(-1); }, "policy.max_row_drop_share"},
      {[](v1::ImportPolicy& q) { q.set_max_removals(-1); }, "policy.max_removals"},
      {[](v1::ImportPolicy& q) { q.set_min_roster_for_share(-5); }, "policy.min_roster_for_share"},
  };
  for (const auto& [mutate, field] : cases) {
    v1::Integration in = good;
    mutate(*in.mutable_import_settings()->mutable_policy());
    absl::Status status = ValidateIntegration(in);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(status.message()), HasSubstr("integration.import_settings." + field))
        << status;
  }
}

TEST(IntegrationValidationTest, CredentialsAreRequiredAndNeverEchoed) {
  v1::Credentials none;
  EXPECT_THAT(std::string(ValidateCredentials(none).message()), HasSubstr("credentials"));
  v1::Credentials empty_password;
  empty_password.set_password("");
  EXPECT_THAT(std::string(ValidateCredentials(empty_password).message()),
              HasSubstr("credentials.password"));
  v1::Credentials bad_key;
  bad_key.mutable_private_key()->set_key_pem("hunter2-not-a-key");
  absl::Status status = ValidateCredentials(bad_key);
  EXPECT_THAT(std::string(status.message()), HasSubstr("credentials.private_key.key_pem"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("hunter2")));
  v1::Credentials good;
  good.set_password("s3cret");
  EXPECT_TRUE(ValidateCredentials(good).ok());
}

TEST(IntegrationValidationTest, FetchAndUploadOptionsAreCheckedNamingTheField) {
  auto import_error = [](const std::function<void(v1::FetchOptions&)>& edit) {
    v1::Integration in = ValidImport();
    edit(*in.mutable_import_settings()->mutable_fetch());
    return std::string(ValidateIntegration(in).message());
  };
  EXPECT_EQ(import_error([](v1::FetchOptions& f) {
              f.set_stability_interval_ms(2000);
              f.set_min_age_s(60);
              f.set_done_marker_suffix(".done");
              f.set_order(v1::FetchOptions::ORDER_OLDEST_FIRST);
              f.set_after_fetch(v1::FetchOptions::AFTER_FETCH_MOVE);
              f.set_archive_folder("/outgoing/processed");
            }),
            "");
  EXPECT_THAT(import_error([](v1::FetchOptions& f) { f.set_stability_interval_ms(-1); }),
              HasSubstr("import_settings.fetch.stability_interval_ms"));
  EXPECT_THAT(import_error([](v1::FetchOptions& f) { f.set_min_age_s(-5); }),
              HasSubstr("import_settings.fetch.min_age_s"));
  EXPECT_THAT(import_error([](v1::FetchOptions& f) { f.set_done_marker_suffix("x/.done"); }),
              HasSubstr("import_settings.fetch.done_marker_suffix"));
  EXPECT_THAT(import_error([](v1::FetchOptions& f) {
                f.set_after_fetch(v1::FetchOptions::AFTER_FETCH_MOVE);
              }),
              HasSubstr("import_settings.fetch.archive_folder"));
  EXPECT_THAT(import_error([](v1::FetchOptions& f) {
                f.set_after_fetch(v1::FetchOptions::AFTER_FETCH_MOVE);
                f.set_archive_folder("/outgoing");
              }),
              HasSubstr("must differ"));
  EXPECT_THAT(import_error([](v1::FetchOptions& f) {
                f.set_order(static_cast<v1::FetchOptions::Order>(9));
              }),
              HasSubstr("import_settings.fetch.order"));

  auto export_error = [](const std::string& name, const std::string& prefix) {
    v1::Integration in = ValidExport();
    in.mutable_export_settings()->set_file_name(name);
    in.mutable_export_settings()->mutable_upload()->set_temp_prefix(prefix);
    return std::string(ValidateIntegration(in).message());
  };
  EXPECT_EQ(export_error("roster_{yyyyMMdd}.csv", "tmp_"), "");
  EXPECT_EQ(export_error("roster_{yyyy-MM-dd_HHmmss}.csv", ""), "");
  EXPECT_THAT(export_error("roster_{yyyyQQ}.csv", ""), HasSubstr("export_settings.file_name"));
  EXPECT_THAT(export_error("roster_{yyyyQQ}.csv", ""), HasSubstr("{yyyyQQ}"));
  EXPECT_THAT(export_error("roster_{yyyy.csv", ""), HasSubstr("export_settings.file_name"));
  EXPECT_THAT(export_error("roster_{}.csv", ""), HasSubstr("export_settings.file_name"));
  EXPECT_THAT(export_error("roster.csv", "up/"), HasSubstr("export_settings.upload.temp_prefix"));
}

TEST(IntegrationValidationTest, Ssh2AndPuttyKeysAreRejectedWithHowToConvertThem) {
  v1::Credentials ssh2;
  ssh2.mutable_private_key()->set_key_pem(
      "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nAAAA\n---- END SSH2 ENCRYPTED PRIVATE KEY "
      "----\n");
  EXPECT_THAT(std::string(ValidateCredentials(ssh2).message()), HasSubstr("ssh-keygen -i -f key"));
  v1::Credentials ppk;
  ppk.mutable_private_key()->set_key_pem("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n");
  EXPECT_THAT(std::string(ValidateCredentials(ppk).message()),
              HasSubstr("puttygen key.ppk -O private-openssh -o key"));
}

}  // namespace
}  // namespace rostersync::scheduler

namespace rostersync::scheduler {
namespace {

v1::TimeWindow W(const std::string& start, const std::string& end) {
  v1::TimeWindow w;
  w.set_start(start);
  w.set_end(end);
  return w;
}

// The checks added for hosts, timeouts, globs, mappings, windows and the misfire window.
TEST(IntegrationValidationTest, EachNewlyCheckedFieldIsNamed) {
  const std::vector<Case> cases = {
      {"integration.endpoint.host",
       [](auto& i) { i.mutable_endpoint()->set_host("sftp://sftp.example.com"); }},
      {"integration.endpoint.host",
       [](auto& i) { i.mutable_endpoint()->set_host("acme@sftp.example.com"); }},
      {"integration.endpoint.host",
       [](auto& i) { i.mutable_endpoint()->set_host("sftp.example.com:2222"); }},
      {"integration.endpoint.host", [](auto& i) { i.mutable_endpoint()->set_host("-sftp"); }},
      {"integration.endpoint.host",
       [](auto& i) { i.mutable_endpoint()->set_host("sftp..example.com"); }},
      {"integration.endpoint.host", [](auto& i) { i.mutable_endpoint()->set_host("sftp/x"); }},
      {"integration.endpoint.host",
       [](auto& i) { i.mutable_endpoint()->set_host(std::string(254, 'a')); }},
      {"integration.endpoint.port", [](auto& i) { i.mutable_endpoint()->set_port(65536); }},
      {"integration.endpoint.username",
       [](auto& i) { i.mutable_endpoint()->set_username(std::string(256, 'u')); }},
      {"integration.endpoint.connect_timeout_ms",
       [](auto& i) { i.mutable_endpoint()->set_connect_timeout_ms(kMaxConnectTimeoutMs + 1); }},
      {"integration.endpoint.operation_timeout_ms",
       [](auto& i) { i.mutable_endpoint()->set_operation_timeout_ms(kMaxOperationTimeoutMs + 1); }},
      {"integration.endpoint.host_key_sha256",
       [](auto& i) {  // trust on first use allows no pin, not a malformed one
         i.mutable_endpoint()->set_trust_on_first_use(true);
         i.mutable_endpoint()->set_host_key_sha256("SHA256:short");
       }},
      {"integration.import_settings.file_glob",
       [](auto& i) { i.mutable_import_settings()->set_file_glob("out/roster_*.csv"); }},
      {"integration.import_settings.file_glob",
       [](auto& i) { i.mutable_import_settings()->set_file_glob("roster_[0-9.csv"); }},
      {"integration.import_settings.file_glob",
       [](auto& i) { i.mutable_import_settings()->set_file_glob("roster\n.csv"); }},
      {"integration.import_settings.file_glob",
       [](auto& i) { i.mutable_import_settings()->set_file_glob(".."); }},
      {"integration.import_settings.header_map",
       [](auto& i) { (*i.mutable_import_settings()->mutable_header_map())["  "] = "email"; }},
      {"integration.import_settings.header_map[\"employee id \"]",
       [](auto& i) {  // the same header as "Employee ID" after folding, another target
         (*i.mutable_import_settings()->mutable_header_map())["employee id "] = "email";
       }},
      {"integration.import_settings.header_map[\"Mail\"]",
       [](auto& i) { (*i.mutable_import_settings()->mutable_header_map())["Mail"] = "attr:"; }},
      {"integration.import_settings.policy.max_removal_share",
       [](auto& i) { i.mutable_import_settings()->mutable_policy()->set_max_removal_share(1.5); }},
      {"integration.import_settings.policy.max_removals",
       [](auto& i) { i.mutable_import_settings()->mutable_policy()->set_max_removals(-1); }},
      {"integration.import_settings.policy.max_invalid_share",
       [](auto& i) { i.mutable_import_settings()->mutable_policy()->set_max_invalid_share(-0.1); }},
      {"integration.blackout_windows[0].start",
       [](auto& i) { *i.add_blackout_windows() = W("2026-13-01", "2026-12-31"); }},
      {"integration.blackout_windows[1].end",
       [](auto& i) {
         *i.add_blackout_windows() = W("2026-07-01", "2026-07-02");
         *i.add_blackout_windows() = W("2026-07-01", "");
       }},
      {"integration.add_only_windows[0].end",
       [](auto& i) { *i.add_add_only_windows() = W("2026-08-01T10:00", "2026-08-01T09:00"); }},
      {"integration.add_only_windows[0].reason",
       [](auto& i) {
         v1::TimeWindow w = W("2026-08-01", "2026-08-02");
         w.set_reason("line\nbreak");
         *i.add_add_only_windows() = w;
       }},
      {"integration.blackout_windows",
       [](auto& i) {
         for (int n = 0; n < 101; ++n) *i.add_blackout_windows() = W("2026-07-01", "2026-07-02");
       }},
      {"integration.misfire_window_s", [](auto& i) { i.set_misfire_window_s(59); }},
      {"integration.misfire_window_s", [](auto& i) { i.set_misfire_window_s(-1); }},
      {"integration.misfire_window_s",
       [](auto& i) { i.set_misfire_window_s(kMaxMisfireWindowS + 1); }},
  };
  for (const Case& c : cases) {
    v1::Integration in = c.export_base ? ValidExport() : ValidImport();
    c.mutate(in);
    absl::Status status = ValidateIntegration(in);
    ASSERT_FALSE(status.ok()) << c.field;
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field + ":")) << status;
  }
}

TEST(IntegrationValidationTest, NewlyAcceptedForms) {
  v1::Integration in = ValidImport();
  in.mutable_endpoint()->set_host("2001:db8::1");
  EXPECT_TRUE(ValidateIntegration(in).ok()) << ValidateIntegration(in);
  in.mutable_endpoint()->set_host("sftp-01.eu_west.example.com");
  EXPECT_TRUE(ValidateIntegration(in).ok()) << ValidateIntegration(in);
  // Trust on first use: no pin yet is fine (activation pins the key it sees).
  in.mutable_endpoint()->clear_host_key_sha256();
  in.mutable_endpoint()->set_trust_on_first_use(true);
  EXPECT_TRUE(ValidateIntegration(in).ok()) << ValidateIntegration(in);
  in.mutable_import_settings()->set_file_glob("roster_[!x]*.csv");
  EXPECT_TRUE(ValidateIntegration(in).ok()) << ValidateIntegration(in);
  in.mutable_import_settings()->set_file_glob("roster []].csv");
  EXPECT_TRUE(ValidateIntegration(in).ok()) << ValidateIntegration(in);
  // The same target from two spellings of one header is fine; aliases for one field too.
  (*in.mutable_import_settings()->mutable_header_map())["EMPLOYEE ID"] = "person_id";
  (*in.mutable_import_settings()->mutable_header_map())["EmpNo"] = "person_id";
  EXPECT_TRUE(ValidateIntegration(in).ok()) << ValidateIntegration(in);
  *in.add_blackout_windows() = W("2026-07-01", "2026-07-31");
  *in.add_add_only_windows() = W("2026-08-01T00:00", "2026-09-15T12:30");
  in.set_misfire_window_s(7200);
  EXPECT_TRUE(ValidateIntegration(in).ok()) << ValidateIntegration(in);
}

}  // namespace
}  // namespace rostersync::scheduler
