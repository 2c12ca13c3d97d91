#include "services/roster/staging_table.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pipeline>
#include <pqxx/tablewriter>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "services/roster/person_validation.h"
#include "services/roster/roster_csv.h"
#include "services/roster/roster_store.h"

namespace rostersync::roster {
namespace {

constexpr char kStaging[] = "roster_staging";
constexpr size_t kFlushBytes = 64 * 1024;

// The final (after) state in roster_diff, and the current state in roster.people (p.).
constexpr char kDiffPersonColumns[] =
    "d.person_id, d.email, d.first_name, d.last_name, d.language, d.active, d.person_type, "
    "d.seat, d.attributes::text, d.source_integration_id";
constexpr int kDiffPersonWidth = 10;

std::string SortedAttributesJson(const v1::Person& p) {
  nlohmann::json j = nlohmann::json::object();
  std::map<std::string, std::string> sorted(p.attributes().begin(), p.attributes().end());
  for (const auto& [k, v] : sorted) j[k] = v;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

v1::Person DiffPersonFromRow(const pqxx::row& r, int at, const std::string& tenant_id) {
  v1::Person p;
  p.set_tenant_id(tenant_id);
  p.set_person_id(r[at + 0].as<std::string>());
  p.set_email(r[at + 1].as<std::string>());
  p.set_first_name(r[at + 2].as<std::string>());
  p.set_last_name(r[at + 3].as<std::string>());
  p.set_language(r[at + 4].as<std::string>());
  p.set_active(r[at + 5].as<bool>());
  p.set_person_type(ParsePersonType(r[at + 6].as<std::string>()).value_or(v1::PERSON_TYPE_OTHER));
  p.set_seat(r[at + 7].as<std::string>());
  nlohmann::json attrs = nlohmann::json::parse(r[at + 8].as<std::string>(), nullptr, false);
  if (attrs.is_object()) {
    for (const auto& [k, v] : attrs.items()) {
      if (v.is_string()) (*p.mutable_attributes())[k] = v.get<std::string>();
    }
  }
  p.set_source_integration_id(r[at + 9].as<std::string>());
  return p;
}

v1::ChangeKind KindFromName(const std::string& kind) {
  if (kind == "added") return v1::CHANGE_KIND_ADDED;
  if (kind == "updated") return v1::CHANGE_KIND_UPDATED;
  if (kind == "deleted") return v1::CHANGE_KIND_DELETED;
  if (kind == "deactivated") return v1::CHANGE_KIND_DEACTIVATED;
  if (kind == "unchanged") return v1::CHANGE_KIND_UNCHANGED;
  return v1::CHANGE_KIND_UNSPECIFIED;
}

std::vector<std::string> TextArray(const pqxx::field& f) {
  std::vector<std::string> out;
  nlohmann::json j = nlohmann::json::parse(f.as<std::string>(), nullptr, false);
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// SELECT list for a change: kind, line, changed (json), after (10), before (10, p.*).
std::string ChangeSelect() {
  return absl::StrCat(
      "SELECT d.kind, d.line, to_json(d.changed)::text, ", kDiffPersonColumns,
      ", p.person_id, p.email, p.first_name, p.last_name, p.language, p.active, p.person_type, "
      "p.seat, p.attributes::text, p.source_integration_id "
      "FROM roster_diff d LEFT JOIN roster.people p ON p.tenant_id = $1 "
      "AND p.person_id = d.person_id ");
}

v1::PersonChange ChangeFromRow(const pqxx::row& r, const std::string& tenant_id) {
  v1::PersonChange c;
  c.set_kind(KindFromName(r[0].as<std::string>()));
  v1::Person after = DiffPersonFromRow(r, 3, tenant_id);
  c.set_person_id(after.person_id());
  for (std::string& f : TextArray(r[2])) c.add_changed_fields(std::move(f));
  if (!r[3 + kDiffPersonWidth].is_null()) {
    *c.mutable_before() = DiffPersonFromRow(r, 3 + kDiffPersonWidth, tenant_id);
  }
  if (c.kind() != v1::CHANGE_KIND_DELETED) *c.mutable_after() = std::move(after);
  return c;
}

std::string_view FieldText(const pqxx::field& f) { return std::string_view(f.c_str(), f.size()); }

bool IsPersonTypeName(std::string_view t) {
  return t == "employee" || t == "contractor" || t == "intern" || t == "part_time" ||
         t == "student" || t == "staff" || t == "other";
}

// The snapshot's attributes_json (nlohmann's compact dump of the key-sorted object, see
// roster_csv.cc) from jsonb's text output ({"k": "v", "k2": "v2"}, keys by length then bytes)
// without a JSON library: both escape a string the same way (\" \\ \b \f \n \r \t, other
// control characters \u00xx lowercase, everything else as is), so keys and values are copied
// as written and only the order changes. False (nothing usable in `json`) for anything else:
// a key with an escape (its order would need decoding), a value that is not a string.
bool SnapshotAttributesFromJsonb(std::string_view t, std::string* json,
                                 std::vector<std::pair<std::string_view, std::string_view>>* kv) {
  kv->clear();
  if (t.size() < 2 || t[0] != '{') return false;
  size_t i = 1;
  auto read_string = [&](std::string_view* out, bool* escaped) {
    if (i >= t.size() || t[i] != '"') return false;
    const size_t start = ++i;
    *escaped = false;
    while (i < t.size() && t[i] != '"') {
      if (t[i] == '\\') {
        *escaped = true;
        i += 2;
      } else {
        ++i;
      }
    }
    if (i >= t.size()) return false;
    *out = t.substr(start, i - start);
    ++i;
    return true;
  };
  if (t[i] == '}') {
    if (i + 1 != t.size()) return false;
  } else {
    for (;;) {
      std::string_view k, v;
      bool key_escaped = false, value_escaped = false;
      if (!read_string(&k, &key_escaped) || key_escaped) return false;
      if (t.substr(i, 2) != ": ") return false;
      i += 2;
      if (!read_string(&v, &value_escaped)) return false;
      kv->emplace_back(k, v);
      if (i < t.size() && t[i] == '}') {
        ++i;
        break;
      }
      if (t.substr(i, 2) != ", ") return false;
      i += 2;
    }
    if (i != t.size()) return false;
  }
  std::sort(kv->begin(), kv->end());
  json->assign("{");
  for (size_t n = 0; n < kv->size(); ++n) {
    if (n > 0) json->push_back(',');
    json->push_back('"');
    json->append((*kv)[n].first);
    json->append("\":\"");
    json->append((*kv)[n].second);
    json->push_back('"');
  }
  json->push_back('}');
  return true;
}

// SnapshotLine(DiffPersonFromRow(r, 0, ...)) appended to `out` straight from the row's text,
// for the rows whose text is canonical (person_type a known name, active t/f, attributes an
// object of strings with plain keys); false (nothing appended) otherwise.
bool AppendSnapshotLineFast(const pqxx::row& r, std::string* out, std::string* json,
                            std::vector<std::pair<std::string_view, std::string_view>>* kv) {
  const std::string_view active = FieldText(r[5]);
  const std::string_view type = FieldText(r[6]);
  if ((active != "t" && active != "f") || !IsPersonTypeName(type) ||
      !SnapshotAttributesFromJsonb(FieldText(r[8]), json, kv)) {
    return false;
  }
  for (int i = 0; i < 5; ++i) {
    AppendCsvField(out, FieldText(r[i]));
    out->push_back(',');
  }
  out->append(active == "t" ? "true," : "false,");
  out->append(type);
  out->push_back(',');
  AppendCsvField(out, FieldText(r[7]));
  out->push_back(',');
  AppendCsvField(out, *json);
  out->push_back(',');
  AppendCsvField(out, FieldText(r[9]));
  out->append("\r\n");
  return true;
}

// COPY text format: backslash, tab, newline and carriage return escaped.
void AppendCopyText(std::string* out, std::string_view v) {
  size_t from = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c != '\\' && static_cast<unsigned char>(c) > '\r') continue;
    const char* esc = c == '\\'  ? "\\\\"
                      : c == '\t' ? "\\t"
                      : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r"
                                  : nullptr;
    if (esc == nullptr) continue;
    out->append(v.data() + from, i - from);
    out->append(esc);
    from = i + 1;
  }
  out->append(v.data() + from, v.size() - from);
}

// A JSON string literal (the attributes map is jsonb: key order does not matter). Runs of
// plain bytes are copied whole.
void AppendJsonString(std::string* out, std::string_view v) {
  out->push_back('"');
  size_t from = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    out->append(v.data() + from, i - from);
    from = i + 1;
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(v[i]);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
    }
  }
  out->append(v.data() + from, v.size() - from);
  out->push_back('"');
}

