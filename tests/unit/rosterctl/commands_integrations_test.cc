// rosterctl integrations activate|deactivate|windows|reseal and the create options for
// schedule rules and trust on first use, against a fake IntegrationService on an in-process
// channel.
#include <grpcpp/grpcpp.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/rosterctl/commands.h"

namespace rostersync::rosterctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

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
  grpc::Status ResealCredentials(grpc::ServerContext*, const v1::ResealCredentialsRequest* req,
                                 v1::ResealCredentialsResponse* resp) override {
    reseal = *req;
    *resp = reseal_response;
    return grpc::Status::OK;
  }
  v1::CreateIntegrationRequest created;
  v1::UpdateIntegrationRequest updated;
  grpc::Status update_error = grpc::Status::OK;
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
