#include "services/scheduler/integration_validation.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "services/scheduler/cron.h"
#include "services/scheduler/time_windows.h"

namespace rostersync::scheduler {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("integration.", field, ": ", why));
}

bool HasWhitespaceOrControl(const std::string& s) {
  for (unsigned char c : s) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) return true;
  }
  return false;
}

bool IsCanonicalField(const std::string& target) {
  static const char* const kFields[] = {"person_id", "email",  "first_name",  "last_name",
                                        "language",  "active", "person_type", "seat"};
  for (const char* f : kFields) {
    if (target == f) return true;
  }
  return absl::StartsWith(target, "attr:") && target.size() > 5;
}

absl::Status ValidateFolder(absl::string_view field, const std::string& folder) {
  if (folder.empty()) return Bad(field, "is required");
  if (folder.find('\0') != std::string::npos || absl::StrContains(folder, "\n")) {
    return Bad(field, "contains a control character");
  }
  return absl::OkStatus();
}

// Date placeholders in an export file name: each "{...}" holds yyyy, yy, MM, dd, HH, mm, ss
// and the separators - _ . (the sftp-transfer worker renders them in the time zone).
absl::Status ValidateDatedName(absl::string_view field, const std::string& name) {
  size_t pos = 0;
  while (pos < name.size()) {
    size_t open = name.find('{', pos);
    size_t close = name.find('}', pos);
    if (open == std::string::npos) {
      if (close != std::string::npos) return Bad(field, "has a \"}\" without \"{\"");
      break;
    }
    if (close < open) return Bad(field, "has a \"}\" without \"{\"");
    if (close == std::string::npos) return Bad(field, "has a \"{\" without \"}\"");
    absl::string_view pattern = absl::string_view(name).substr(open + 1, close - open - 1);
    if (pattern.empty()) return Bad(field, "has an empty date pattern \"{}\"");
    size_t i = 0;
    while (i < pattern.size()) {
      bool ok = false;
      for (absl::string_view token : {"yyyy", "yy", "MM", "dd", "HH", "mm", "ss", "-", "_", "."}) {
        if (absl::StartsWith(pattern.substr(i), token)) {
          i += token.size();
          ok = true;
          break;
        }
      }
      if (!ok) {
        return Bad(field, absl::StrCat("has an unknown date pattern \"{", pattern,
                                       "}\" (use yyyy, yy, MM, dd, HH, mm, ss and - _ .)"));
      }
    }
    pos = close + 1;
  }
  return absl::OkStatus();
}

absl::Status ValidateFetchOptions(const v1::FetchOptions& f, const std::string& remote_folder) {
  constexpr int kMaxIntervalMs = 10 * 60 * 1000;
  if (f.stability_interval_ms() < 0 || f.stability_interval_ms() > kMaxIntervalMs) {
    return Bad("import_settings.fetch.stability_interval_ms",
               absl::StrCat(f.stability_interval_ms(), " is out of range 0..", kMaxIntervalMs));
  }
  constexpr int kMaxAgeS = 7 * 24 * 3600;
  if (f.min_age_s() < 0 || f.min_age_s() > kMaxAgeS) {
    return Bad("import_settings.fetch.min_age_s",
               absl::StrCat(f.min_age_s(), " is out of range 0..", kMaxAgeS));
  }
  if (absl::StrContains(f.done_marker_suffix(), "/") ||
      HasWhitespaceOrControl(f.done_marker_suffix())) {
    return Bad("import_settings.fetch.done_marker_suffix",
               "must be a file name suffix (e.g. \".done\") without \"/\" or spaces");
  }
  if (!v1::FetchOptions::Order_IsValid(f.order())) {
    return Bad("import_settings.fetch.order", absl::StrCat(f.order(), " is not a known order"));
  }
  if (!v1::FetchOptions::AfterFetch_IsValid(f.after_fetch())) {
    return Bad("import_settings.fetch.after_fetch",
               absl::StrCat(f.after_fetch(), " is not a known action"));
  }
  if (f.after_fetch() == v1::FetchOptions::AFTER_FETCH_MOVE) {
    RETURN_IF_ERROR(ValidateFolder("import_settings.fetch.archive_folder", f.archive_folder()));
    if (f.archive_folder() == remote_folder) {
      return Bad("import_settings.fetch.archive_folder",
                 "must differ from import_settings.remote_folder");
    }
  } else if (!f.archive_folder().empty()) {
    return Bad("import_settings.fetch.archive_folder",
               "is only used with after_fetch AFTER_FETCH_MOVE");
  }
  return absl::OkStatus();
}