template <typename Fn>
absl::Status Guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return StatusFromPqxx(e);
  }
}

// A text field followed by a tab; NULL (\N) when `null`.
void AppendCopyField(std::string* out, std::string_view v, bool null) {
  if (null) {
    out->append("\\N\t");
    return;
  }
  AppendCopyText(out, v);
  out->push_back('\t');
}

// The person's attributes as a JSON object (for a jsonb column: key order does not matter),
// as a COPY field followed by a tab. `json` is scratch space.
void AppendCopyAttributes(std::string* out, const v1::Person& p, std::string* json) {
  json->assign("{");
  bool first = true;
  for (const auto& [k, v] : p.attributes()) {
    if (!first) json->push_back(',');
    first = false;
    AppendJsonString(json, k);
    json->push_back(':');
    AppendJsonString(json, v);
  }
  json->push_back('}');
  AppendCopyText(out, *json);
  out->push_back('\t');
}

std::string StagedTypeName(const v1::Person& p) {
  return PersonTypeName(p.person_type() == v1::PERSON_TYPE_UNSPECIFIED ? v1::PERSON_TYPE_EMPLOYEE
                                                                      : p.person_type());
}

// One COPY ... FROM STDIN in text format: lines are built in a large buffer handed to libpq
// whole (no per-row conversions). No other query may run on the transaction until Finish().
class CopyLines {
 public:
  CopyLines(pqxx::work& txn, const std::string& table, const std::vector<std::string>& columns)
      : writer_(MakeWriter(txn, table, columns)) {
    buf_.reserve(kBufferBytes + 4096);
  }
  CopyLines(const CopyLines&) = delete;
  CopyLines& operator=(const CopyLines&) = delete;
  ~CopyLines() {
    if (!finished_) {
      try {
        writer_->complete();
      } catch (...) {
      }
    }
  }

  // The line being built; call Flush() after each complete line (ending in '\n').
  std::string& buf() { return buf_; }

  // Sends the buffer once it is large. A server's refusal of a row is not seen here: libpq
  // reports it when the COPY ends (Finish()); the server discards the rest meanwhile.
  absl::Status Flush() {
    if (buf_.size() < kBufferBytes) return absl::OkStatus();
    try {
      writer_->write_raw_line(buf_);  // many lines; libpq adds nothing but the final newline
    } catch (const std::exception& e) {
      return StatusFromPqxx(e);
    }
    buf_.clear();
    return absl::OkStatus();
  }

