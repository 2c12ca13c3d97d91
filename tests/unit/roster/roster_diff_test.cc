// Diff logic, fed by ReadRosterFile over an in-memory archive.
#include "services/roster/roster_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/roster/importer.h"
#include "tests/unit/roster/fake_archive.h"

namespace rostersync::roster {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Person P(std::string id, std::string first, bool active = true, std::string seat = "",
             std::string integration = "int_1") {
  v1::Person p;
  p.set_tenant_id("t1");
  p.set_person_id(std::move(id));
  p.set_email(p.person_id() + "@example.com");
  p.set_first_name(std::move(first));
  p.set_last_name("Last");
  p.set_language("en");
  p.set_active(active);
  p.set_person_type(v1::PERSON_TYPE_EMPLOYEE);
  p.set_seat(std::move(seat));
  p.set_source_integration_id(std::move(integration));
  return p;
}

class RosterDiffTest : public ::testing::Test {
 protected:
  std::vector<PersonRow> Rows(const std::string& csv) {
    std::string id = archive_.Add("t1", v1::FILE_KIND_SOURCE, "roster.csv", csv);
    auto parsed = ReadRosterFile(archive_, "t1", id, {});
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->rejection, "");
    return parsed->rows;
  }

  testing::FakeArchive archive_;
};

std::vector<std::string> Ids(const std::vector<v1::Person>& people) {
  std::vector<std::string> out;
  for (const auto& p : people) out.push_back(p.person_id());
  return out;
}

constexpr char kHeader[] = "person_id,email,first_name,last_name,language,active\n";

TEST_F(RosterDiffTest, FirstImportAddsEveryone) {
  auto rows = Rows(std::string(kHeader) +
                   "1,1@example.com,Ann,Last,en,y\n"
                   "2,2@example.com,Bob,Last,en,y\n");
  RosterDiff d = ComputeDiff({}, rows, v1::SYNC_POLICY_UNSPECIFIED, "int_1");
  EXPECT_THAT(Ids(d.added), ElementsAre("1", "2"));
  EXPECT_EQ(d.added[0].source_integration_id(), "int_1");
  EXPECT_EQ(d.added[0].person_type(), v1::PERSON_TYPE_EMPLOYEE);
  EXPECT_THAT(d.updated, IsEmpty());
  EXPECT_THAT(d.errors, IsEmpty());
}

TEST_F(RosterDiffTest, UpdatedUnchangedAndAbsentPerPolicy) {
  std::vector<v1::Person> current = {P("1", "Ann"), P("2", "Bob"), P("3", "Cy"),
                                     P("4", "Di", /*active=*/false),
                                     P("5", "Ed", true, "", "other_integration")};
  auto rows = Rows(std::string(kHeader) +
                   "1,1@example.com,Ann,Last,en,y\n"
                   "2,2@example.com,Robert,Last,en,y\n"
                   "6,6@example.com,Fay,Last,en,n\n");
  {
    RosterDiff d = ComputeDiff(current, rows, v1::SYNC_POLICY_UNSPECIFIED, "int_1");
    EXPECT_EQ(d.unchanged, 1);
    EXPECT_THAT(Ids(d.updated), ElementsAre("2"));
    EXPECT_EQ(d.updated[0].first_name(), "Robert");
    EXPECT_THAT(Ids(d.added), ElementsAre("6"));
    // 3 is deactivated; 4 is already inactive; 5 belongs to another integration.
    EXPECT_THAT(Ids(d.deactivated), ElementsAre("3"));
    EXPECT_FALSE(d.deactivated[0].active());
    EXPECT_THAT(d.deleted, IsEmpty());
  }
  {
    RosterDiff d = ComputeDiff(current, rows, v1::SYNC_POLICY_DELETE, "int_1");
    EXPECT_THAT(d.deleted, ElementsAre("3", "4"));
    EXPECT_THAT(d.deactivated, IsEmpty());
  }
  {
    RosterDiff d = ComputeDiff(current, rows, v1::SYNC_POLICY_KEEP, "int_1");
    EXPECT_THAT(d.deleted, IsEmpty());
    EXPECT_THAT(d.deactivated, IsEmpty());
  }
}

TEST_F(RosterDiffTest, SeatSurvivesWhenTheFileHasNoSeat) {
  std::vector<v1::Person> current = {P("1", "Ann", true, "S-1")};
  auto rows = Rows(std::string(kHeader) + "1,1@example.com,Anne,Last,en,y\n");
  RosterDiff d = ComputeDiff(current, rows, v1::SYNC_POLICY_DELETE, "int_1");
  ASSERT_EQ(d.updated.size(), 1u);
  EXPECT_EQ(d.updated[0].seat(), "S-1");
}

TEST_F(RosterDiffTest, EmptySeatCellKeepsSeatNonEmptyAssigns) {
  std::vector<v1::Person> current = {P("1", "Ann", true, "S-1"), P("2", "Bob", true, "S-2")};
  auto rows = Rows(
      "person_id,email,first_name,last_name,language,active,seat\n"
      "1,1@example.com,Ann,Last,en,y,\n"
      "2,2@example.com,Bob,Last,en,y,S-9\n");
  RosterDiff d = ComputeDiff(current, rows, v1::SYNC_POLICY_DELETE, "int_1");
  EXPECT_EQ(d.unchanged, 1);
  ASSERT_EQ(d.updated.size(), 1u);
  EXPECT_EQ(d.updated[0].seat(), "S-9");
  EXPECT_THAT(d.errors, IsEmpty());
}

