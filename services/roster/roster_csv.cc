#include "services/roster/roster_csv.h"

#include <google/protobuf/util/message_differencer.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "services/roster/csv_reader.h"
#include "services/roster/person_validation.h"

namespace rostersync::roster {

bool SamePerson(const v1::Person& a, const v1::Person& b) {
  v1::Person x = a;
  v1::Person y = b;
  x.clear_updated_at();
  y.clear_updated_at();
  return google::protobuf::util::MessageDifferencer::Equals(x, y);
}
namespace {

constexpr size_t kFlushBytes = 64 * 1024;

std::string AttributesJson(const v1::Person& p) {
  nlohmann::json j = nlohmann::json::object();
  std::map<std::string, std::string> sorted(p.attributes().begin(), p.attributes().end());
  for (const auto& [k, v] : sorted) j[k] = v;
  return j.dump();
}

std::vector<std::string> BaseFields(const v1::Person& p) {
  return {p.person_id(),
          p.email(),
          p.first_name(),
          p.last_name(),
          p.language(),
          p.active() ? "true" : "false",
          PersonTypeName(p.person_type()),
          p.seat()};
}

// Buffers lines and hands them to `write` in pieces of about kFlushBytes.
class Buffered {
 public:
  explicit Buffered(const std::function<absl::Status(std::string_view)>& write) : write_(write) {}
  absl::Status Add(std::string line) {
    buf_ += line;
    if (buf_.size() >= kFlushBytes) return Flush();
    return absl::OkStatus();
  }
  absl::Status Flush() {
    if (buf_.empty()) return absl::OkStatus();
    absl::Status s = write_(buf_);
    buf_.clear();
    return s;
  }

 private:
  const std::function<absl::Status(std::string_view)>& write_;
  std::string buf_;
};

}  // namespace

void AppendCsvField(std::string* out, std::string_view value) {
  bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!value.empty() && (value.front() == ' ' || value.back() == ' ' ||
                                   value.front() == '\t' || value.back() == '\t'));
  if (!quote) {
    out->append(value);
    return;
  }
  out->push_back('"');
  size_t from = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '"') continue;
    out->append(value.data() + from, i + 1 - from);  // the quote, then doubled
    out->push_back('"');
    from = i + 1;
  }
  out->append(value.data() + from, value.size() - from);
  out->push_back('"');
}

std::string CsvField(std::string_view value) {
  std::string out;
  AppendCsvField(&out, value);
  return out;
}

std::string CsvLine(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += CsvField(fields[i]);
  }
  out += "\r\n";
  return out;
}

std::string SnapshotLine(const v1::Person& p) {
  std::vector<std::string> fields = BaseFields(p);
  fields.push_back(AttributesJson(p));
  fields.push_back(p.source_integration_id());
  return CsvLine(fields);
}

absl::Status RenderSnapshot(const std::vector<v1::Person>& people,
                            const std::function<absl::Status(std::string_view)>& write) {
  Buffered out(write);
  RETURN_IF_ERROR(out.Add(absl::StrCat(kSnapshotHeader, "\r\n")));
  for (const v1::Person& p : people) RETURN_IF_ERROR(out.Add(SnapshotLine(p)));
  return out.Flush();
}

absl::Status CheckSnapshotHeader(const std::vector<std::string>& fields) {
  std::vector<std::string> expected = absl::StrSplit(kSnapshotHeader, ',');
  if (fields != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot: header is not \"", kSnapshotHeader, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Person> ParseSnapshotRecord(const CsvRecord& r, const std::string& tenant_id) {
  auto bad = [&](const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot: line ", r.line, ": ", what));
  };
  if (r.fields.size() != 10) return bad("wrong number of fields");
  v1::Person p;
  p.set_tenant_id(tenant_id);
  p.set_person_id(r.fields[0]);
  if (p.person_id().empty()) return bad("person_id is empty");
  p.set_email(r.fields[1]);
  p.set_first_name(r.fields[2]);
  p.set_last_name(r.fields[3]);
  p.set_language(r.fields[4]);
  if (r.fields[5] != "true" && r.fields[5] != "false") return bad("active is not true/false");
  p.set_active(r.fields[5] == "true");
  std::optional<v1::PersonType> type = ParsePersonType(r.fields[6]);
  if (!type) return bad("unknown person_type");
  p.set_person_type(*type);
  p.set_seat(r.fields[7]);
  nlohmann::json attrs = nlohmann::json::parse(r.fields[8], nullptr, /*allow_exceptions=*/false);
  if (!attrs.is_object()) return bad("attributes_json is not a JSON object");
  for (const auto& [k, v] : attrs.items()) {
    if (!v.is_string()) return bad("attributes_json holds a non-string value");
    (*p.mutable_attributes())[k] = v.get<std::string>();
  }
  p.set_source_integration_id(r.fields[9]);
  return p;
}

absl::StatusOr<std::vector<v1::Person>> ParseSnapshot(std::string_view csv,
                                                      const std::string& tenant_id) {
  CsvReader reader;
  std::vector<CsvRecord> records;
  RETURN_IF_ERROR(reader.Feed(csv, &records));
  RETURN_IF_ERROR(reader.Finish(&records));
  if (records.empty()) return absl::InvalidArgumentError("snapshot: no header row");
  RETURN_IF_ERROR(CheckSnapshotHeader(records[0].fields));
  std::vector<v1::Person> people;
  for (size_t i = 1; i < records.size(); ++i) {
    ASSIGN_OR_RETURN(v1::Person p, ParseSnapshotRecord(records[i], tenant_id));
    people.push_back(std::move(p));
  }
  return people;
}

std::string ExportHeaderLine(const std::vector<std::string>& attribute_names) {
  std::vector<std::string> header = {"person_id", "email",  "first_name",  "last_name",
                                     "language",  "active", "person_type", "seat"};
  for (const std::string& n : attribute_names) header.push_back(absl::StrCat("attr:", n));
  return CsvLine(header);
}

std::string ExportLine(const v1::Person& p, const std::vector<std::string>& attribute_names) {
  std::vector<std::string> fields = BaseFields(p);
  for (const std::string& n : attribute_names) {
    auto it = p.attributes().find(n);
    fields.push_back(it == p.attributes().end() ? "" : it->second);
  }
  return CsvLine(fields);
}

absl::Status RenderExport(const std::vector<v1::Person>& people,
                          const std::function<absl::Status(std::string_view)>& write) {
  std::set<std::string> names;
  for (const v1::Person& p : people) {
    for (const auto& [k, v] : p.attributes()) names.insert(k);
  }
  const std::vector<std::string> sorted(names.begin(), names.end());
  Buffered out(write);
  RETURN_IF_ERROR(out.Add(ExportHeaderLine(sorted)));
  for (const v1::Person& p : people) RETURN_IF_ERROR(out.Add(ExportLine(p, sorted)));
  return out.Flush();
}

}  // namespace rostersync::roster
