// rosterctl integrations activate|deactivate|update|windows|reseal and the create options for
// schedule rules and trust on first use, against a fake IntegrationService on an in-process
// channel.
#include <grpcpp/grpcpp.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/rosterctl/commands.h"

namespace rostersync::rosterctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class FakeIntegrations : public v1::IntegrationService::Service {
 public:
  grpc::Status CreateIntegration(grpc::ServerContext*, const v1::CreateIntegrationRequest* req,
                                 v1::Integration* resp) override {
    created = *req;
    *resp = req->integration();
    resp->set_integration_id("int-1");
    return grpc::Status::OK;
  }
  grpc::Status UpdateIntegration(grpc::ServerContext*, const v1::UpdateIntegrationRequest* req,
                                 v1::Integration* resp) override {
    updated = *req;
    if (!update_error.ok()) return update_error;
    *resp = req->integration();
    resp->mutable_endpoint()->set_host_key_sha256("SHA256:pinned");
    return grpc::Status::OK;
  }
  grpc::Status GetIntegration(grpc::ServerContext*, const v1::GetIntegrationRequest* req,
                              v1::Integration* resp) override {
    if (req->integration_id() != current.integration_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no integration " + req->integration_id());
    }
    *resp = current;
    return grpc::Status::OK;
  }
  grpc::Status ResealCredentials(grpc::ServerContext*, const v1::ResealCredentialsRequest* req,
                                 v1::ResealCredentialsResponse* resp) override {
    reseal = *req;
    *resp = reseal_response;
    return grpc::Status::OK;
  }
  v1::CreateIntegrationRequest created;
  v1::UpdateIntegrationRequest updated;
  grpc::Status update_error = grpc::Status::OK;
  v1::Integration current;  // what GetIntegration returns
  v1::ResealCredentialsRequest reseal;
  v1::ResealCredentialsResponse reseal_response;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

class IntegrationCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stubs_.integrations =
        v1::IntegrationService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override { server_->Shutdown(); }

  Result Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--tenant", "acme", "--timeout", "10"});
    auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    std::ostringstream out, err;
    absl::StatusOr<ParsedArgs> parsed = Parse(args, env);
    if (!parsed.ok()) return {2, "", std::string(parsed.status().message())};
    CommandContext ctx;
    ctx.stubs = &stubs_;
    ctx.out = &out;
    ctx.err = &err;
    ctx.env = env;
    ctx.read_file = [](const std::string& path, size_t) -> absl::StatusOr<std::string> {
      if (path == "/pw") return std::string("pw\n");
      if (path == "/rotated") return std::string("rotated-s3cret\n");
      return absl::NotFoundError("cannot read " + path);
    };
    const int code = RunCommand(*parsed, ctx);
    return {code, out.str(), err.str()};
  }

  std::vector<std::string> CreateArgs() {
    return {"integrations", "create", "--name", "HR",   "--direction",     "import",
            "--host",       "h",      "--user", "u",    "--password-file", "/pw",
            "--folder",     "/out",   "--glob", "*.csv"};
  }

  FakeIntegrations fake_;
  std::unique_ptr<grpc::Server> server_;
  ServiceStubs stubs_;
};

TEST_F(IntegrationCommandsTest, CreateWithWindowsMisfireAndTrustOnFirstUse) {
  std::vector<std::string> args = CreateArgs();
  for (const char* a :
       {"--trust-on-first-use", "--inactive", "--blackout",
        "2026-07-01..2026-08-15=school year rollover", "--blackout", "2026-12-24T18:00..2026-12-27",
        "--add-only", "2026-08-16..2026-09-30", "--misfire-window", "2h", "--max-streams", "4"}) {
    args.push_back(a);
  }
  Result r = Run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const v1::CreateIntegrationRequest& req = fake_.created;
  EXPECT_TRUE(req.inactive());
  EXPECT_TRUE(req.integration().endpoint().trust_on_first_use());
  EXPECT_EQ(req.integration().endpoint().host_key_sha256(), "");
  ASSERT_EQ(req.integration().blackout_windows_size(), 2);
  EXPECT_EQ(req.integration().blackout_windows(0).start(), "2026-07-01");
  EXPECT_EQ(req.integration().blackout_windows(0).end(), "2026-08-15");
  EXPECT_EQ(req.integration().blackout_windows(0).reason(), "school year rollover");
  EXPECT_EQ(req.integration().blackout_windows(1).start(), "2026-12-24T18:00");
  ASSERT_EQ(req.integration().add_only_windows_size(), 1);
  EXPECT_EQ(req.integration().add_only_windows(0).end(), "2026-09-30");
  EXPECT_EQ(req.integration().misfire_window_s(), 7200);
  EXPECT_EQ(req.integration().endpoint().max_streams(), 4);
  EXPECT_THAT(r.out, HasSubstr("up to 4 per file"));
  EXPECT_THAT(r.out, HasSubstr("Blackout"));
  EXPECT_THAT(r.out, HasSubstr("2026-07-01 .. 2026-08-15 (school year rollover)"));
  EXPECT_THAT(r.out, HasSubstr("trust on first use"));
}

