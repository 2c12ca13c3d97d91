#include "services/roster/field_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rostersync::roster {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kCanonicalHeader = {"person_id", "email",    "first_name",
                                                   "last_name", "language", "active"};

TEST(FieldMappingTest, EmptyMapUsesCanonicalHeaders) {
  auto m = FieldMapping::Create({},
                                {" Person_ID ", "EMAIL", "first_name", "last_name", "language",
                                 "active", "seat", "attr:Department", "junk"},
                                "roster.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->column(Field::kPersonId), 0);
  EXPECT_EQ(m->column(Field::kEmail), 1);
  EXPECT_EQ(m->column(Field::kSeat), 6);
  EXPECT_EQ(m->column(Field::kPersonType), -1);
  ASSERT_EQ(m->attribute_columns().size(), 1u);
  EXPECT_EQ(m->attribute_columns()[0].attribute, "Department");
  EXPECT_EQ(m->attribute_columns()[0].index, 7);
  EXPECT_EQ(m->header_width(), 9u);
}

TEST(FieldMappingTest, HeaderMapMatchesTrimmedAndCaseFolded) {
  std::map<std::string, std::string> header_map = {
      {"Employee ID", "person_id"},   {"E-Mail", "email"},        {"Given Name", "first_name"},
      {"Surname", "last_name"},       {"Locale", "language"},     {"Status", "active"},
      {"Worker Type", "person_type"}, {"Dept", "attr:department"}};
  auto m = FieldMapping::Create(header_map,
                                {"  employee id", "e-mail ", "GIVEN NAME", "surname", "locale",
                                 "status", "worker type", "dept", "person_id"},
                                "hr.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->column(Field::kPersonId), 0);  // not the unmapped "person_id" column
  EXPECT_EQ(m->column(Field::kPersonType), 6);
  ASSERT_EQ(m->attribute_columns().size(), 1u);
  EXPECT_EQ(m->attribute_columns()[0].attribute, "department");
  EXPECT_EQ(m->header(0), "employee id");
}

TEST(FieldMappingTest, EmailWithoutPersonIdIsEnough) {
  auto m =
      FieldMapping::Create({}, {"email", "first_name", "last_name", "language", "active"}, "f.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->has(Field::kPersonId));
}

TEST(FieldMappingTest, MissingRequiredColumnNamesFileAndColumn) {
  auto m = FieldMapping::Create({}, {"person_id", "email", "first_name", "last_name", "active"},
                                "roster_20261121.csv");
  ASSERT_TRUE(absl::IsInvalidArgument(m.status()));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("roster_20261121.csv"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("missing required column \"language\""));
}

TEST(FieldMappingTest, MissingMappedColumnNamesTheSourceHeader) {
  auto m = FieldMapping::Create({{"Lang", "language"}, {"ID", "person_id"}}, {"ID"}, "f.csv");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("(mapped from \"Lang\")"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("\"first_name\""));
}

TEST(FieldMappingTest, NeitherEmailNorPersonId) {
  auto m = FieldMapping::Create({}, {"first_name", "last_name", "language", "active"}, "f.csv");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("\"email\" or \"person_id\""));
}

TEST(FieldMappingTest, DuplicateHeaderIsRejected) {
  std::vector<std::string> header = kCanonicalHeader;
  header.push_back(" EMAIL ");
  auto m = FieldMapping::Create({}, header, "dup.csv");
  ASSERT_TRUE(absl::IsInvalidArgument(m.status()));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("dup.csv"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("duplicate column \"EMAIL\""));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("columns 2 and 7"));
}

TEST(FieldMappingTest, TwoSourcesForOneFieldAreRejected) {
  std::vector<std::string> header = kCanonicalHeader;
  header.push_back("Mail");
  std::map<std::string, std::string> map = {
      {"person_id", "person_id"}, {"email", "email"},       {"first_name", "first_name"},
      {"last_name", "last_name"}, {"language", "language"}, {"active", "active"},
      {"mail", "email"}};
  auto m = FieldMapping::Create(map, header, "f.csv");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("both map to \"email\""));
}

TEST(FieldMappingTest, UnknownCanonicalFieldIsRejected) {
  auto m = FieldMapping::Create({{"X", "favourite_colour"}}, kCanonicalHeader, "f.csv");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("favourite_colour"));
}

TEST(FieldMappingTest, BlankHeadersAreIgnored) {
  std::vector<std::string> header = kCanonicalHeader;
  header.push_back("");
  header.push_back(" ");
  auto m = FieldMapping::Create({}, header, "f.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->header_width(), 8u);
}

TEST(FieldMappingTest, ParseCanonicalField) {
  std::string attr;
  EXPECT_EQ(ParseCanonicalField("Attr: Cost Center ", &attr), Field::kAttribute);
  EXPECT_EQ(attr, "Cost Center");
  EXPECT_EQ(ParseCanonicalField("attr:", &attr), std::nullopt);
  EXPECT_EQ(ParseCanonicalField("SEAT", &attr), Field::kSeat);
}

}  // namespace
}  // namespace rostersync::roster
