#pragma once

// Command-line flags with environment overrides, validated at start.
//   Flags flags("roster");
//   auto* addr = flags.String("grpc_address", "127.0.0.1:50051", "gRPC listen address");
//   flags.ParseOrExit(argc, argv);
// Each flag --name may also be set by the environment variable ROSTERSYNC_NAME (upper case);
// a command-line value wins over the environment. An unknown flag, a malformed number, a value
// out of range or a failed check exits with status 2 and a message naming the setting.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace rostersync {

class Flags {
 public:
  explicit Flags(std::string program);

  std::string* String(const std::string& name, std::string default_value, std::string help);
  int64_t* Int(const std::string& name, int64_t default_value, std::string help,
               int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  bool* Bool(const std::string& name, bool default_value, std::string help);

  // A check run after parsing; a non-OK status should name the setting.
  void AddCheck(std::function<absl::Status()> check);

  absl::Status Parse(int argc, char** argv, const std::map<std::string, std::string>& env);
  absl::Status Parse(int argc, char** argv);  // reads the process environment
  void ParseOrExit(int argc, char** argv);
  std::string Usage() const;

  static std::string EnvName(const std::string& flag_name);

 private:
  enum class Kind { kString, kInt, kBool };
  struct Flag {
    std::string name;
    Kind kind;
    std::string help;
    std::string default_text;
    std::string* s = nullptr;
    int64_t* i = nullptr;
    bool* b = nullptr;
    int64_t min = INT64_MIN;
    int64_t max = INT64_MAX;
  };
  absl::Status Set(Flag& flag, const std::string& value, const std::string& origin);

  std::string program_;
  std::deque<std::string> strings_;
  std::deque<int64_t> ints_;
  std::deque<bool> bools_;
  std::map<std::string, Flag> flags_;
  std::vector<std::function<absl::Status()>> checks_;
};

}  // namespace rostersync
