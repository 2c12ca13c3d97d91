#include "services/roster/person_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rostersync::roster {
namespace {

using ::testing::HasSubstr;

FieldMapping Mapping(std::vector<std::string> header) {
  auto m = FieldMapping::Create({}, header, "t.csv");
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

const std::vector<std::string> kHeader = {"person_id",   "email",    "first_name",
                                          "last_name",   "language", "active",
                                          "person_type", "seat",     "attr:dept"};

CsvRecord Rec(int64_t line, std::vector<std::string> fields) { return {line, std::move(fields)}; }

TEST(PersonValidationTest, ValidRowIsNormalized) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  auto row = v.Validate(
      Rec(2, {" E1 ", "Ann@Example.com", "Ann", "Lee", "pt_br", "Yes", "Part-Time", "S-1", "R&D"}),
      &errors);
  ASSERT_TRUE(row.has_value()) << (errors.empty() ? "" : errors[0].reason());
  EXPECT_EQ(row->line, 2);
  EXPECT_EQ(row->person.person_id(), "E1");
  EXPECT_EQ(row->person.email(), "Ann@Example.com");
  EXPECT_EQ(row->person.language(), "pt-BR");
  EXPECT_TRUE(row->person.active());
  EXPECT_EQ(row->person.person_type(), v1::PERSON_TYPE_PART_TIME);
  EXPECT_EQ(row->person.seat(), "S-1");
  EXPECT_EQ(row->person.attributes().at("dept"), "R&D");
  EXPECT_TRUE(row->has_seat && row->has_person_type && row->has_email);
}

TEST(PersonValidationTest, KeyIsLowercasedEmailWithoutPersonId) {
  FieldMapping m = Mapping({"email", "first_name", "last_name", "language", "active"});
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  auto row = v.Validate(Rec(2, {"Bob@X.org", "Bob", "B", "en", "1"}), &errors);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->person.person_id(), "bob@x.org");
  EXPECT_EQ(row->person.person_type(), v1::PERSON_TYPE_EMPLOYEE);
  EXPECT_FALSE(row->has_person_type);
}

TEST(PersonValidationTest, EachBadFieldIsAnErrorWithLineColumnValue) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  auto row = v.Validate(
      Rec(7, {"E1", "not-an-email", "", "Lee", "english", "maybe", "boss", "", ""}), &errors);
  EXPECT_FALSE(row.has_value());
  ASSERT_EQ(errors.size(), 5u);
  std::map<std::string, v1::RowError> by_column;
  for (const auto& e : errors) {
    EXPECT_EQ(e.line(), 7);
    by_column[e.column()] = e;
  }
  EXPECT_EQ(by_column["email"].value(), "not-an-email");
  EXPECT_THAT(by_column["first_name"].reason(), HasSubstr("required"));
  EXPECT_EQ(by_column["language"].value(), "english");
  EXPECT_EQ(by_column["active"].value(), "maybe");
  EXPECT_EQ(by_column["person_type"].value(), "boss");
}

TEST(PersonValidationTest, WrongFieldCount) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  EXPECT_FALSE(v.Validate(Rec(3, {"E1", "a@b.co"}), &errors).has_value());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line(), 3);
  EXPECT_THAT(errors[0].reason(), HasSubstr("expected 9 fields"));
}

TEST(PersonValidationTest, DuplicateKeyNamesBothLines) {
  FieldMapping m = Mapping({"email", "first_name", "last_name", "language", "active"});
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  EXPECT_TRUE(v.Validate(Rec(2, {"a@b.co", "A", "B", "en", "y"}), &errors).has_value());
  EXPECT_TRUE(v.Validate(Rec(3, {"c@b.co", "C", "D", "en", "y"}), &errors).has_value());
  EXPECT_FALSE(v.Validate(Rec(9, {"A@B.CO", "A", "B", "en", "y"}), &errors).has_value());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line(), 9);
  EXPECT_THAT(errors[0].reason(), HasSubstr("lines 2 and 9"));
}

TEST(PersonValidationTest, DuplicateSeatNamesBothLines) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  EXPECT_TRUE(v.Validate(Rec(2, {"1", "", "A", "B", "en", "y", "", "S1", ""}), &errors));
  EXPECT_FALSE(v.Validate(Rec(4, {"2", "", "A", "B", "en", "y", "", "S1", ""}), &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].reason(), HasSubstr("lines 2 and 4"));
}

TEST(PersonValidationTest, NoKeyAtAll) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  EXPECT_FALSE(v.Validate(Rec(2, {"", "", "A", "B", "en", "y", "", "", ""}), &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].reason(), HasSubstr("no person key"));
}

TEST(PersonValidationTest, Email) {
  EXPECT_TRUE(IsValidEmail("a@b.co"));
  EXPECT_TRUE(IsValidEmail("first.last+tag@sub.example.org"));
  EXPECT_FALSE(IsValidEmail("a@b"));
  EXPECT_FALSE(IsValidEmail("@b.co"));
  EXPECT_FALSE(IsValidEmail("a@@b.co"));
  EXPECT_FALSE(IsValidEmail("a b@c.co"));
  EXPECT_FALSE(IsValidEmail("a..b@c.co"));
  EXPECT_FALSE(IsValidEmail("a@b..co"));
  EXPECT_FALSE(IsValidEmail("a@.b.co"));
  EXPECT_FALSE(IsValidEmail(""));
}

TEST(PersonValidationTest, Language) {
  EXPECT_EQ(NormalizeLanguage("EN"), "en");
  EXPECT_EQ(NormalizeLanguage("fil"), "fil");
  EXPECT_EQ(NormalizeLanguage("en-us"), "en-US");
  EXPECT_EQ(NormalizeLanguage("pt_BR"), "pt-BR");
  EXPECT_EQ(NormalizeLanguage("es-419"), "es-419");
  EXPECT_EQ(NormalizeLanguage("e"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("engl"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("en-"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("en-USA"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("e1"), std::nullopt);
}

TEST(PersonValidationTest, Active) {
  for (const char* t : {"true", "TRUE", "yes", "Y", "1", "Active", " y "}) {
    EXPECT_EQ(ParseActive(t), true) << t;
  }
  for (const char* f : {"false", "No", "n", "0", "INACTIVE"}) EXPECT_EQ(ParseActive(f), false) << f;
  for (const char* bad : {"", "2", "t", "on", "enabled"}) {
    EXPECT_EQ(ParseActive(bad), std::nullopt) << bad;
  }
}

TEST(PersonValidationTest, PersonType) {
  EXPECT_EQ(ParsePersonType(""), v1::PERSON_TYPE_EMPLOYEE);
  EXPECT_EQ(ParsePersonType("Contractor"), v1::PERSON_TYPE_CONTRACTOR);
  EXPECT_EQ(ParsePersonType("intern"), v1::PERSON_TYPE_INTERN);
  EXPECT_EQ(ParsePersonType("part time"), v1::PERSON_TYPE_PART_TIME);
  EXPECT_EQ(ParsePersonType("STUDENT"), v1::PERSON_TYPE_STUDENT);
  EXPECT_EQ(ParsePersonType("staff"), v1::PERSON_TYPE_STAFF);
  EXPECT_EQ(ParsePersonType("other"), v1::PERSON_TYPE_OTHER);
  EXPECT_EQ(ParsePersonType("volunteer"), std::nullopt);
  EXPECT_EQ(PersonTypeName(v1::PERSON_TYPE_PART_TIME), "part_time");
}

}  // namespace
}  // namespace rostersync::roster
