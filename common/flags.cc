#include "common/flags.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

extern char** environ;

namespace rostersync {

Flags::Flags(std::string program) : program_(std::move(program)) {}

std::string* Flags::String(const std::string& name, std::string default_value, std::string help) {
  strings_.push_back(default_value);
  Flag f{name, Kind::kString, std::move(help), default_value};
  f.s = &strings_.back();
  flags_[name] = f;
  return f.s;
}

int64_t* Flags::Int(const std::string& name, int64_t default_value, std::string help,
                    int64_t min, int64_t max) {
  ints_.push_back(default_value);
  Flag f{name, Kind::kInt, std::move(help), std::to_string(default_value)};
  f.i = &ints_.back();
  f.min = min;
  f.max = max;
  flags_[name] = f;
  return f.i;
}

bool* Flags::Bool(const std::string& name, bool default_value, std::string help) {
  bools_.push_back(default_value);
  Flag f{name, Kind::kBool, std::move(help), default_value ? "true" : "false"};
  f.b = &bools_.back();
  flags_[name] = f;
  return f.b;
}

void Flags::AddCheck(std::function<absl::Status()> check) { checks_.push_back(std::move(check)); }

std::string Flags::EnvName(const std::string& flag_name) {
  return "ROSTERSYNC_" + absl::AsciiStrToUpper(flag_name);
}

absl::Status Flags::Set(Flag& flag, const std::string& value, const std::string& origin) {
  switch (flag.kind) {
    case Kind::kString:
      *flag.s = value;
      return absl::OkStatus();
    case Kind::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, ": \"", value, "\" is not an integer"));
      }
      if (v < flag.min || v > flag.max) {
        return absl::InvalidArgumentError(absl::StrCat(origin, ": ", v, " is outside [",
                                                       flag.min, ", ", flag.max, "]"));
      }
      *flag.i = v;
      return absl::OkStatus();
    }
    case Kind::kBool: {
      std::string v = absl::AsciiStrToLower(value);
      if (v == "true" || v == "1" || v == "yes" || v.empty()) {
        *flag.b = true;
      } else if (v == "false" || v == "0" || v == "no") {
        *flag.b = false;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, ": \"", value, "\" is not a boolean (true/false)"));
      }
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unreachable");
}

absl::Status Flags::Parse(int argc, char** argv) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return Parse(argc, argv, env);
}

absl::Status Flags::Parse(int argc, char** argv, const std::map<std::string, std::string>& env) {
  for (auto& [name, flag] : flags_) {
    auto it = env.find(EnvName(name));
    if (it != env.end()) RETURN_IF_ERROR(Set(flag, it->second, "environment " + EnvName(name)));
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      return absl::CancelledError(Usage());
    }
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\""));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value && it->second.kind != Kind::kBool) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      value = argv[++i];
    }
    RETURN_IF_ERROR(Set(it->second, value, "flag --" + name));
  }
  for (const auto& check : checks_) RETURN_IF_ERROR(check());
  return absl::OkStatus();
}

void Flags::ParseOrExit(int argc, char** argv) {
  absl::Status status = Parse(argc, argv);
  if (absl::IsCancelled(status)) {
    std::cout << status.message();
    std::exit(0);
  }
  if (!status.ok()) {
    std::cerr << program_ << ": invalid configuration: " << status.message() << "\n"
              << "run with --help for the list of settings\n";
    std::exit(2);
  }
}

std::string Flags::Usage() const {
  std::string out = absl::StrCat("usage: ", program_, " [flags]\n");
  for (const auto& [name, flag] : flags_) {
    absl::StrAppendFormat(&out, "  --%-22s %s (default \"%s\"; env %s)\n", name, flag.help,
                          flag.default_text, EnvName(name));
  }
  return out;
}

}  // namespace rostersync
