#include "tools/rosterctl/cli_args.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rostersync::rosterctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<ParsedArgs> P(std::vector<std::string> args,
                             std::map<std::string, std::string> env = {}) {
  return Parse(args, FakeEnv(std::move(env)));
}

TEST(CliArgsTest, GlobalDefaultsComeFromTheEnvironmentThenBuiltIns) {
  auto parsed =
      P({"runs", "list"}, {{"ROSTERSYNC_TENANT", "acme"}, {"ROSTERSYNC_ROSTER", "roster:1"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->global.tenant, "acme");
  EXPECT_EQ(parsed->global.roster_address, "roster:1");
  EXPECT_EQ(parsed->global.scheduler_address, "127.0.0.1:50064");
  EXPECT_EQ(parsed->global.backup_address, "127.0.0.1:50061");
  EXPECT_EQ(parsed->global.output, OutputFormat::kTable);
  EXPECT_EQ(parsed->global.timeout, absl::Seconds(30));
  EXPECT_FALSE(parsed->global.timeout_explicit);
  EXPECT_EQ(parsed->command->FullName(), "runs list");
}

TEST(CliArgsTest, FlagsBeatTheEnvironmentAndMayFollowTheCommand) {
  auto parsed = P({"--tenant=t1", "runs", "show", "run-7", "--output", "json", "--timeout", "2.5",
                   "--scheduler", "sched:9"},
                  {{"ROSTERSYNC_TENANT", "acme"}, {"ROSTERSYNC_SCHEDULER", "x:1"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->global.tenant, "t1");
  EXPECT_EQ(parsed->global.scheduler_address, "sched:9");
  EXPECT_EQ(parsed->global.output, OutputFormat::kJson);
  EXPECT_EQ(parsed->global.timeout, absl::Milliseconds(2500));
  EXPECT_TRUE(parsed->global.timeout_explicit);
  EXPECT_EQ(parsed->positionals, std::vector<std::string>{"run-7"});
}

TEST(CliArgsTest, TenantIsRequired) {
  auto parsed = P({"runs", "list"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(IsUsageError(parsed.status()));
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("--tenant"));
}

TEST(CliArgsTest, UnknownOptionIsNamed) {
  auto parsed = P({"--tenant", "t", "runs", "list", "--bogus", "1"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(IsUsageError(parsed.status()));
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("--bogus"));
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("runs list"));
}

TEST(CliArgsTest, OptionOfAnotherCommandIsRefused) {
  // --wait belongs to `runs trigger`, not `runs show`.
  auto parsed = P({"--tenant", "t", "runs", "show", "r1", "--wait"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("--wait"));
}

TEST(CliArgsTest, UnknownCommandAndVerbAreNamed) {
  auto a = P({"--tenant", "t", "frobnicate"});
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("frobnicate"));
  auto b = P({"--tenant", "t", "runs", "explode"});
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("runs explode"));
  auto c = P({"--tenant", "t", "runs"});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("missing verb"));
}

TEST(CliArgsTest, MissingAndExtraPositionalsAreNamed) {
  auto missing = P({"--tenant", "t", "runs", "show"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("RUN_ID"));
  auto seat = P({"--tenant", "t", "people", "assign-seat", "p1"});
  ASSERT_FALSE(seat.ok());
  EXPECT_THAT(std::string(seat.status().message()), HasSubstr("SEAT"));
  auto extra = P({"--tenant", "t", "runs", "show", "r1", "r2"});
  ASSERT_FALSE(extra.ok());
  EXPECT_THAT(std::string(extra.status().message()), HasSubstr("'r2'"));
}

TEST(CliArgsTest, EmptySeatReleasesAndDashDashEndsOptions) {
  auto parsed = P({"--tenant", "t", "people", "assign-seat", "--", "-p1", ""});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->positionals, (std::vector<std::string>{"-p1", ""}));
}

TEST(CliArgsTest, OptionValuesAndSwitches) {
  auto parsed = P({"--tenant", "t", "runs", "trigger", "int-1", "--wait", "--wait-timeout=90"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->Has("--wait"));
  EXPECT_EQ(parsed->Get("--wait-timeout"), "90");
  EXPECT_EQ(parsed->positionals, std::vector<std::string>{"int-1"});

  auto valued_switch = P({"--tenant", "t", "runs", "trigger", "i", "--wait=yes"});
  ASSERT_FALSE(valued_switch.ok());
  EXPECT_THAT(std::string(valued_switch.status().message()), HasSubstr("--wait takes no value"));

  auto no_value = P({"--tenant", "t", "runs", "list", "--limit"});
  ASSERT_FALSE(no_value.ok());
  EXPECT_THAT(std::string(no_value.status().message()), HasSubstr("--limit needs a value"));

  auto twice = P({"--tenant", "t", "runs", "list", "--limit", "1", "--limit", "2"});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(std::string(twice.status().message()), HasSubstr("--limit given twice"));
}

TEST(CliArgsTest, RepeatableMapKeepsOrder) {
  auto parsed = P({"--tenant", "t", "integrations", "create", "--map", "Vorname=first_name",
                   "--map", "E-Mail=email"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->GetAll("--map"),
            (std::vector<std::string>{"Vorname=first_name", "E-Mail=email"}));
}

TEST(CliArgsTest, DownloadPathHasShortAndLongSpelling) {
  auto a = P({"--tenant", "t", "backups", "download", "f1", "-o", "/tmp/x"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Get("-o"), "/tmp/x");
  auto b = P({"--tenant", "t", "backups", "download", "f1", "--output-file=/tmp/y"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->Get("-o"), "/tmp/y");
}

TEST(CliArgsTest, SecretsAreNeverAcceptedOnArgv) {
  struct Case {
    std::string arg;
    std::string hint;
  };
  for (const Case& c : std::vector<Case>{{"--password", "--password-file"},
                                         {"--password=hunter2", "--password-file"},
                                         {"--passphrase", "--passphrase-file"},
                                         {"--private-key", "--key-file"},
                                         {"--key", "--key-file"}}) {
    auto parsed = P({"--tenant", "t", "integrations", "create", c.arg, "hunter2"});
    ASSERT_FALSE(parsed.ok()) << c.arg;
    EXPECT_TRUE(IsUsageError(parsed.status())) << c.arg;
    const std::string message(parsed.status().message());
    EXPECT_THAT(message, HasSubstr(c.hint)) << c.arg;
    EXPECT_THAT(message, HasSubstr("not accepted")) << c.arg;
    EXPECT_THAT(message, Not(HasSubstr("hunter2"))) << "the secret was echoed";
  }
  // Refused even before a command, where it is not an option of anything.
  auto early = P({"--password", "x", "integrations", "create"}, {{"ROSTERSYNC_TENANT", "t"}});
  ASSERT_FALSE(early.ok());
  EXPECT_THAT(std::string(early.status().message()), HasSubstr("--password-file"));
}

TEST(CliArgsTest, OutputAndTimeoutAreValidated) {
  auto output = P({"--tenant", "t", "--output", "yaml", "runs", "list"});
  ASSERT_FALSE(output.ok());
  EXPECT_THAT(std::string(output.status().message()), HasSubstr("--output"));
  for (const char* bad : {"0", "-1", "soon", ""}) {
    auto timeout = P({"--tenant", "t", "--timeout", bad, "runs", "list"});
    ASSERT_FALSE(timeout.ok()) << bad;
    EXPECT_THAT(std::string(timeout.status().message()), HasSubstr("--timeout")) << bad;
  }
}

TEST(CliArgsTest, HelpNeedsNoTenant) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"help"}, {"-h"}, {"runs", "--help"}, {"runs", "trigger", "--help"}}) {
    auto parsed = P(args);
    ASSERT_TRUE(parsed.ok()) << args[0] << ": " << parsed.status();
    EXPECT_TRUE(parsed->help);
  }
  auto group = P({"runs", "--help"});
  EXPECT_EQ(group->group, "runs");
  EXPECT_THAT(GroupUsage("runs"), HasSubstr("rosterctl runs trigger INTEGRATION_ID"));
  EXPECT_THAT(GroupUsage("runs"), Not(HasSubstr("people")));
}

TEST(CliArgsTest, UsageListsEveryCommand) {
  const std::string usage = UsageText();
  for (const CommandSpec& c : Commands()) {
    EXPECT_THAT(usage, HasSubstr("rosterctl " + c.FullName())) << c.FullName();
  }
  EXPECT_THAT(usage, HasSubstr("--password-file"));
  EXPECT_THAT(usage, Not(HasSubstr("--password ")));
}

TEST(RunStateTest, ParsesShortUpperAndFullNames) {
  EXPECT_EQ(*ParseRunState("succeeded", "--state"), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(*ParseRunState("FAILED", "--state"), v1::RUN_STATE_FAILED);
  EXPECT_EQ(*ParseRunState("RUN_STATE_HELD", "--state"), v1::RUN_STATE_HELD);
  EXPECT_EQ(*ParseRunState("Importing", "--state"), v1::RUN_STATE_IMPORTING);
}

TEST(RunStateTest, RefusesUnknownAndUnspecifiedNamingTheOption) {
  for (const char* bad : {"done", "unspecified", "RUN_STATE_UNSPECIFIED", "", "6"}) {
    auto state = ParseRunState(bad, "--state");
    ASSERT_FALSE(state.ok()) << bad;
    EXPECT_TRUE(IsUsageError(state.status()));
    const std::string message(state.status().message());
    EXPECT_THAT(message, HasSubstr("--state"));
    EXPECT_THAT(message, HasSubstr("succeeded"));  // lists the valid values
    EXPECT_THAT(message, HasSubstr("(expected one of queued|"));
    EXPECT_THAT(message, Not(HasSubstr("|unspecified")));
  }
}

TEST(RunStateTest, TerminalAndSuccessStates) {
  for (v1::RunState s :
       {v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SKIPPED, v1::RUN_STATE_HELD, v1::RUN_STATE_FAILED,
        v1::RUN_STATE_CANCELLED}) {
    EXPECT_TRUE(IsTerminal(s)) << RunStateName(s);
  }
  for (v1::RunState s :
       {v1::RUN_STATE_UNSPECIFIED, v1::RUN_STATE_QUEUED, v1::RUN_STATE_FETCHING,
        v1::RUN_STATE_IMPORTING, v1::RUN_STATE_RENDERING, v1::RUN_STATE_UPLOADING}) {
    EXPECT_FALSE(IsTerminal(s)) << RunStateName(s);
  }
  EXPECT_TRUE(IsSuccess(v1::RUN_STATE_SUCCEEDED));
  EXPECT_TRUE(IsSuccess(v1::RUN_STATE_SKIPPED));
  EXPECT_FALSE(IsSuccess(v1::RUN_STATE_HELD));
  EXPECT_FALSE(IsSuccess(v1::RUN_STATE_FAILED));
  EXPECT_EQ(RunStateName(v1::RUN_STATE_SUCCEEDED), "succeeded");
}

TEST(EnumParsingTest, OtherEnums) {
  EXPECT_EQ(*ParseFileKind("error_report", "--kind"), v1::FILE_KIND_ERROR_REPORT);
  EXPECT_EQ(*ParseFileKind("backup", "--kind"), v1::FILE_KIND_BACKUP);
  EXPECT_FALSE(ParseFileKind("photos", "--kind").ok());
  EXPECT_EQ(*ParsePersonType("part_time", "--type"), v1::PERSON_TYPE_PART_TIME);
  EXPECT_EQ(*ParseDirection("export", "--direction"), v1::RUN_DIRECTION_EXPORT);
  EXPECT_EQ(*ParseSyncPolicy("keep", "--sync"), v1::SYNC_POLICY_KEEP);
  EXPECT_EQ(*ParseBool("false", "--active"), false);
  EXPECT_EQ(*ParseBool("TRUE", "--active"), true);
  EXPECT_FALSE(ParseBool("maybe", "--active").ok());
  EXPECT_FALSE(ParseInt("0", "--limit", 1, 10).ok());
  EXPECT_FALSE(ParseInt("12x", "--limit", 1, 100).ok());
  EXPECT_EQ(*ParseInt("7", "--limit", 1, 10), 7);
  EXPECT_EQ(FileKindName(v1::FILE_KIND_ERROR_REPORT), "error_report");
  EXPECT_EQ(PersonTypeName(v1::PERSON_TYPE_UNSPECIFIED), "-");
}

}  // namespace
}  // namespace rostersync::rosterctl