TEST_F(RosterDiffTest, SeatHeldBySomeoneElseIsARowError) {
  std::vector<v1::Person> current = {P("1", "Ann", true, "S-1"), P("2", "Bob")};
  auto rows = Rows(
      "person_id,email,first_name,last_name,language,active,seat\n"
      "2,2@example.com,Bob,Last,en,y,S-1\n");
  RosterDiff keep = ComputeDiff(current, rows, v1::SYNC_POLICY_DEACTIVATE, "int_1");
  ASSERT_EQ(keep.errors.size(), 1u);
  EXPECT_EQ(keep.errors[0].line(), 2);
  EXPECT_THAT(keep.errors[0].reason(), HasSubstr("held by person \"1\""));
  // With DELETE, person 1 leaves and releases the seat.
  RosterDiff del = ComputeDiff(current, rows, v1::SYNC_POLICY_DELETE, "int_1");
  EXPECT_THAT(del.errors, IsEmpty());
  EXPECT_THAT(del.deleted, ElementsAre("1"));
}

TEST_F(RosterDiffTest, AttributesMergePerColumn) {
  v1::Person ann = P("1", "Ann");
  (*ann.mutable_attributes())["dept"] = "Sales";
  (*ann.mutable_attributes())["badge"] = "B7";
  (*ann.mutable_attributes())["cost"] = "C1";
  auto rows = Rows(
      "person_id,email,first_name,last_name,language,active,attr:dept,attr:cost\n"
      "1,1@example.com,Ann,Last,en,y,R&D,\n");
  RosterDiff d = ComputeDiff({ann}, rows, v1::SYNC_POLICY_DELETE, "int_1");
  ASSERT_EQ(d.updated.size(), 1u);
  const auto& attrs = d.updated[0].attributes();
  EXPECT_EQ(attrs.at("dept"), "R&D");
  EXPECT_EQ(attrs.at("badge"), "B7");  // no column: kept
  EXPECT_EQ(attrs.count("cost"), 0u);  // empty cell: removed
}

TEST_F(RosterDiffTest, UpdatedAtIsIgnored) {
  v1::Person a = P("1", "Ann");
  v1::Person b = a;
  b.mutable_updated_at()->set_seconds(12345);
  EXPECT_TRUE(SamePerson(a, b));
  b.set_language("fr");
  EXPECT_FALSE(SamePerson(a, b));
}

TEST_F(RosterDiffTest, ReadRosterFileInSmallChunks) {
  archive_.set_chunk_size(3);
  auto rows = Rows(std::string("\xEF\xBB\xBF") + kHeader +
                   "1,1@example.com,\"Ann\nMarie\",Last,en,y\r\n2,2@example.com,Bob,Last,en,y\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].person.first_name(), "Ann\nMarie");
  EXPECT_EQ(rows[1].line, 4);
}

TEST_F(RosterDiffTest, ReadRosterFileRejections) {
  auto read = [&](const std::string& csv) {
    std::string id = archive_.Add("t1", v1::FILE_KIND_SOURCE, "bad.csv", csv);
    auto parsed = ReadRosterFile(archive_, "t1", id, {});
    EXPECT_TRUE(parsed.ok());
    return *parsed;
  };
  ParsedFile missing = read("person_id,first_name,last_name,active\n1,A,B,y\n");
  EXPECT_THAT(missing.rejection, HasSubstr("bad.csv"));
  EXPECT_THAT(missing.rejection, HasSubstr("\"language\""));

  ParsedFile invalid = read(std::string(kHeader) +
                            "1,x,A,B,en,y\n2,2@e.com,A,B,en,y\n"
                            "3,3@e.com,A,B,zzzz,y\n");
  EXPECT_EQ(invalid.rows_read, 3);
  EXPECT_EQ(invalid.rejected_rows, 2);
  EXPECT_THAT(invalid.rows, IsEmpty());
  ASSERT_EQ(invalid.errors.size(), 2u);
  EXPECT_EQ(invalid.errors[0].line(), 2);
  EXPECT_EQ(invalid.errors[1].line(), 4);
  EXPECT_THAT(invalid.rejection, HasSubstr("2 of 3 rows are invalid"));

  ParsedFile unterminated = read(std::string(kHeader) + "1,\"x,A,B,en,y\n");
  EXPECT_THAT(unterminated.rejection, HasSubstr("line 2"));

  ParsedFile empty = read("");
  EXPECT_THAT(empty.rejection, HasSubstr("no header row"));

  std::string other = archive_.Add("t2", v1::FILE_KIND_SOURCE, "x.csv", kHeader);
  EXPECT_TRUE(absl::IsNotFound(ReadRosterFile(archive_, "t1", other, {}).status()));
}

TEST_F(RosterDiffTest, ManyInvalidRowsKeepTheFirstHundredErrors) {
  std::string csv = kHeader;
  for (int i = 0; i < 250; ++i) csv += std::to_string(i) + ",bad,A,B,en,y\n";
  std::string id = archive_.Add("t1", v1::FILE_KIND_SOURCE, "many.csv", csv);
  auto parsed = ReadRosterFile(archive_, "t1", id, {});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->rejected_rows, 250);
  EXPECT_EQ(parsed->errors.size(), static_cast<size_t>(kMaxStoredRowErrors));
}

}  // namespace
}  // namespace rostersync::roster