  // Sends the rest and ends the COPY; throws when the server refused it.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    if (!buf_.empty()) writer_->write_raw_line(buf_);
    buf_.clear();
    writer_->complete();
  }

 private:
  static constexpr size_t kBufferBytes = 1 << 20;

  static std::unique_ptr<pqxx::tablewriter> MakeWriter(pqxx::work& txn, const std::string& table,
                                                       const std::vector<std::string>& columns) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // tablewriter: write_raw_line() takes many COPY lines at once (stream_to converts and
    // sends field by field).
    return std::make_unique<pqxx::tablewriter>(txn, table, columns.begin(), columns.end());
#pragma GCC diagnostic pop
  }

  std::unique_ptr<pqxx::tablewriter> writer_;
  std::string buf_;
  bool finished_ = false;
};

const std::vector<std::string>& StagingColumns() {
  static const std::vector<std::string> columns = {
      "line",       "person_id",  "valid",  "email",       "first_name",
      "last_name",  "language",   "active", "person_type", "seat",
      "attributes", "source_integration_id", "key_from_email"};
  return columns;
}

// Rows COPYed into the staging table.
class CopyStagingWriter : public StagingWriter {
 public:
  // `valid_rows` counts the valid rows staged (shared with the StagingTable).
  CopyStagingWriter(pqxx::work& txn, std::shared_ptr<int64_t> valid_rows)
      : copy_(txn, kStaging, StagingColumns()), valid_rows_(std::move(valid_rows)) {}

  absl::Status Add(const v1::Person& p, int64_t line, const StagedKeep& keep,
                   bool key_from_email) override {
    std::string& buf = copy_.buf();
    absl::StrAppend(&buf, line, "\t");
    AppendCopyText(&buf, p.person_id());
    buf.append("\tt\t");
    AppendCopyField(&buf, p.email(), keep.email);
    AppendCopyField(&buf, p.first_name(), false);
    AppendCopyField(&buf, p.last_name(), false);
    AppendCopyText(&buf, p.language());
    buf.append(p.active() ? "\tt\t" : "\tf\t");
    AppendCopyField(&buf, StagedTypeName(p), keep.person_type);
    AppendCopyField(&buf, p.seat(), keep.seat);
    AppendCopyAttributes(&buf, p, &json_);
    AppendCopyText(&buf, p.source_integration_id());
    buf.append(key_from_email ? "\tt\n" : "\tf\n");
    ++rows_;
    ++*valid_rows_;
    return copy_.Flush();
  }

  absl::Status AddInvalidKey(const std::string& person_id, int64_t line, bool key_from_email,
                             const std::string& seat) override {
    std::string& buf = copy_.buf();
    absl::StrAppend(&buf, line, "\t");
    AppendCopyText(&buf, person_id);
    buf.append("\tf\t\\N\t\t\t\tf\t\\N\t");
    AppendCopyField(&buf, seat, seat.empty());
    buf.append("{}\t\t");
    buf.append(key_from_email ? "t\n" : "f\n");
    ++rows_;
    return copy_.Flush();
  }

  absl::Status Finish() override {
    try {
      copy_.Finish();
    } catch (const std::exception& e) {
      return StatusFromPqxx(e);
    }
    return absl::OkStatus();
  }
  int64_t rows() const override { return rows_; }

 private:
  CopyLines copy_;
  std::string json_;
  int64_t rows_ = 0;
  std::shared_ptr<int64_t> valid_rows_;
};

// The valid rows of a first import COPYed into roster.people (StagingTable::OpenDirectWriter):
// the values a staged row of an empty tenant would be inserted with ('' for a column the file
// lacks, employee for a missing type; updated_at is the column default, now()).
class DirectPeopleWriter : public DirectWriter {
 public:
  DirectPeopleWriter(pqxx::work& txn, const std::string& tenant_id, size_t max_invalid_keys)
      : txn_(txn),
        tenant_id_(tenant_id),
        max_invalid_keys_(max_invalid_keys),
        copy_(txn, "roster.people",
              {"tenant_id", "person_id", "email", "first_name", "last_name", "language", "active",
               "person_type", "seat", "attributes", "source_integration_id"}) {
    AppendCopyField(&tenant_field_, tenant_id, false);
  }

  absl::Status Add(const v1::Person& p, int64_t /*line*/, const StagedKeep& keep,
                   bool /*key_from_email*/) override {
    std::string& buf = copy_.buf();
    buf.append(tenant_field_);
    AppendCopyField(&buf, p.person_id(), false);
    AppendCopyField(&buf, keep.email ? std::string_view() : p.email(), false);
    AppendCopyField(&buf, p.first_name(), false);
    AppendCopyText(&buf, p.last_name());
    buf.push_back('\t');
    AppendCopyText(&buf, p.language());
    buf.append(p.active() ? "\tt\t" : "\tf\t");
    AppendCopyField(&buf, keep.person_type ? PersonTypeName(v1::PERSON_TYPE_EMPLOYEE)
                                           : StagedTypeName(p),
                    false);
    AppendCopyField(&buf, keep.seat ? std::string_view() : p.seat(), false);
    AppendCopyAttributes(&buf, p, &json_);
    AppendCopyText(&buf, p.source_integration_id());
    buf.push_back('\n');
    ++rows_;
    return copy_.Flush();
  }