absl::Status ValidateUploadOptions(const v1::UploadOptions& u) {
  for (const auto& [field, value] : {std::pair<absl::string_view, const std::string&>{
                                         "export_settings.upload.temp_prefix", u.temp_prefix()},
                                     std::pair<absl::string_view, const std::string&>{
                                         "export_settings.upload.temp_suffix", u.temp_suffix()}}) {
    if (absl::StrContains(value, "/") || HasWhitespaceOrControl(value)) {
      return Bad(field, "must not contain \"/\", spaces or control characters");
    }
  }
  return absl::OkStatus();
}

// A host name or an IP address as the endpoint's host: no scheme, user or port in it.
absl::Status ValidateHost(const std::string& host) {
  constexpr absl::string_view kField = "endpoint.host";
  if (host.empty()) return Bad(kField, "is required");
  if (host.size() > 253) return Bad(kField, "is longer than 253 characters");
  if (absl::StrContains(host, "://")) {
    return Bad(kField, absl::StrCat("\"", host,
                                    "\" has a scheme; give the bare host name (e.g. "
                                    "\"sftp.example.com\")"));
  }
  if (absl::StrContains(host, "@")) {
    return Bad(kField,
               absl::StrCat("\"", host, "\" has a user in it; put the user in endpoint.username"));
  }
  const size_t colons = std::count(host.begin(), host.end(), ':');
  if (colons == 1) {
    return Bad(kField,
               absl::StrCat("\"", host, "\" has a port in it; put the port in endpoint.port"));
  }
  for (unsigned char c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':') {
      return Bad(kField, absl::StrCat("\"", absl::CEscape(host),
                                      "\" is not a host name or IP address (letters, digits, "
                                      "\".\", \"-\"; \":\" in IPv6 addresses)"));
    }
  }
  if (host.front() == '-' || host.front() == '.' || host.back() == '-' ||
      absl::StrContains(host, "..")) {
    return Bad(kField, absl::StrCat("\"", host, "\" is not a host name"));
  }
  return absl::OkStatus();
}

// A file name pattern as fnmatch(3) reads it, matched against names in one folder.
absl::Status ValidateGlob(const std::string& glob) {
  constexpr absl::string_view kField = "import_settings.file_glob";
  if (glob.empty()) return Bad(kField, "is required for IMPORT");
  if (absl::StrContains(glob, "/")) {
    return Bad(kField,
               "must be a file name pattern without \"/\" (the folder goes in "
               "import_settings.remote_folder)");
  }
  for (unsigned char c : glob) {
    if (absl::ascii_iscntrl(c)) return Bad(kField, "contains a control character");
  }
  if (glob.size() > 255) return Bad(kField, "is longer than 255 characters");
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '\\') {
      ++i;  // escaped
    } else if (glob[i] == '[') {
      // A bracket expression ends at the first ']' after an optional leading '!'/'^' and ']'.
      size_t j = i + 1;
      if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
      if (j < glob.size() && glob[j] == ']') ++j;
      while (j < glob.size() && glob[j] != ']') ++j;
      if (j >= glob.size()) {
        return Bad(kField, absl::StrCat("\"", glob, "\" has a \"[\" without a closing \"]\""));
      }
      i = j;
    }
  }
  if (glob == "." || glob == "..") return Bad(kField, "must match file names, not \".\" or \"..\"");
  return absl::OkStatus();
}

absl::Status ValidateWindows(absl::string_view field,
                             const google::protobuf::RepeatedPtrField<v1::TimeWindow>& windows) {
  constexpr int kMaxWindows = 100;
  if (windows.size() > kMaxWindows) {
    return Bad(field, absl::StrCat("has ", windows.size(), " windows; at most ", kMaxWindows));
  }
  for (int i = 0; i < windows.size(); ++i) {
    const std::string name = absl::StrCat(field, "[", i, "]");
    auto parsed = ParseTimeWindow(windows[i]);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("integration.", name, ".", parsed.status().message()));
    }
    if (windows[i].reason().size() > 200) {
      return Bad(absl::StrCat(name, ".reason"), "must be at most 200 characters");
    }
    for (unsigned char c : windows[i].reason()) {
      if (absl::ascii_iscntrl(c)) {
        return Bad(absl::StrCat(name, ".reason"), "contains a control character");
      }
    }
  }
  return absl::OkStatus();
}

