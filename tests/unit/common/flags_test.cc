#include "common/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rostersync {
namespace {

using ::testing::HasSubstr;

struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) ptrs.push_back(s.data());
  }
  int argc() { return static_cast<int>(ptrs.size()); }
  char** argv() { return ptrs.data(); }
  std::vector<std::string> args;
  std::vector<char*> ptrs;
};

TEST(FlagsTest, DefaultsEnvAndCommandLine) {
  Flags flags("svc");
  auto* addr = flags.String("grpc_address", "127.0.0.1:1", "addr");
  auto* n = flags.Int("workers", 2, "n", 1, 10);
  auto* b = flags.Bool("verbose", false, "v");
  Argv args({"svc", "--workers=4", "--verbose"});
  ASSERT_TRUE(flags.Parse(args.argc(), args.argv(),
                          {{"ROSTERSYNC_GRPC_ADDRESS", "0.0.0.0:9"}, {"ROSTERSYNC_WORKERS", "3"}})
                  .ok());
  EXPECT_EQ(*addr, "0.0.0.0:9");  // from the environment
  EXPECT_EQ(*n, 4);               // the command line wins
  EXPECT_TRUE(*b);
}

TEST(FlagsTest, ErrorsNameTheSetting) {
  Flags flags("svc");
  flags.Int("port", 1, "p", 1, 65535);
  Argv bad_range({"svc", "--port", "70000"});
  auto s = flags.Parse(bad_range.argc(), bad_range.argv(), {});
  EXPECT_THAT(std::string(s.message()), HasSubstr("--port"));
  Argv unknown({"svc", "--nope=1"});
  EXPECT_THAT(std::string(flags.Parse(unknown.argc(), unknown.argv(), {}).message()),
              HasSubstr("--nope"));
  Argv none({"svc"});
  EXPECT_THAT(std::string(flags.Parse(none.argc(), none.argv(), {{"ROSTERSYNC_PORT", "abc"}})
                              .message()),
              HasSubstr("ROSTERSYNC_PORT"));
}

TEST(FlagsTest, ChecksRunAfterParsing) {
  Flags flags("svc");
  auto* dir = flags.String("archive_dir", "", "dir");
  flags.AddCheck([&]() -> absl::Status {
    if (dir->empty()) return absl::InvalidArgumentError("--archive_dir is required");
    return absl::OkStatus();
  });
  Argv none({"svc"});
  EXPECT_THAT(std::string(flags.Parse(none.argc(), none.argv(), {}).message()),
              HasSubstr("--archive_dir"));
}

}  // namespace
}  // namespace rostersync