  // Kept for the repeat check at Finish() (an invalid row's key or seat must not repeat).
  absl::Status AddInvalidKey(const std::string& person_id, int64_t line, bool key_from_email,
                             const std::string& seat) override {
    if (person_id.empty() && seat.empty()) return absl::OkStatus();
    if (invalid_.size() >= max_invalid_keys_) {
      too_many_invalid_ = true;
      return absl::OkStatus();
    }
    invalid_.push_back({person_id, line, key_from_email, seat});
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    if (finished_) return absl::OkStatus();
    finished_ = true;
    try {
      copy_.Finish();
    } catch (const pqxx::unique_violation&) {
      needs_staging_ = kRepeats;
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return StatusFromPqxx(e);
    }
    if (too_many_invalid_) {
      needs_staging_ = absl::StrCat("more than ", max_invalid_keys_,
                                    " invalid rows with a key or seat to check for repeats");
      return absl::OkStatus();
    }
    if (invalid_.empty()) return absl::OkStatus();
    // The invalid rows' keys and seats, against each other and against the people just
    // written (by the primary key and the seat index).
    CopyStagingWriter staged(txn_, std::make_shared<int64_t>(0));
    for (const InvalidKey& k : invalid_) {
      RETURN_IF_ERROR(staged.AddInvalidKey(k.person_id, k.line, k.key_from_email, k.seat));
    }
    RETURN_IF_ERROR(staged.Finish());
    invalid_.clear();
    return Guarded([&] {
      pqxx::result r = txn_.exec_params(absl::StrCat(
          "SELECT EXISTS (SELECT 1 FROM ", kStaging, " s WHERE EXISTS (SELECT 1 FROM "
          "roster.people p WHERE p.tenant_id = $1 AND p.person_id = s.person_id) "
          "OR EXISTS (SELECT 1 FROM roster.people p WHERE p.tenant_id = $1 AND p.seat <> '' "
          "AND p.seat = s.seat)) "
          "OR (SELECT count(*) - count(DISTINCT person_id COLLATE \"C\") FROM ", kStaging,
          " WHERE person_id <> '') > 0 "
          "OR (SELECT count(*) - count(DISTINCT seat COLLATE \"C\") FROM ", kStaging,
          " WHERE seat <> '') > 0"),
          tenant_id_);
      if (r[0][0].as<bool>()) needs_staging_ = kRepeats;
      return absl::OkStatus();
    });
  }

  int64_t rows() const override { return rows_; }
  const std::string& needs_staging() const override { return needs_staging_; }

 private:
  static constexpr char kRepeats[] = "a person key or seat repeats in the file";

  struct InvalidKey {
    std::string person_id;
    int64_t line = 0;
    bool key_from_email = false;
    std::string seat;
  };

  pqxx::work& txn_;
  const std::string tenant_id_;
  const size_t max_invalid_keys_;
  CopyLines copy_;
  std::string tenant_field_;  // the tenant_id column of every line
  std::string json_;
  int64_t rows_ = 0;
  std::vector<InvalidKey> invalid_;
  bool too_many_invalid_ = false;
  bool finished_ = false;
  std::string needs_staging_;
};

}  // namespace

absl::StatusOr<StagingTable> StagingTable::Create(pqxx::work& txn, const std::string& tenant_id) {
  RETURN_IF_ERROR(Guarded([&] {
    txn.exec(absl::StrCat(
        "CREATE TEMP TABLE ", kStaging,
        " (line bigint NOT NULL, person_id text NOT NULL, valid boolean NOT NULL, email text, "
        "first_name text NOT NULL, last_name text NOT NULL, language text NOT NULL, "
        "active boolean NOT NULL, person_type text, seat text, attributes jsonb NOT NULL, "
        "source_integration_id text NOT NULL, key_from_email boolean NOT NULL) ON COMMIT DROP"));
    // Hash joins and aggregates over the whole file stay in memory; the temp tables of this
    // transaction get a larger local buffer pool (effective when the session's first).
    txn.exec("SET LOCAL work_mem = '256MB'");
    // The set-based queries below are long but simple; JIT compiling them costs more (over a
    // second per query at 1M rows) than it saves.
    txn.exec("SET LOCAL jit = off");
    txn.exec("SET LOCAL temp_buffers = '256MB'");
    return absl::OkStatus();
  }));
  return StagingTable(txn, tenant_id);
}

absl::StatusOr<std::unique_ptr<StagingWriter>> StagingTable::OpenWriter() {
  std::unique_ptr<StagingWriter> writer;
  RETURN_IF_ERROR(Guarded([&] {
    writer = std::make_unique<CopyStagingWriter>(*txn_, valid_rows_);
    return absl::OkStatus();
  }));
  return writer;
}

absl::StatusOr<std::unique_ptr<DirectWriter>> StagingTable::OpenDirectWriter(
    size_t max_invalid_keys) {
  std::unique_ptr<DirectWriter> writer;
  RETURN_IF_ERROR(Guarded([&] {
    writer = std::make_unique<DirectPeopleWriter>(*txn_, tenant_id_, max_invalid_keys);
    return absl::OkStatus();
  }));
  return writer;
}

