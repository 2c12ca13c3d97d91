#include "services/roster/roster_csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "services/roster/importer.h"
#include "services/roster/roster_csv.h"
#include "tests/unit/roster/fake_archive.h"

namespace rostersync::roster {
namespace {

using ::testing::HasSubstr;

std::vector<v1::Person> Sample() {
  v1::Person a;
  a.set_tenant_id("t1");
  a.set_person_id("A1");
  a.set_email("ann@example.com");
  a.set_first_name("Ann, \"Annie\"");
  a.set_last_name(" Lee\r\nSecond line ");
  a.set_language("en-US");
  a.set_active(true);
  a.set_person_type(v1::PERSON_TYPE_PART_TIME);
  a.set_seat("S-1");
  (*a.mutable_attributes())["dept"] = "R&D";
  (*a.mutable_attributes())["note"] = "x,\"y\"\nz";
  a.set_source_integration_id("int_1");
  v1::Person b;
  b.set_tenant_id("t1");
  b.set_person_id("B2");
  b.set_first_name("Bob");
  b.set_last_name("Ng");
  b.set_language("fr");
  b.set_active(false);
  b.set_person_type(v1::PERSON_TYPE_OTHER);
  return {a, b};
}

std::string Render(const std::vector<v1::Person>& people, bool snapshot) {
  std::string out;
  auto write = [&](std::string_view s) {
    out.append(s);
    return absl::OkStatus();
  };
  absl::Status s = snapshot ? RenderSnapshot(people, write) : RenderExport(people, write);
  EXPECT_TRUE(s.ok());
  return out;
}

TEST(RosterCsvTest, SnapshotRoundTripsExactly) {
  std::vector<v1::Person> people = Sample();
  std::string csv = Render(people, true);
  EXPECT_EQ(csv.rfind(std::string(kSnapshotHeader) + "\r\n", 0), 0u);
  auto back = ParseSnapshot(csv, "t1");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), people.size());
  for (size_t i = 0; i < people.size(); ++i) {
    EXPECT_TRUE(SamePerson((*back)[i], people[i])) << (*back)[i].DebugString();
  }
}

TEST(RosterCsvTest, EmptySnapshotIsJustTheHeader) {
  std::string csv = Render({}, true);
  EXPECT_EQ(csv, std::string(kSnapshotHeader) + "\r\n");
  auto back = ParseSnapshot(csv, "t1");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

TEST(RosterCsvTest, ParseSnapshotRefusesOtherFiles) {
  EXPECT_FALSE(ParseSnapshot("person_id,email\n1,a\n", "t1").ok());
  std::string csv = std::string(kSnapshotHeader) + "\r\n1,,A,B,en,maybe,employee,,{},\r\n";
  auto bad = ParseSnapshot(csv, "t1");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("line 2"));
}

TEST(RosterCsvTest, ExportHasAttrColumnsAndImportsBack) {
  std::string csv = Render(Sample(), false);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "person_id,email,first_name,last_name,language,active,person_type,seat,attr:dept,"
            "attr:note");
  testing::FakeArchive archive;
  std::string id = archive.Add("t1", v1::FILE_KIND_SOURCE, "export.csv", csv);
  std::vector<PersonRow> rows;
  RowSink sink;
  sink.row = [&](const PersonRow& row) {
    rows.push_back(row);
    return absl::OkStatus();
  };
  sink.invalid = [](const InvalidRow&, const std::vector<v1::RowError>&) {
    return absl::InternalError("an exported row did not validate");
  };
  auto parsed = ScanRosterFile(archive, "t1", id, {}, {}, sink);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->rejection, "") << parsed->rejection;
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].person.seat(), "S-1");
  EXPECT_EQ(rows[0].person.attributes().at("note"), "x,\"y\"\nz");
  EXPECT_EQ(rows[1].person.person_type(), v1::PERSON_TYPE_OTHER);
}

TEST(RosterCsvTest, CsvField) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField(" padded"), "\" padded\"");
  EXPECT_EQ(CsvField(""), "");
}

TEST(SnapshotRecordTest, LineRoundTripsAndBadRecordsNameTheLine) {
  for (const v1::Person& p : Sample()) {
    CsvReader reader;
    std::vector<CsvRecord> records;
    ASSERT_TRUE(reader.Feed(SnapshotLine(p), &records).ok());
    ASSERT_TRUE(reader.Finish(&records).ok());
    ASSERT_EQ(records.size(), 1u);
    auto back = ParseSnapshotRecord(records[0], "t1");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(SamePerson(*back, p)) << back->DebugString();
  }
  CsvRecord header;
  header.fields = absl::StrSplit(kSnapshotHeader, ',');
  EXPECT_TRUE(CheckSnapshotHeader(header.fields).ok());
  header.fields.pop_back();
  EXPECT_FALSE(CheckSnapshotHeader(header.fields).ok());

  CsvRecord bad;
  bad.line = 7;
  bad.fields = {"A", "", "Ann", "Lee", "en", "true", "robot", "", "{}", ""};
  auto r = ParseSnapshotRecord(bad, "t1");
  EXPECT_THAT(r.status().message(), HasSubstr("line 7: unknown person_type"));
  bad.fields[6] = "employee";
  bad.fields[8] = "{\"a\": 1}";
  EXPECT_THAT(ParseSnapshotRecord(bad, "t1").status().message(), HasSubstr("non-string"));
  bad.fields[8] = "{}";
  bad.fields[0] = "";
  EXPECT_THAT(ParseSnapshotRecord(bad, "t1").status().message(), HasSubstr("person_id"));
  bad.fields.pop_back();
  EXPECT_THAT(ParseSnapshotRecord(bad, "t1").status().message(),
              HasSubstr("wrong number of fields"));
}

}  // namespace
}  // namespace rostersync::roster
