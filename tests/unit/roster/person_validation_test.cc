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

// Validates a record and checks it for within-file duplicates (RowValidator itself keeps no
// state across rows: the streaming import finds duplicates in SQL on the staging table).
bool ValidateUnique(RowValidator& v, InMemoryDuplicates& dups, const CsvRecord& record,
                    std::vector<v1::RowError>* errors) {
  std::optional<PersonRow> row = v.Validate(record, errors);
  if (!row) return false;
  return !dups.Check(record.line, row->person.person_id(), row->key_from_email,
                     row->person.seat(), errors);
}

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

// The streaming import validates every record into one reused PersonRow: nothing of a row
// (seat, attributes, flags, key) may leak into the next, valid or not.
TEST(PersonValidationTest, AReusedRowKeepsNothingOfThePreviousRecord) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  PersonRow row;
  ASSERT_TRUE(v.Validate(
      Rec(2, {"E1", "ann@example.com", "Ann", "Lee", "en", "yes", "intern", "S-1", "R&D"}),
      &errors, &row));
  EXPECT_EQ(row.person.seat(), "S-1");
  EXPECT_TRUE(row.has_seat);

  ASSERT_TRUE(v.Validate(Rec(3, {"", "Bob@Example.com", "Bob", "Ray", "de", "no", "", "", ""}),
                         &errors, &row));
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(row.line, 3);
  EXPECT_EQ(row.person.person_id(), "bob@example.com");
  EXPECT_TRUE(row.key_from_email);
  EXPECT_EQ(row.person.email(), "Bob@Example.com");
  EXPECT_EQ(row.person.first_name(), "Bob");
  EXPECT_EQ(row.person.language(), "de");
  EXPECT_FALSE(row.person.active());
  EXPECT_EQ(row.person.seat(), "");
  EXPECT_FALSE(row.has_seat);
  EXPECT_TRUE(row.person.attributes().empty());
  EXPECT_EQ(row.attribute_columns.size(), 1u);

  EXPECT_FALSE(v.Validate(Rec(4, {"E3", "bad", "Cy", "Lu", "en", "yes", "", "", ""}), &errors,
                          &row));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line(), 4);
  errors.clear();
  ASSERT_TRUE(
      v.Validate(Rec(5, {"E4", "", "Di", "Mo", "fr", "y", "staff", "", "Ops"}), &errors, &row));
  EXPECT_EQ(row.person.person_id(), "E4");
  EXPECT_FALSE(row.key_from_email);
  EXPECT_EQ(row.person.email(), "");
  EXPECT_EQ(row.person.person_type(), v1::PERSON_TYPE_STAFF);
  EXPECT_EQ(row.person.attributes().at("dept"), "Ops");
  EXPECT_EQ(row.attribute_columns.size(), 1u);
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
  InMemoryDuplicates dups(DuplicateColumns::Of(m));
  std::vector<v1::RowError> errors;
  EXPECT_TRUE(ValidateUnique(v, dups, Rec(2, {"a@b.co", "A", "B", "en", "y"}), &errors));
  EXPECT_TRUE(ValidateUnique(v, dups, Rec(3, {"c@b.co", "C", "D", "en", "y"}), &errors));
  // The validator alone keeps no per-file state: the row is valid in itself.
  EXPECT_TRUE(v.Validate(Rec(9, {"A@B.CO", "A", "B", "en", "y"}), &errors).has_value());
  EXPECT_TRUE(errors.empty());
  EXPECT_FALSE(ValidateUnique(v, dups, Rec(9, {"A@B.CO", "A", "B", "en", "y"}), &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line(), 9);
  EXPECT_EQ(errors[0].column(), "email");
  EXPECT_THAT(errors[0].reason(), HasSubstr("lines 2 and 9"));
}