absl::Status StagingTable::InFileDuplicates(
    const std::function<absl::Status(const InFileDuplicate&)>& fn, int64_t* newly_invalid) {
  *newly_invalid = 0;
  duplicates_checked_ = true;
  return Guarded([&]() -> absl::Status {
    // The common case, a file without a repeated key or seat, is proven by counting distinct
    // values (a sort each, in byte order, with abbreviated keys: about half the time of
    // grouping the whole file); only when a value repeats are the duplicates looked for.
    pqxx::result repeats = txn_->exec(absl::StrCat(
        "SELECT (SELECT count(*) - count(DISTINCT person_id COLLATE \"C\") FROM ", kStaging,
        " WHERE person_id <> '') + (SELECT count(*) - count(DISTINCT seat COLLATE \"C\") FROM ",
        kStaging, " WHERE seat <> '')"));
    if (repeats[0][0].as<int64_t>() == 0) return absl::OkStatus();
    // Group first (hashed, no sort of the whole file), then rank only the repeated values.
    txn_->exec(R"sql(
CREATE TEMP TABLE roster_dups ON COMMIT DROP AS
WITH kd AS (SELECT person_id FROM roster_staging WHERE person_id <> '' GROUP BY person_id
            HAVING count(*) > 1),
     sd AS (SELECT seat FROM roster_staging WHERE seat <> '' GROUP BY seat HAVING count(*) > 1)
SELECT * FROM (
  SELECT s.line, false AS is_seat, s.person_id AS value, s.key_from_email, s.valid,
         min(s.line) OVER (PARTITION BY s.person_id) AS first_line
  FROM roster_staging s JOIN kd ON kd.person_id = s.person_id
  UNION ALL
  SELECT s.line, true, s.seat, false, s.valid, min(s.line) OVER (PARTITION BY s.seat)
  FROM roster_staging s JOIN sd ON sd.seat = s.seat
) x WHERE line > first_line
)sql");
    pqxx::result n = txn_->exec("SELECT count(*) FROM roster_dups");
    if (n[0][0].as<int64_t>() == 0) return absl::OkStatus();
    pqxx::result marked = txn_->exec(
        "UPDATE roster_staging s SET valid = false FROM (SELECT DISTINCT line FROM roster_dups "
        "WHERE valid) d WHERE s.line = d.line AND s.valid");
    *newly_invalid = marked.affected_rows();
    *valid_rows_ -= *newly_invalid;
    txn_->exec(
        "DECLARE roster_dups_cursor NO SCROLL CURSOR FOR SELECT line, first_line, is_seat, value, "
        "key_from_email FROM roster_dups ORDER BY line, is_seat, value");
    absl::Status status;
    while (status.ok()) {
      pqxx::result r = txn_->exec("FETCH 5000 FROM roster_dups_cursor");
      if (r.empty()) break;
      for (const auto& row : r) {
        InFileDuplicate d;
        d.line = row[0].as<int64_t>();
        d.first_line = row[1].as<int64_t>();
        d.seat = row[2].as<bool>();
        d.value = row[3].as<std::string>();
        d.key_from_email = row[4].as<bool>();
        status = fn(d);
        if (!status.ok()) break;
      }
    }
    txn_->exec("CLOSE roster_dups_cursor");
    return status;
  });
}