bool OneOf(const std::string& value, std::initializer_list<absl::string_view> allowed) {
  for (absl::string_view a : allowed) {
    if (value == a) return true;
  }
  return false;
}

absl::Status BadShare(absl::string_view field, bool has, double value) {
  if (has && !(value >= 0.0 && value <= 1.0)) {
    return Bad(field, absl::StrCat(value, " is not a share between 0 and 1"));
  }
  return absl::OkStatus();
}

absl::Status BadCount(absl::string_view field, bool has, int64_t value) {
  if (has && value < 0) return Bad(field, absl::StrCat(value, " must not be negative"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateImportPolicy(const v1::ImportPolicy& p, absl::string_view prefix) {
  auto field = [&](absl::string_view name) { return absl::StrCat(prefix, ".", name); };
  if (!OneOf(p.encoding(), {"", "auto", "utf-8", "windows-1252"})) {
    return Bad(field("encoding"),
               absl::StrCat("\"", p.encoding(), "\" is not one of auto, utf-8, windows-1252"));
  }
  if (!OneOf(p.delimiter(), {"", ",", ";", "\t", "|"})) {
    return Bad(field("delimiter"),
               absl::StrCat("\"", absl::CEscape(p.delimiter()),
                            "\" is not one of \",\", \";\", \"\\t\", \"|\" (or empty to sniff)"));
  }
  if (!p.date_format().empty()) {
    // A format is usable when a date written with it reads back as the same date.
    const absl::Time sample = absl::FromCivil(absl::CivilDay(2026, 12, 31), absl::UTCTimeZone());
    const std::string text = absl::FormatTime(p.date_format(), sample, absl::UTCTimeZone());
    absl::Time parsed;
    std::string err;
    if (!absl::ParseTime(p.date_format(), text, absl::UTCTimeZone(), &parsed, &err) ||
        absl::ToCivilDay(parsed, absl::UTCTimeZone()) != absl::CivilDay(2026, 12, 31)) {
      return Bad(field("date_format"),
                 absl::StrCat("\"", p.date_format(),
                              "\" is not a date format that reads back the dates it writes "
                              "(absl::ParseTime syntax, e.g. \"%m/%d/%Y\")"));
    }
  }
  for (const auto& [name, type] : p.attribute_types()) {
    const std::string f = absl::StrCat("attribute_types[\"", name, "\"]");
    if (name.empty()) return Bad(field("attribute_types"), "has an empty attribute name");
    if (!OneOf(type, {"string", "date", "boolean", "email", "int"})) {
      return Bad(field(f),
                 absl::StrCat("\"", type, "\" is not one of string, date, boolean, email, int"));
    }
  }
  RETURN_IF_ERROR(
      BadShare(field("max_invalid_share"), p.has_max_invalid_share(), p.max_invalid_share()));
  RETURN_IF_ERROR(BadCount(field("max_removals"), p.has_max_removals(), p.max_removals()));
  RETURN_IF_ERROR(
      BadShare(field("max_removal_share"), p.has_max_removal_share(), p.max_removal_share()));
  RETURN_IF_ERROR(BadCount(field("min_roster_for_share"), p.has_min_roster_for_share(),
                           p.min_roster_for_share()));
  RETURN_IF_ERROR(
      BadShare(field("max_row_drop_share"), p.has_max_row_drop_share(), p.max_row_drop_share()));
  return absl::OkStatus();
}

void ApplyIntegrationDefaults(v1::Integration& integration) {
  v1::SftpEndpoint* endpoint = integration.mutable_endpoint();
  if (endpoint->port() == 0) endpoint->set_port(kDefaultSftpPort);
  if (endpoint->connect_timeout_ms() == 0) {
    endpoint->set_connect_timeout_ms(kDefaultConnectTimeoutMs);
  }
  if (endpoint->operation_timeout_ms() == 0) {
    endpoint->set_operation_timeout_ms(kDefaultOperationTimeoutMs);
  }
  if (integration.time_zone().empty()) integration.set_time_zone(kDefaultTimeZone);
}

bool IsSha256Fingerprint(const std::string& text) {
  static constexpr absl::string_view kPrefix = "SHA256:";
  if (!absl::StartsWith(text, kPrefix) || text.size() != kPrefix.size() + 43) return false;
  for (size_t i = kPrefix.size(); i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (!absl::ascii_isalnum(c) && c != '+' && c != '/') return false;
  }
  return true;
}

absl::Status ValidateIntegration(const v1::Integration& in) {
  if (in.tenant_id().empty()) return Bad("tenant_id", "is required");
  if (HasWhitespaceOrControl(in.tenant_id()) || in.tenant_id().size() > 128) {
    return Bad("tenant_id", "must be at most 128 characters without spaces");
  }
  if (absl::StripAsciiWhitespace(in.name()).empty()) return Bad("name", "is required");
  if (in.name().size() > 200) return Bad("name", "must be at most 200 characters");
  if (in.direction() != v1::RUN_DIRECTION_IMPORT && in.direction() != v1::RUN_DIRECTION_EXPORT) {
    return Bad("direction", "must be RUN_DIRECTION_IMPORT or RUN_DIRECTION_EXPORT");
  }

  const v1::SftpEndpoint& ep = in.endpoint();
  RETURN_IF_ERROR(ValidateHost(ep.host()));
  if (ep.port() < 1 || ep.port() > 65535) {
    return Bad("endpoint.port", absl::StrCat(ep.port(), " is out of range 1..65535"));
  }
  if (ep.username().empty()) return Bad("endpoint.username", "is required");
  if (HasWhitespaceOrControl(ep.username())) {
    return Bad("endpoint.username", "must not contain spaces or control characters");
  }
  if (ep.username().size() > 255) return Bad("endpoint.username", "is longer than 255 characters");
  // No pin is allowed only with trust on first use: activation then pins the key it sees.
  if (!(ep.host_key_sha256().empty() && ep.trust_on_first_use()) &&
      !IsSha256Fingerprint(ep.host_key_sha256())) {
    return Bad("endpoint.host_key_sha256",
               absl::StrCat("\"", ep.host_key_sha256(),
                            "\" is not a pinned host key; want \"SHA256:\" and 43 base64 "
                            "characters, as `ssh-keygen -lf` prints it (or set "
                            "endpoint.trust_on_first_use to pin the key seen at activation)"));
  }
  if (ep.connect_timeout_ms() <= 0 || ep.connect_timeout_ms() > kMaxConnectTimeoutMs) {
    return Bad("endpoint.connect_timeout_ms",
               absl::StrCat(ep.connect_timeout_ms(), " is out of range 1..", kMaxConnectTimeoutMs));
  }
  if (ep.operation_timeout_ms() <= 0 || ep.operation_timeout_ms() > kMaxOperationTimeoutMs) {
    return Bad(
        "endpoint.operation_timeout_ms",
        absl::StrCat(ep.operation_timeout_ms(), " is out of range 1..", kMaxOperationTimeoutMs));
  }
  if (ep.max_streams() < 0 || ep.max_streams() > 8) {
    return Bad("endpoint.max_streams",
               absl::StrCat(ep.max_streams(), " is out of range 0..8 (0: the default, 2)"));
  }

  if (!in.schedule().empty()) {
    auto cron = CronSchedule::Parse(in.schedule());
    if (!cron.ok()) return Bad("schedule", cron.status().message());
  }
  absl::TimeZone zone;
  if (in.time_zone().empty() || !absl::LoadTimeZone(in.time_zone(), &zone)) {
    return Bad("time_zone", absl::StrCat("\"", in.time_zone(),
                                         "\" is not an IANA time zone (e.g. \"UTC\", "
                                         "\"Europe/Berlin\")"));
  }
  RETURN_IF_ERROR(ValidateWindows("blackout_windows", in.blackout_windows()));
  RETURN_IF_ERROR(ValidateWindows("add_only_windows", in.add_only_windows()));
  if (in.misfire_window_s() != 0 &&
      (in.misfire_window_s() < kMinMisfireWindowS || in.misfire_window_s() > kMaxMisfireWindowS)) {
    return Bad("misfire_window_s",
               absl::StrCat(in.misfire_window_s(), " is out of range ", kMinMisfireWindowS, "..",
                            kMaxMisfireWindowS, " (0: the scheduler's --misfire_window_s)"));
  }

  if (in.direction() == v1::RUN_DIRECTION_IMPORT) {
    const v1::ImportSettings& s = in.import_settings();
    RETURN_IF_ERROR(ValidateGlob(s.file_glob()));
    if (absl::Status st = ValidateFolder("import_settings.remote_folder", s.remote_folder());
        !st.ok()) {
      return st;
    }
    std::map<std::string, std::string> folded;  // trimmed, lower-case header -> target
    // Sorted, so the header an error names does not depend on hash order.
    const std::map<std::string, std::string> sorted(s.header_map().begin(), s.header_map().end());
    for (const auto& [header, target] : sorted) {
      if (absl::StripAsciiWhitespace(header).empty()) {
        return Bad("import_settings.header_map", "has an empty source header");
      }
      for (unsigned char c : header) {
        if (absl::ascii_iscntrl(c) && c != '\t') {
          return Bad(absl::StrCat("import_settings.header_map[\"", absl::CEscape(header), "\"]"),
                     "the source header contains a control character");
        }
      }
      auto [it, inserted] =
          folded.emplace(absl::AsciiStrToLower(absl::StripAsciiWhitespace(header)), target);
      if (!inserted && it->second != target) {
        return Bad(
            absl::StrCat("import_settings.header_map[\"", header, "\"]"),
            absl::StrCat("maps to \"", target,
                         "\" but another spelling of the same header "
                         "maps to \"",
                         it->second, "\" (headers are matched after trimming and case folding)"));
      }
      if (!IsCanonicalField(target)) {
        return Bad(absl::StrCat("import_settings.header_map[\"", header, "\"]"),
                   absl::StrCat("\"", target,
                                "\" is not a roster field (person_id, email, first_name, "
                                "last_name, language, active, person_type, seat, attr:<name>)"));
      }
    }
    RETURN_IF_ERROR(ValidateImportPolicy(s.policy(), "import_settings.policy"));
    RETURN_IF_ERROR(ValidateFetchOptions(s.fetch(), s.remote_folder()));
  } else {
    const v1::ExportSettings& s = in.export_settings();
    if (s.file_name().empty()) return Bad("export_settings.file_name", "is required for EXPORT");
    if (absl::StrContains(s.file_name(), "/") || s.file_name() == "." || s.file_name() == "..") {
      return Bad("export_settings.file_name", "must be a plain file name without \"/\"");
    }
    RETURN_IF_ERROR(ValidateDatedName("export_settings.file_name", s.file_name()));
    RETURN_IF_ERROR(ValidateUploadOptions(s.upload()));
    if (absl::Status st = ValidateFolder("export_settings.remote_folder", s.remote_folder());
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCredentials(const v1::Credentials& credentials) {
  switch (credentials.kind_case()) {
    case v1::Credentials::kPassword:
      if (credentials.password().empty()) {
        return absl::InvalidArgumentError("credentials.password: is empty");
      }
      return absl::OkStatus();
    case v1::Credentials::kPrivateKey:
      if (credentials.private_key().key_pem().empty()) {
        return absl::InvalidArgumentError("credentials.private_key.key_pem: is empty");
      }
      if (absl::StrContains(credentials.private_key().key_pem(), "---- BEGIN SSH2")) {
        return absl::InvalidArgumentError(
            "credentials.private_key.key_pem: is in SSH2 (RFC 4716) format, which is not "
            "supported; convert it with `ssh-keygen -i -f key > key.openssh`");
      }
      if (absl::StrContains(credentials.private_key().key_pem(), "PuTTY-User-Key-File-")) {
        return absl::InvalidArgumentError(
            "credentials.private_key.key_pem: is in PuTTY (.ppk) format, which is not "
            "supported; convert it with `puttygen key.ppk -O private-openssh -o key`");
      }
      if (!absl::StrContains(credentials.private_key().key_pem(), "PRIVATE KEY")) {
        return absl::InvalidArgumentError(
            "credentials.private_key.key_pem: is not an OpenSSH or PEM private key");
      }
      return absl::OkStatus();
    case v1::Credentials::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "credentials: required (set credentials.password or credentials.private_key)");
}

}  // namespace rostersync::scheduler