TEST(PersonValidationTest, DuplicateSeatNamesBothLines) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  InMemoryDuplicates dups(DuplicateColumns::Of(m));
  std::vector<v1::RowError> errors;
  EXPECT_TRUE(ValidateUnique(v, dups, Rec(2, {"1", "", "A", "B", "en", "y", "", "S1", ""}),
                             &errors));
  EXPECT_FALSE(ValidateUnique(v, dups, Rec(4, {"2", "", "A", "B", "en", "y", "", "S1", ""}),
                              &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].column(), "seat");
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
  EXPECT_TRUE(IsValidEmail("o'brien@example.ie"));
  EXPECT_TRUE(IsValidEmail("x@my-host.example.co.uk"));
  EXPECT_TRUE(IsValidEmail("jos\xC3\xA9@example.fr"));  // UTF-8 local part
  EXPECT_TRUE(IsValidEmail("a@xn--p1ai.xn--p1ai"));
  EXPECT_FALSE(IsValidEmail("a@b.c"));      // one-letter TLD
  EXPECT_FALSE(IsValidEmail("a@1.2.3.4"));  // numeric TLD
  EXPECT_FALSE(IsValidEmail("a@-b.co"));    // label starts with '-'
  EXPECT_FALSE(IsValidEmail("a@b-.co"));    // label ends with '-'
  EXPECT_FALSE(IsValidEmail("a@b_c.co"));   // '_' in the domain
  EXPECT_FALSE(IsValidEmail(".a@b.co"));
  EXPECT_FALSE(IsValidEmail("a.@b.co"));
  EXPECT_FALSE(IsValidEmail("a@b.co."));
  EXPECT_FALSE(IsValidEmail("a(b)@c.co"));
  EXPECT_FALSE(IsValidEmail("\"a b\"@c.co"));
  EXPECT_FALSE(IsValidEmail("a@b.co\t"));
  EXPECT_FALSE(IsValidEmail("ann"));
  EXPECT_FALSE(IsValidEmail(std::string(65, 'a') + "@b.co"));
  EXPECT_FALSE(IsValidEmail("a@" + std::string(64, 'b') + ".co"));
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
  EXPECT_EQ(NormalizeLanguage("EN_us"), "en-US");
  EXPECT_EQ(NormalizeLanguage("zh-hant-tw"), "zh-Hant-TW");
  EXPECT_EQ(NormalizeLanguage("ZH_HANS"), "zh-Hans");
  EXPECT_EQ(NormalizeLanguage("sr-latn-419"), "sr-Latn-419");
  EXPECT_EQ(NormalizeLanguage(" de "), "de");
  EXPECT_EQ(NormalizeLanguage("english"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("123"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage(""), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("en--US"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("en-US-x"), std::nullopt);  // nothing after the region
  EXPECT_EQ(NormalizeLanguage("en-US-CA"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("en-Latn-Cyrl"), std::nullopt);
  EXPECT_EQ(NormalizeLanguage("en-12"), std::nullopt);
}

TEST(PersonValidationTest, Dates) {
  EXPECT_EQ(*NormalizeDate("2026-02-28", ""), "2026-02-28");
  EXPECT_EQ(*NormalizeDate(" 2024-02-29 ", ""), "2024-02-29");  // leap year
  EXPECT_EQ(*NormalizeDate("2026-11-21T08:30:00Z", ""), "2026-11-21");
  EXPECT_EQ(*NormalizeDate("2026-11-21T23:30:00.123+05:30", ""), "2026-11-21");  // as written
  EXPECT_EQ(*NormalizeDate("2026-12-31", "%m/%d/%Y"), "2026-12-31");  // ISO always accepted
  EXPECT_EQ(*NormalizeDate("12/31/2026", "%m/%d/%Y"), "2026-12-31");
  EXPECT_EQ(*NormalizeDate("31.12.2026", "%d.%m.%Y"), "2026-12-31");
  EXPECT_EQ(*NormalizeDate("1/5/2026", "%m/%d/%Y"), "2026-01-05");

  absl::StatusOr<std::string> feb30 = NormalizeDate("2026-02-30", "");
  ASSERT_FALSE(feb30.ok());
  EXPECT_THAT(std::string(feb30.status().message()), HasSubstr("2026-02 has no day 30"));
  EXPECT_FALSE(NormalizeDate("2025-02-29", "").ok());  // not a leap year
  EXPECT_FALSE(NormalizeDate("1900-02-29", "").ok());
  EXPECT_FALSE(NormalizeDate("2026-13-01", "").ok());
  EXPECT_FALSE(NormalizeDate("2026-00-10", "").ok());
  EXPECT_FALSE(NormalizeDate("2026-04-31", "").ok());
  EXPECT_FALSE(NormalizeDate("02/30/2026", "%m/%d/%Y").ok());
  EXPECT_FALSE(NormalizeDate("12/31/2026", "").ok());  // no format configured
  EXPECT_FALSE(NormalizeDate("2026-1-5", "").ok());
  EXPECT_FALSE(NormalizeDate("2026-11-21T25:00:00Z", "").ok());
  EXPECT_FALSE(NormalizeDate("2026-11-21T08:30:00", "").ok());  // no zone
  EXPECT_FALSE(NormalizeDate("2026-11-21 junk", "").ok());
  EXPECT_FALSE(NormalizeDate("tomorrow", "%m/%d/%Y").ok());
  absl::StatusOr<std::string> bad = NormalizeDate("21/11/2026", "%m/%d/%Y");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or the integration's date "
                        "format \"%m/%d/%Y\""));
}

TEST(PersonValidationTest, IntsAndTypedValues) {
  EXPECT_EQ(NormalizeInt("42"), "42");
  EXPECT_EQ(NormalizeInt(" +007 "), "7");
  EXPECT_EQ(NormalizeInt("-12"), "-12");
  EXPECT_EQ(NormalizeInt("9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(NormalizeInt("9223372036854775808"), std::nullopt);
  EXPECT_EQ(NormalizeInt("1,000"), std::nullopt);
  EXPECT_EQ(NormalizeInt("1.5"), std::nullopt);
  EXPECT_EQ(NormalizeInt("-"), std::nullopt);
  EXPECT_EQ(NormalizeInt("0x10"), std::nullopt);

  EXPECT_EQ(ParseAttributeType("Date"), AttributeType::kDate);
  EXPECT_EQ(ParseAttributeType(""), AttributeType::kString);
  EXPECT_EQ(ParseAttributeType("datetime"), std::nullopt);

  EXPECT_EQ(*NormalizeTyped(AttributeType::kBoolean, "Inactive", ""), "false");
  EXPECT_EQ(*NormalizeTyped(AttributeType::kBoolean, "Y", ""), "true");
  EXPECT_EQ(*NormalizeTyped(AttributeType::kString, " as is ", ""), "as is");
  EXPECT_EQ(*NormalizeTyped(AttributeType::kEmail, "m@x.org", ""), "m@x.org");
  EXPECT_EQ(*NormalizeTyped(AttributeType::kInt, "010", ""), "10");
  EXPECT_EQ(*NormalizeTyped(AttributeType::kDate, "03/04/2026", "%m/%d/%Y"), "2026-03-04");
  absl::StatusOr<std::string> b = NormalizeTyped(AttributeType::kBoolean, "perhaps", "");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("true/false, yes/no, 1/0, y/n, t/f or active/inactive"));
  EXPECT_FALSE(NormalizeTyped(AttributeType::kEmail, "m@x", "").ok());
  EXPECT_FALSE(NormalizeTyped(AttributeType::kInt, "ten", "").ok());
}

TEST(PersonValidationTest, CapValue) {
  EXPECT_EQ(CapValue("short"), "short");
  EXPECT_EQ(CapValue(std::string(200, 'x')), std::string(200, 'x'));
  std::string capped = CapValue(std::string(5000, 'x'));
  EXPECT_EQ(capped.size(), 200u);
  EXPECT_EQ(capped.substr(197), "...");
  // A 2-byte character straddling the cut is not split.
  std::string utf8 = std::string(196, 'x') + "\xC3\xA9\xC3\xA9";
  std::string cut = CapValue(utf8 + std::string(10, 'y'));
  EXPECT_EQ(cut, std::string(196, 'x') + "...");
}

TEST(PersonValidationTest, Active) {
  for (const char* t : {"true", "TRUE", "yes", "Y", "1", "Active", " y "}) {
    EXPECT_EQ(ParseActive(t), true) << t;
  }
  for (const char* f : {"false", "No", "n", "0", "INACTIVE"}) EXPECT_EQ(ParseActive(f), false) << f;
  EXPECT_EQ(ParseActive("t"), true);
  EXPECT_EQ(ParseActive("F"), false);
  for (const char* bad : {"", "2", "on", "enabled", "tr", "yes please"}) {
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
  EXPECT_EQ(ParsePersonType("Part-Time"), v1::PERSON_TYPE_PART_TIME);
  EXPECT_EQ(ParsePersonType("part_time"), v1::PERSON_TYPE_PART_TIME);
  EXPECT_EQ(ParsePersonType(" EMPLOYEE "), v1::PERSON_TYPE_EMPLOYEE);
  EXPECT_EQ(ParsePersonType("volunteer"), std::nullopt);
  EXPECT_EQ(ParsePersonType("parttime"), std::nullopt);
  EXPECT_EQ(PersonTypeName(v1::PERSON_TYPE_PART_TIME), "part_time");
}

}  // namespace
}  // namespace rostersync::roster

namespace rostersync::roster {
namespace {

const std::vector<std::string> kTypedHeader = {
    "person_id",      "email",       "first_name",   "last_name",  "language", "active",
    "attr:hire_date", "attr:Remote", "attr:manager", "attr:level", "attr:note"};

v1::ImportPolicy TypedPolicy() {
  v1::ImportPolicy policy;
  (*policy.mutable_attribute_types())["hire_date"] = "date";
  (*policy.mutable_attribute_types())["remote"] = "boolean";  // matched case-insensitively
  (*policy.mutable_attribute_types())["attr:manager"] = "email";
  (*policy.mutable_attribute_types())["level"] = "int";
  (*policy.mutable_attribute_types())["absent_column"] = "date";
  policy.set_date_format("%m/%d/%Y");
  return policy;
}

TEST(TypedValidationTest, TypedAttributesAreNormalized) {
  FieldMapping m = Mapping(kTypedHeader);
  auto v = RowValidator::Create(m, TypedPolicy());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(
      v->attribute_types(),
      ::testing::ElementsAre(AttributeType::kDate, AttributeType::kBoolean, AttributeType::kEmail,
                             AttributeType::kInt, AttributeType::kString));
  std::vector<v1::RowError> errors;
  auto row = v->Validate(Rec(2, {"E1", "a@b.co", "A", "B", "EN_us", "active", "11/21/2026", "YES",
                                 "boss@b.co", "+03", "anything, at all"}),
                         &errors);
  ASSERT_TRUE(row.has_value()) << (errors.empty() ? "" : errors[0].reason());
  EXPECT_EQ(row->person.language(), "en-US");
  EXPECT_EQ(row->person.attributes().at("hire_date"), "2026-11-21");
  EXPECT_EQ(row->person.attributes().at("Remote"), "true");
  EXPECT_EQ(row->person.attributes().at("manager"), "boss@b.co");
  EXPECT_EQ(row->person.attributes().at("level"), "3");
  EXPECT_EQ(row->person.attributes().at("note"), "anything, at all");

  // Empty typed values are no attribute, not an error.
  auto empty = v->Validate(Rec(3, {"E2", "", "A", "B", "en", "y", "", "", "", "", ""}), &errors);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->person.attributes().empty());
  EXPECT_THAT(empty->attribute_columns,
              ::testing::ElementsAre("hire_date", "Remote", "manager", "level", "note"));
}

TEST(TypedValidationTest, EachBadTypedValueIsOneErrorNamingLineColumnValue) {
  // Mapped from HR headers: the error names the header as written in the file.
  auto m = FieldMapping::Create({{"ID", "person_id"},
                                 {"First", "first_name"},
                                 {"Last", "last_name"},
                                 {"Lang", "language"},
                                 {"Status", "active"},
                                 {"Hired On", "attr:hire_date"},
                                 {"Works Remote", "attr:remote"},
                                 {"Manager Mail", "attr:manager"},
                                 {"Grade", "attr:level"}},
                                {"ID", "First", "Last", "Lang", "Status", "Hired On",
                                 "Works Remote", "Manager Mail", "Grade"},
                                "hr.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  auto v = RowValidator::Create(*m, TypedPolicy());
  ASSERT_TRUE(v.ok()) << v.status();
  std::vector<v1::RowError> errors;
  EXPECT_FALSE(v->Validate(Rec(12, {"E1", "A", "B", "english", "maybe", "2026-02-30", "sometimes",
                                    "boss at b.co", "senior"}),
                           &errors)
                   .has_value());
  ASSERT_EQ(errors.size(), 6u);
  std::map<std::string, v1::RowError> by_column;
  for (const auto& e : errors) {
    EXPECT_EQ(e.line(), 12);
    by_column[e.column()] = e;
  }
  EXPECT_EQ(by_column["Lang"].value(), "english");
  EXPECT_THAT(by_column["Lang"].reason(), HasSubstr("BCP 47"));
  EXPECT_EQ(by_column["Status"].value(), "maybe");
  EXPECT_THAT(by_column["Status"].reason(), HasSubstr("t/f or active/inactive"));
  EXPECT_EQ(by_column["Hired On"].value(), "2026-02-30");
  EXPECT_THAT(by_column["Hired On"].reason(),
              HasSubstr("attribute \"hire_date\": not a date: 2026-02 has no day 30"));
  EXPECT_EQ(by_column["Works Remote"].value(), "sometimes");
  EXPECT_THAT(by_column["Works Remote"].reason(), HasSubstr("not a boolean"));
  EXPECT_EQ(by_column["Manager Mail"].value(), "boss at b.co");
  EXPECT_THAT(by_column["Manager Mail"].reason(), HasSubstr("not a valid email address"));
  EXPECT_EQ(by_column["Grade"].value(), "senior");
  EXPECT_THAT(by_column["Grade"].reason(), HasSubstr("not an integer"));
}

TEST(TypedValidationTest, UnknownTypeIsRefusedNamingTheSetting) {
  FieldMapping m = Mapping(kTypedHeader);
  v1::ImportPolicy policy;
  (*policy.mutable_attribute_types())["hire_date"] = "datetime";
  auto v = RowValidator::Create(m, policy);
  ASSERT_TRUE(absl::IsInvalidArgument(v.status()));
  EXPECT_THAT(std::string(v.status().message()),
              HasSubstr("attribute_types[\"hire_date\"] = \"datetime\""));
}

TEST(TypedValidationTest, WithoutPolicyAttributesAreStringsAndDatesIso) {
  FieldMapping m = Mapping(kTypedHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  auto row = v.Validate(
      Rec(2, {"E1", "", "A", "B", "en", "1", "11/21/2026", "maybe", "x", "y", "z"}), &errors);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->person.attributes().at("hire_date"), "11/21/2026");
}

TEST(TypedValidationTest, EchoedValuesAreCapped) {
  FieldMapping m = Mapping(kHeader);
  RowValidator v(m);
  std::vector<v1::RowError> errors;
  const std::string huge(100000, 'z');
  EXPECT_FALSE(v.Validate(Rec(5, {"E1", "", "A", "B", huge, "y", "", "", ""}), &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].column(), "language");
  EXPECT_LE(errors[0].value().size(), kMaxEchoedValue);
  EXPECT_EQ(errors[0].value().substr(errors[0].value().size() - 3), "...");

  // A long duplicate key is capped in the reason as well.
  const std::string long_id(1000, 'k');
  InMemoryDuplicates dups(DuplicateColumns::Of(m));
  EXPECT_TRUE(ValidateUnique(v, dups, Rec(6, {long_id, "", "A", "B", "en", "y", "", "", ""}),
                             &errors));
  EXPECT_FALSE(ValidateUnique(v, dups, Rec(8, {long_id, "", "A", "B", "en", "y", "", "", ""}),
                              &errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_LT(errors[1].reason().size(), 300u);
  EXPECT_THAT(errors[1].reason(), HasSubstr("on lines 6 and 8"));
  EXPECT_EQ(errors[1].column(), "person_id");
}

TEST(TypedValidationTest, ErrorColumnIsTheCleanedSourceHeader) {
  auto m = FieldMapping::Create(
      {}, {"person_id", "email", "first_name", "last_name", "language\xE2\x80\x8B", "active"},
      "t.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  RowValidator v(*m);
  std::vector<v1::RowError> errors;
  EXPECT_FALSE(v.Validate(Rec(4, {"E1", "", "A", "B", "xx-yy-zz", "y"}), &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].column(), "language");
  EXPECT_EQ(errors[0].value(), "xx-yy-zz");
}

}  // namespace
}  // namespace rostersync::roster