absl::Status StagingTable::ComputeDiff(const DiffSpec& spec) {
  if (diffed_) return absl::FailedPreconditionError("staging: the diff was already computed");
  std::string removal = "none";
  bool scope_all = false;
  switch (spec.mode) {
    case ApplyMode::kFullSync:
      removal = spec.policy == v1::SYNC_POLICY_DELETE ? "delete"
                : spec.policy == v1::SYNC_POLICY_KEEP ? "none"
                                                      : "deactivate";
      break;
    case ApplyMode::kUpsertOnly:
      removal = "none";
      break;
    case ApplyMode::kExact:
      removal = "delete";
      scope_all = true;
      break;
  }
  nlohmann::json cols = nlohmann::json::array();
  for (const std::string& c : spec.attribute_columns) cols.push_back(c);
  const bool replace = spec.replace_attributes || spec.mode == ApplyMode::kExact;
  RETURN_IF_ERROR(Guarded([&] {
    // A tenant without people (a first import): every valid staged row is an add and there is
    // nobody to remove or compare with, so the diff is a view of the staging table rather
    // than a copy of the whole file (the same columns and values the query below gives then).
    ASSIGN_OR_RETURN(bool has_people, RosterStore::HasPeople(*txn_, tenant_id_));
    if (!has_people) {
      txn_->exec(absl::StrCat(R"sql(
CREATE TEMP VIEW roster_diff AS
SELECT 'added'::text AS kind, line, person_id, '{}'::text[] AS changed,
  coalesce(email, '') AS email, first_name, last_name, language, active,
  coalesce(person_type, 'employee') AS person_type, coalesce(seat, '') AS seat,
  coalesce(seat <> '', false) AS seat_from_file, attributes, source_integration_id
FROM )sql",
                              kStaging, " WHERE valid"));
      diff_is_view_ = true;
      return absl::OkStatus();
    }
    // Statistics from a small sample are enough to plan the hash join.
    txn_->exec("SET LOCAL default_statistics_target = 10");
    txn_->exec(absl::StrCat("ANALYZE ", kStaging));
    // One pass: the staged rows FULL JOIN the tenant's people (one hash table on the people,
    // built once). A valid staged row merges with the person it updates (b_*: before); a
    // person no staged row names (valid or not: an invalid row's key is neither changed nor
    // removed) is absent, removed per policy within scope. The merged attributes are computed
    // once per row (OFFSET 0 keeps the subquery from being inlined into every use); when the
    // person's attributes already equal the staged ones the merge is the staged map itself.
    // Rows that change nothing are not written (Counts() derives their number); the others
    // get the list of changed fields. The join's own filter drops the common case, a staged
    // row equal to its person field by field with equal attributes, before any of the merge is
    // computed (the outer filter gives the same verdict for such a row: every compared value is
    // then non-null, and the merged attributes are the staged ones); rows it keeps are decided
    // by the outer filter. No index on the staging table is needed: a full join cannot be
    // planned as a nested loop.
    txn_->exec_params(
        R"sql(
CREATE TEMP TABLE roster_diff ON COMMIT DROP AS
SELECT CASE WHEN absent THEN CASE WHEN $4 = 'delete' THEN 'deleted' ELSE 'deactivated' END
            WHEN NOT existed THEN 'added' ELSE 'updated' END AS kind,
  line, person_id,
  CASE WHEN absent THEN CASE WHEN $4 = 'delete' THEN '{}'::text[] ELSE ARRAY['active'] END
       WHEN NOT existed THEN '{}'::text[] ELSE
    array_remove(ARRAY[
      CASE WHEN email <> b_email THEN 'email' END,
      CASE WHEN first_name <> b_first_name THEN 'first_name' END,
      CASE WHEN last_name <> b_last_name THEN 'last_name' END,
      CASE WHEN language <> b_language THEN 'language' END,
      CASE WHEN active <> b_active THEN 'active' END,
      CASE WHEN person_type <> b_person_type THEN 'person_type' END,
      CASE WHEN seat <> b_seat THEN 'seat' END,
      CASE WHEN source_integration_id <> b_source THEN 'source_integration_id' END
    ], NULL) ||
    CASE WHEN attributes = b_attributes THEN '{}'::text[] ELSE ARRAY(
      SELECT 'attr:' || k FROM jsonb_object_keys(attributes || b_attributes) AS ks(k)
      WHERE (attributes -> k) IS DISTINCT FROM (b_attributes -> k) ORDER BY 1) END
  END AS changed,
  email, first_name, last_name, language, active, person_type, seat,
  seat_from_file, attributes, source_integration_id
FROM (
  SELECT s.line IS NULL AS absent, p.person_id IS NOT NULL AS existed,
    coalesce(s.line, 0) AS line, coalesce(s.person_id, p.person_id) AS person_id,
    CASE WHEN s.line IS NULL THEN p.email ELSE coalesce(s.email, p.email, '') END AS email,
    coalesce(s.first_name, p.first_name) AS first_name,
    coalesce(s.last_name, p.last_name) AS last_name,
    coalesce(s.language, p.language) AS language,
    CASE WHEN s.line IS NOT NULL THEN s.active WHEN $4 = 'delete' THEN p.active ELSE false END
      AS active,
    CASE WHEN s.line IS NULL THEN p.person_type
         ELSE coalesce(s.person_type, p.person_type, 'employee') END AS person_type,
    CASE WHEN s.line IS NULL THEN p.seat ELSE coalesce(s.seat, p.seat, '') END AS seat,
    coalesce(s.seat <> '', false) AS seat_from_file,
    CASE WHEN s.line IS NULL THEN p.attributes
         WHEN $2::boolean OR p.person_id IS NULL OR p.attributes = s.attributes THEN s.attributes
         ELSE (p.attributes - ARRAY(SELECT jsonb_array_elements_text($3::jsonb))) || s.attributes
    END AS attributes,
    coalesce(s.source_integration_id, p.source_integration_id) AS source_integration_id,
    p.email AS b_email, p.first_name AS b_first_name, p.last_name AS b_last_name,
    p.language AS b_language, p.active AS b_active, p.person_type AS b_person_type,
    p.seat AS b_seat, coalesce(p.attributes, '{}'::jsonb) AS b_attributes,
    p.source_integration_id AS b_source
  FROM roster_staging s
  FULL JOIN (SELECT * FROM roster.people WHERE tenant_id = $1) p ON p.person_id = s.person_id
  WHERE (s.valid AND NOT (p.person_id IS NOT NULL
           AND coalesce(s.email, p.email) = p.email AND s.first_name = p.first_name
           AND s.last_name = p.last_name AND s.language = p.language AND s.active = p.active
           AND coalesce(s.person_type, p.person_type) = p.person_type
           AND coalesce(s.seat, p.seat) = p.seat
           AND s.source_integration_id = p.source_integration_id
           AND s.attributes = p.attributes))
     OR (s.line IS NULL AND $4 <> 'none'
         AND ($6::boolean OR p.source_integration_id = $5) AND ($4 = 'delete' OR p.active))
  OFFSET 0
) m
WHERE absent OR NOT (existed AND email = b_email AND first_name = b_first_name
    AND last_name = b_last_name AND language = b_language AND active = b_active
    AND person_type = b_person_type AND seat = b_seat AND source_integration_id = b_source
    AND attributes = b_attributes)
)sql",
        tenant_id_, replace, cols.dump(), removal, spec.integration_id, scope_all);
    // By person in byte order: the fallback of SeatConflicts' anti-join (which names the "C"
    // collation). The index previews read by (kind, line) is built when first needed
    // (EnsureDiffIndexes): an applied import needs none.
    txn_->exec("CREATE INDEX ON roster_diff ((person_id COLLATE \"C\"))");
    txn_->exec("ANALYZE roster_diff");
    return absl::OkStatus();
  }));
  diffed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<DiffCounts> StagingTable::Counts() {
  DiffCounts counts;
  RETURN_IF_ERROR(Guarded([&] {
    // The valid staged rows were counted as they were written (less those InFileDuplicates
    // marked invalid): no scan of the file. The view (a first import) holds every one of them
    // as an add and nothing else.
    const int64_t staged = *valid_rows_;
    if (diff_is_view_) {
      counts.added = staged;
      return absl::OkStatus();
    }
    pqxx::result r = txn_->exec("SELECT kind, count(*) FROM roster_diff GROUP BY kind");
    for (const auto& row : r) {
      const std::string kind = row[0].as<std::string>();
      const int64_t n = row[1].as<int64_t>();
      if (kind == "added") counts.added = n;
      if (kind == "updated") counts.updated = n;
      if (kind == "deleted") counts.deleted = n;
      if (kind == "deactivated") counts.deactivated = n;
    }
    // Every valid staged row is one person: added, updated, or else unchanged.
    counts.unchanged = staged - counts.added - counts.updated;
    return absl::OkStatus();
  }));
  return counts;
}