TEST_F(IntegrationCommandsTest, CreateOptionErrorsNameTheOption) {
  Result no_key = Run(CreateArgs());  // neither --host-key nor --trust-on-first-use
  EXPECT_EQ(no_key.code, 2);
  EXPECT_THAT(no_key.err, HasSubstr("--host-key"));
  std::vector<std::string> bad_window = CreateArgs();
  for (const char* a : {"--trust-on-first-use", "--blackout", "2026-07-01"}) {
    bad_window.push_back(a);
  }
  Result w = Run(bad_window);
  EXPECT_EQ(w.code, 2);
  EXPECT_THAT(w.err, HasSubstr("--blackout '2026-07-01'"));
  std::vector<std::string> bad_misfire = CreateArgs();
  for (const char* a : {"--trust-on-first-use", "--misfire-window", "10s"}) {
    bad_misfire.push_back(a);
  }
  Result m = Run(bad_misfire);
  EXPECT_EQ(m.code, 2);
  EXPECT_THAT(m.err, HasSubstr("--misfire-window"));
  std::vector<std::string> bad_streams = CreateArgs();
  for (const char* a : {"--trust-on-first-use", "--max-streams", "9"}) bad_streams.push_back(a);
  Result st = Run(bad_streams);
  EXPECT_EQ(st.code, 2);
  EXPECT_THAT(st.err, HasSubstr("--max-streams"));
}

TEST_F(IntegrationCommandsTest, ActivateAndDeactivateUpdateOnlyActive) {
  Result on = Run({"integrations", "activate", "int-1"});
  ASSERT_EQ(on.code, 0) << on.err;
  EXPECT_EQ(fake_.updated.integration().integration_id(), "int-1");
  EXPECT_EQ(fake_.updated.integration().tenant_id(), "acme");
  EXPECT_TRUE(fake_.updated.integration().active());
  EXPECT_THAT(fake_.updated.update_mask().paths(), ElementsAre("active"));
  EXPECT_THAT(on.out, HasSubstr("SHA256:pinned"));

  Result off = Run({"integrations", "deactivate", "int-1"});
  ASSERT_EQ(off.code, 0) << off.err;
  EXPECT_FALSE(fake_.updated.integration().active());

  fake_.update_error = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "activation refused: ... failed at step \"auth\"");
  Result refused = Run({"integrations", "activate", "int-1"});
  EXPECT_NE(refused.code, 0);
  EXPECT_THAT(refused.err, HasSubstr("step \"auth\""));
}