absl::StatusOr<std::vector<v1::RowError>> StagingTable::SeatConflicts(bool removals_held,
                                                                      int limit) {
  std::vector<v1::RowError> out;
  // A first import (the view), its in-file repeats already invalid: the valid staged seats are
  // unique and nobody else holds one, so there is nothing to look for.
  if (diff_is_view_ && duplicates_checked_) return out;
  RETURN_IF_ERROR(Guarded([&] {
    pqxx::result r = txn_->exec_params(
        R"sql(
WITH f AS (
  SELECT person_id, seat, line, seat_from_file FROM roster_diff
  WHERE seat <> '' AND (kind <> 'deleted' OR $2::boolean)
  UNION ALL
  SELECT p.person_id, p.seat, 0, false FROM roster.people p
  WHERE p.tenant_id = $1 AND p.seat <> ''
    AND NOT EXISTS (SELECT 1 FROM roster_diff d
                    WHERE (d.person_id COLLATE "C") = (p.person_id COLLATE "C"))
)
SELECT a.line, a.seat, min(b.person_id) FROM f a JOIN f b ON a.seat = b.seat
  AND a.person_id <> b.person_id
WHERE a.seat_from_file GROUP BY a.line, a.seat ORDER BY a.line LIMIT $3
)sql",
        tenant_id_, removals_held, limit);
    for (const auto& row : r) {
      v1::RowError e;
      e.set_line(row[0].as<int64_t>());
      e.set_column("seat");
      e.set_value(row[1].as<std::string>());
      e.set_reason(absl::StrCat("seat \"", row[1].as<std::string>(),
                                "\" is already held by person \"", row[2].as<std::string>(),
                                "\""));
      out.push_back(std::move(e));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status StagingTable::EnsureDiffIndexes() {
  if (!diffed_) return absl::FailedPreconditionError("staging: ComputeDiff first");
  if (diff_indexed_) return absl::OkStatus();
  RETURN_IF_ERROR(Guarded([&] {
    // The view of a first import reads the staging table (where every row is an add).
    txn_->exec(diff_is_view_ ? absl::StrCat("CREATE INDEX ON ", kStaging, " (line, person_id)")
                             : "CREATE INDEX ON roster_diff (kind, line, person_id)");
    return absl::OkStatus();
  }));
  diff_indexed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::PersonChange>> StagingTable::Examples(int per_kind) {
  std::vector<v1::PersonChange> out;
  if (per_kind <= 0) return out;
  RETURN_IF_ERROR(EnsureDiffIndexes());
  const std::vector<std::string> kinds = {"added", "updated", "deactivated", "deleted"};
  RETURN_IF_ERROR(Guarded([&] {
    for (const std::string& kind : kinds) {
      pqxx::result r = txn_->exec_params(
          absl::StrCat(ChangeSelect(), "WHERE d.kind = $2 ORDER BY d.line, d.person_id LIMIT $3"),
          tenant_id_, kind, per_kind);
      for (const auto& row : r) out.push_back(ChangeFromRow(row, tenant_id_));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status StagingTable::StreamDiff(
    const std::function<absl::Status(const v1::PersonChange&)>& fn) {
  RETURN_IF_ERROR(EnsureDiffIndexes());
  return Guarded([&]() -> absl::Status {
    txn_->exec_params(
        absl::StrCat("DECLARE roster_diff_cursor NO SCROLL CURSOR FOR ", ChangeSelect(),
                     "ORDER BY CASE d.kind WHEN 'added' THEN 0 "
                     "WHEN 'updated' THEN 1 WHEN 'deactivated' THEN 2 ELSE 3 END, d.line, "
                     "d.person_id"),
        tenant_id_);
    absl::Status status;
    while (status.ok()) {
      pqxx::result r = txn_->exec("FETCH 2000 FROM roster_diff_cursor");
      if (r.empty()) break;
      for (const auto& row : r) {
        status = fn(ChangeFromRow(row, tenant_id_));
        if (!status.ok()) break;
      }
    }
    txn_->exec("CLOSE roster_diff_cursor");
    return status;
  });
}

absl::Status StagingTable::RenderDiffCsv(
    const std::function<absl::Status(std::string_view)>& write) {
  RETURN_IF_ERROR(EnsureDiffIndexes());
  std::string buf = absl::StrCat(kDiffCsvHeader, "\r\n");
  // Lines of the file: kept in the cursor's order; the line is not part of PersonChange, so it
  // is looked up through the examples' order: use a dedicated query instead.
  RETURN_IF_ERROR(Guarded([&]() -> absl::Status {
    txn_->exec(absl::StrCat(
        "DECLARE roster_diff_csv NO SCROLL CURSOR FOR SELECT d.kind, d.line, "
        "array_to_string(d.changed, ' '), ",
        kDiffPersonColumns,
        " FROM roster_diff d ORDER BY CASE d.kind WHEN 'added' THEN 0 "
        "WHEN 'updated' THEN 1 WHEN 'deactivated' THEN 2 ELSE 3 END, d.line, d.person_id"));
    absl::Status status;
    while (status.ok()) {
      pqxx::result r = txn_->exec("FETCH 2000 FROM roster_diff_csv");
      if (r.empty()) break;
      for (const auto& row : r) {
        v1::Person p = DiffPersonFromRow(row, 3, tenant_id_);
        buf += CsvLine({row[0].as<std::string>(), p.person_id(),
                        row[1].as<int64_t>() > 0 ? row[1].as<std::string>() : "",
                        row[2].as<std::string>(), p.email(), p.first_name(), p.last_name(),
                        p.language(), p.active() ? "true" : "false",
                        PersonTypeName(p.person_type()), p.seat(), SortedAttributesJson(p),
                        p.source_integration_id()});
        if (buf.size() >= kFlushBytes) {
          status = write(buf);
          buf.clear();
          if (!status.ok()) break;
        }
      }
    }
    txn_->exec("CLOSE roster_diff_csv");
    return status;
  }));
  if (!buf.empty()) return write(buf);
  return absl::OkStatus();
}

absl::Status StagingTable::Apply(const ApplyOptions& options) {
  if (!diffed_) return absl::FailedPreconditionError("staging: ComputeDiff first");
  const std::string changed_kinds =
      options.hold_removals ? "('updated')" : "('updated', 'deactivated')";
  return Guarded([&] {
    if (options.hold_removals) {
      txn_->exec_params(
          "INSERT INTO roster.held_removals (import_id, tenant_id, person_id, action, "
          "person_updated_at) SELECT $2, $1, d.person_id, d.kind, p.updated_at "
          "FROM roster_diff d JOIN roster.people p ON p.tenant_id = $1 "
          "AND p.person_id = d.person_id WHERE d.kind IN ('deleted', 'deactivated')",
          tenant_id_, options.import_id);
    } else {
      txn_->exec_params(
          "DELETE FROM roster.people p USING roster_diff d WHERE p.tenant_id = $1 "
          "AND p.person_id = d.person_id AND d.kind = 'deleted'",
          tenant_id_);
    }
    // Seats may move between people within one change: release every seat that changes hands
    // first so that the partial unique index never sees a transient duplicate. (Only people
    // who hold a seat can release one: the seat index finds them without a scan of the roster.)
    txn_->exec_params(absl::StrCat("UPDATE roster.people p SET seat = '' FROM roster_diff d "
                                   "WHERE p.tenant_id = $1 AND p.seat <> '' "
                                   "AND p.person_id = d.person_id "
                                   "AND p.seat <> d.seat AND d.kind IN ",
                                   changed_kinds),
                      tenant_id_);
    txn_->exec_params(
        absl::StrCat("UPDATE roster.people p SET email = d.email, first_name = d.first_name, "
                     "last_name = d.last_name, language = d.language, active = d.active, "
                     "person_type = d.person_type, seat = d.seat, attributes = d.attributes, "
                     "source_integration_id = d.source_integration_id, updated_at = now() "
                     "FROM roster_diff d WHERE p.tenant_id = $1 AND p.person_id = d.person_id "
                     "AND d.kind IN ",
                     changed_kinds),
        tenant_id_);
    txn_->exec_params(
        "INSERT INTO roster.people (tenant_id, person_id, email, first_name, last_name, "
        "language, active, person_type, seat, attributes, source_integration_id, updated_at) "
        "SELECT $1, person_id, email, first_name, last_name, language, active, person_type, "
        "seat, attributes, source_integration_id, now() FROM roster_diff WHERE kind = 'added'",
        tenant_id_);
    return absl::OkStatus();
  });
}

absl::Status StreamSnapshot(pqxx::transaction_base& txn, const std::string& tenant_id,
                            const std::function<absl::Status(std::string_view)>& write,
                            int batch) {
  std::string buf = absl::StrCat(kSnapshotHeader, "\r\n");
  std::string json;
  std::vector<std::pair<std::string_view, std::string_view>> kv;
  RETURN_IF_ERROR(Guarded([&]() -> absl::Status {
    txn.exec_params(
        "DECLARE roster_snapshot_cursor NO SCROLL CURSOR FOR SELECT d.person_id, d.email, "
        "d.first_name, d.last_name, d.language, d.active, d.person_type, d.seat, "
        "d.attributes::text, d.source_integration_id FROM roster.people d "
        "WHERE d.tenant_id = $1 ORDER BY d.person_id",
        tenant_id);
    absl::Status status;
    const std::string fetch = absl::StrCat("FETCH ", batch, " FROM roster_snapshot_cursor");
    // One fetch ahead: the server reads the next batch while this one is rendered and written
    // (a plain FETCH loop leaves one side idle at any time). At most two batches in memory.
    {
      pqxx::pipeline ahead(txn);
      pqxx::pipeline::query_id next = ahead.insert(fetch);
      while (status.ok()) {
        pqxx::result r = ahead.retrieve(next);
        if (r.empty()) break;
        next = ahead.insert(fetch);
        for (const auto& row : r) {
          if (!AppendSnapshotLineFast(row, &buf, &json, &kv)) {
            buf += SnapshotLine(DiffPersonFromRow(row, 0, tenant_id));
          }
          if (buf.size() >= kFlushBytes) {
            status = write(buf);
            buf.clear();
            if (!status.ok()) break;
          }
        }
      }
      ahead.complete();
    }
    txn.exec("CLOSE roster_snapshot_cursor");
    return status;
  }));
  if (!buf.empty()) return write(buf);
  return absl::OkStatus();
}

absl::StatusOr<HeldApproval> ApplyHeldRemovals(pqxx::work& txn, const std::string& tenant_id,
                                               const std::string& import_id) {
  HeldApproval out;
  RETURN_IF_ERROR(Guarded([&] {
    pqxx::result total = txn.exec_params(
        "SELECT count(*) FROM roster.held_removals WHERE tenant_id = $1 AND import_id = $2",
        tenant_id, import_id);
    pqxx::result del = txn.exec_params(
        "DELETE FROM roster.people p USING roster.held_removals h WHERE h.tenant_id = $1 "
        "AND h.import_id = $2 AND h.action = 'deleted' AND p.tenant_id = h.tenant_id "
        "AND p.person_id = h.person_id AND p.updated_at = h.person_updated_at",
        tenant_id, import_id);
    pqxx::result deact = txn.exec_params(
        "UPDATE roster.people p SET active = false, updated_at = now() "
        "FROM roster.held_removals h WHERE h.tenant_id = $1 AND h.import_id = $2 "
        "AND h.action = 'deactivated' AND p.tenant_id = h.tenant_id "
        "AND p.person_id = h.person_id AND p.updated_at = h.person_updated_at AND p.active",
        tenant_id, import_id);
    out.deleted = del.affected_rows();
    out.deactivated = deact.affected_rows();
    out.skipped = total[0][0].as<int64_t>() - out.deleted - out.deactivated;
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace rostersync::roster