TEST_F(IntegrationCommandsTest, WindowsReplacesOnlyWhatIsGiven) {
  Result r = Run({"integrations", "windows", "int-1", "--blackout", "2026-07-01..2026-07-31",
                  "--misfire-window", "90m"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(fake_.updated.update_mask().paths(),
              ElementsAre("blackout_windows", "misfire_window_s"));
  EXPECT_EQ(fake_.updated.integration().misfire_window_s(), 5400);
  ASSERT_EQ(fake_.updated.integration().blackout_windows_size(), 1);

  Result clear = Run({"integrations", "windows", "int-1", "--clear-add-only"});
  ASSERT_EQ(clear.code, 0) << clear.err;
  EXPECT_THAT(fake_.updated.update_mask().paths(), ElementsAre("add_only_windows"));
  EXPECT_EQ(fake_.updated.integration().add_only_windows_size(), 0);

  Result nothing = Run({"integrations", "windows", "int-1"});
  EXPECT_EQ(nothing.code, 2);
  EXPECT_THAT(nothing.err, HasSubstr("nothing to change"));
}

// The stored integration `integrations update` starts from.
v1::Integration Stored() {
  v1::Integration i;
  i.set_tenant_id("acme");
  i.set_integration_id("int-1");
  i.set_name("HR");
  i.set_direction(v1::RUN_DIRECTION_IMPORT);
  v1::SftpEndpoint& e = *i.mutable_endpoint();
  e.set_host("sftp.acme.test");
  e.set_port(2222);
  e.set_username("hr");
  e.set_host_key_sha256("SHA256:abc");
  i.set_schedule("0 2 * * *");
  i.set_time_zone("Europe/Berlin");
  i.mutable_import_settings()->set_remote_folder("in");
  i.set_active(true);
  return i;
}

TEST_F(IntegrationCommandsTest, UpdateSendsTheStoredEndpointWithOnlyTheGivenChanges) {
  fake_.current = Stored();
  Result r = Run({"integrations", "update", "int-1", "--max-streams", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(fake_.updated.update_mask().paths(), ElementsAre("endpoint"));
  const v1::SftpEndpoint& e = fake_.updated.integration().endpoint();
  EXPECT_EQ(e.host(), "sftp.acme.test");
  EXPECT_EQ(e.port(), 2222);
  EXPECT_EQ(e.username(), "hr");
  EXPECT_EQ(e.host_key_sha256(), "SHA256:abc");
  EXPECT_EQ(e.max_streams(), 3);
  EXPECT_EQ(fake_.updated.integration().tenant_id(), "acme");
  EXPECT_EQ(fake_.updated.integration().integration_id(), "int-1");
  EXPECT_FALSE(fake_.updated.has_credentials());
  EXPECT_THAT(r.out, HasSubstr("up to 3 per file"));

  // Back to the default, a new pin and a new user; name and schedule in the same call.
  Result more = Run({"integrations", "update", "int-1", "--max-streams", "0", "--user", "hr2",
                     "--host-key", "SHA256:new", "--name", "HR (new server)", "--manual-only"});
  ASSERT_EQ(more.code, 0) << more.err;
  EXPECT_THAT(fake_.updated.update_mask().paths(), ElementsAre("name", "endpoint", "schedule"));
  EXPECT_EQ(fake_.updated.integration().endpoint().max_streams(), 0);
  EXPECT_EQ(fake_.updated.integration().endpoint().username(), "hr2");
  EXPECT_EQ(fake_.updated.integration().endpoint().host_key_sha256(), "SHA256:new");
  EXPECT_EQ(fake_.updated.integration().endpoint().host(), "sftp.acme.test");
  EXPECT_EQ(fake_.updated.integration().name(), "HR (new server)");
  EXPECT_EQ(fake_.updated.integration().schedule(), "");

  // Trust on first use drops the pin.
  Result tofu = Run({"integrations", "update", "int-1", "--trust-on-first-use"});
  ASSERT_EQ(tofu.code, 0) << tofu.err;
  EXPECT_TRUE(fake_.updated.integration().endpoint().trust_on_first_use());
  EXPECT_EQ(fake_.updated.integration().endpoint().host_key_sha256(), "");
}

TEST_F(IntegrationCommandsTest, UpdateReplacesCredentialsWithTheEndpointUnchanged) {
  fake_.current = Stored();
  Result r = Run({"integrations", "update", "int-1", "--password-file", "/rotated"});
  ASSERT_EQ(r.code, 0) << r.err;
  // An empty mask would mean every field: the endpoint, unchanged, is named instead.
  EXPECT_THAT(fake_.updated.update_mask().paths(), ElementsAre("endpoint"));
  EXPECT_EQ(fake_.updated.integration().endpoint().SerializeAsString(),
            fake_.current.endpoint().SerializeAsString());
  EXPECT_EQ(fake_.updated.credentials().password(), "rotated-s3cret");
  EXPECT_THAT(r.out, Not(HasSubstr("s3cret")));
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));

  // The server's refusal (its connection test failed) is the command's error.
  fake_.update_error = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "activation: connection test failed at step \"auth\"");
  Result refused = Run({"integrations", "update", "int-1", "--password-file", "/rotated"});
  EXPECT_NE(refused.code, 0);
  EXPECT_THAT(refused.err, HasSubstr("step \"auth\""));
  EXPECT_THAT(refused.err, Not(HasSubstr("s3cret")));
}

// Create keeps accepting both a pin and trust on first use (the pin wins on the server), and
// an empty --host-key with trust on first use; update refuses the pair (ambiguous there).
TEST_F(IntegrationCommandsTest, CreateTakesAPinWithTrustOnFirstUse) {
  std::vector<std::string> both = CreateArgs();
  both.insert(both.end(), {"--host-key", "SHA256:abc", "--trust-on-first-use"});
  Result r = Run(both);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(fake_.created.integration().endpoint().host_key_sha256(), "SHA256:abc");
  EXPECT_TRUE(fake_.created.integration().endpoint().trust_on_first_use());

  std::vector<std::string> empty_pin = CreateArgs();
  empty_pin.insert(empty_pin.end(), {"--host-key", "", "--trust-on-first-use"});
  Result e = Run(empty_pin);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(fake_.created.integration().endpoint().host_key_sha256(), "");
  EXPECT_TRUE(fake_.created.integration().endpoint().trust_on_first_use());
}

TEST_F(IntegrationCommandsTest, UpdateRefusesContradictionsAndNothingToChange) {
  fake_.current = Stored();
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {{}, "nothing to change"},
           {{"--host-key", "SHA256:x", "--trust-on-first-use"}, "exclude each other"},
           {{"--host-key", "abc"}, "invalid --host-key"},
           {{"--max-streams", "9"}, "--max-streams"},
           {{"--schedule", "0 3 * * *", "--manual-only"}, "exclude each other"},
           {{"--name", ""}, "--name cannot be empty"},
           {{"--passphrase-file", "/pw"}, "--passphrase-file needs --key-file"},
           {{"--password-file", "/pw", "--password-env", "PW"}, "exactly one of"},
       }) {
    std::vector<std::string> args = {"integrations", "update", "int-1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    fake_.updated.Clear();
    Result r = Run(args);
    EXPECT_EQ(r.code, 2) << absl::StrJoin(c.args, " ");
    EXPECT_THAT(r.err, HasSubstr(c.error)) << absl::StrJoin(c.args, " ");
    EXPECT_FALSE(fake_.updated.has_integration()) << absl::StrJoin(c.args, " ");
  }
  // Usage mistakes are reported before the integration is read (exit 2, not NOT_FOUND).
  Result early = Run({"integrations", "update", "int-9", "--max-streams", "9"});
  EXPECT_EQ(early.code, 2);
  EXPECT_THAT(early.err, HasSubstr("--max-streams"));
  Result missing = Run({"integrations", "update", "int-9", "--max-streams", "2"});
  EXPECT_NE(missing.code, 0);
  EXPECT_THAT(missing.err, HasSubstr("no integration int-9"));
}

TEST_F(IntegrationCommandsTest, ResealPrintsCountsAndFailsWhenSomeCouldNotBeOpened) {
  fake_.reseal_response.set_key_id("7145f66e44c5d084");
  fake_.reseal_response.set_resealed(3);
  fake_.reseal_response.set_already_current(2);
  Result ok = Run({"integrations", "reseal"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(fake_.reseal.tenant_id(), "acme");
  EXPECT_THAT(ok.out, HasSubstr("7145f66e44c5d084"));
  EXPECT_THAT(ok.out, HasSubstr("Re-sealed"));

  fake_.reseal_response.set_failed(1);
  fake_.reseal_response.add_failed_integration_ids("int-9");
  Result all = Run({"integrations", "reseal", "--all-tenants"});
  EXPECT_EQ(fake_.reseal.tenant_id(), "");
  EXPECT_EQ(all.code, 1);
  EXPECT_THAT(all.out, HasSubstr("int-9"));
}

}  // namespace
}  // namespace rostersync::rosterctl
