#include "services/roster/field_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rostersync::roster {
namespace {

using ::testing::ElementsAre;
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
  EXPECT_THAT(std::string(m.status().message()),
              HasSubstr("missing required column \"language\" (mapped from \"Lang\", which the "
                        "file does not have)"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("the file's columns are \"ID\""));
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

// Invisible and space characters, as UTF-8.
constexpr char kZwsp[] = "\xE2\x80\x8B";        // U+200B
constexpr char kZwnj[] = "\xE2\x80\x8C";        // U+200C
constexpr char kZwj[] = "\xE2\x80\x8D";         // U+200D
constexpr char kWj[] = "\xE2\x81\xA0";          // U+2060
constexpr char kBom[] = "\xEF\xBB\xBF";         // U+FEFF
constexpr char kNbsp[] = "\xC2\xA0";            // U+00A0
constexpr char kShy[] = "\xC2\xAD";             // U+00AD
constexpr char kNarrowNbsp[] = "\xE2\x80\xAF";  // U+202F
constexpr char kIdeoSpace[] = "\xE3\x80\x80";   // U+3000
constexpr char kEmSpace[] = "\xE2\x80\x83";     // U+2003
constexpr char kRlm[] = "\xE2\x80\x8F";         // U+200F

std::string S(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

TEST(CleanHeaderTest, PlainAsciiHasNoChanges) {
  CleanedHeader c = CleanHeader("  Employee   ID\t");
  EXPECT_EQ(c.display, "Employee ID");
  EXPECT_EQ(c.normalized, "employee id");
  EXPECT_TRUE(c.changes.empty());
}

TEST(CleanHeaderTest, RemovesEachInvisibleCharacterAndNamesIt) {
  struct Case {
    std::string_view ch;
    std::string_view note;
  };
  for (const Case& c : {Case{kZwsp, "removed a zero-width space (U+200B)"},
                        Case{kZwnj, "removed a zero-width non-joiner (U+200C)"},
                        Case{kZwj, "removed a zero-width joiner (U+200D)"},
                        Case{kWj, "removed a word joiner (U+2060)"},
                        Case{kBom, "removed a byte order mark (U+FEFF)"},
                        Case{kShy, "removed a soft hyphen (U+00AD)"},
                        Case{kRlm, "removed a right-to-left mark (U+200F)"},
                        Case{"\x01", "removed a control character (U+0001)"}}) {
    // At the start, in the middle and at the end: removed everywhere, nothing left behind.
    CleanedHeader h = CleanHeader(S({c.ch, "E", c.ch, "mail", c.ch}));
    EXPECT_EQ(h.display, "Email") << c.note;
    EXPECT_EQ(h.normalized, "email") << c.note;
    ASSERT_EQ(h.changes.size(), 1u) << c.note;
    std::string expected(c.note);
    expected.replace(expected.find(" a "), 3, " 3 ");
    expected.replace(expected.find(" ("), 2, "s (");
    EXPECT_EQ(h.changes[0], expected);
  }
}

TEST(CleanHeaderTest, UnicodeSpacesAreSpaces) {
  for (std::string_view sp : {std::string_view(kNbsp), std::string_view(kNarrowNbsp),
                              std::string_view(kIdeoSpace), std::string_view(kEmSpace)}) {
    CleanedHeader h = CleanHeader(S({sp, "Employee", sp, "ID", sp}));
    EXPECT_EQ(h.display, "Employee ID");
    EXPECT_EQ(h.normalized, "employee id");
    ASSERT_EQ(h.changes.size(), 2u);
    EXPECT_THAT(h.changes[0], HasSubstr("removed 2 "));
    EXPECT_THAT(h.changes[1], HasSubstr("with a space"));
  }
  CleanedHeader nbsp = CleanHeader(S({"Employee", kNbsp, "ID"}));
  ASSERT_EQ(nbsp.changes.size(), 1u);
  EXPECT_EQ(nbsp.changes[0], "replaced a no-break space (U+00A0) with a space");
  // Next to an ASCII space the NBSP is simply removed.
  CleanedHeader both = CleanHeader(S({"Employee ", kNbsp, "ID"}));
  EXPECT_EQ(both.display, "Employee ID");
  ASSERT_EQ(both.changes.size(), 1u);
  EXPECT_EQ(both.changes[0], "removed a no-break space (U+00A0)");
}

TEST(CleanHeaderTest, GroupsSeveralKinds) {
  CleanedHeader h = CleanHeader(S({kBom, "Email", kZwsp, kNbsp}));
  EXPECT_EQ(h.display, "Email");
  ASSERT_EQ(h.changes.size(), 1u);
  EXPECT_EQ(h.changes[0],
            "removed a byte order mark (U+FEFF), a zero-width space (U+200B) and a no-break "
            "space (U+00A0)");
}

TEST(CleanHeaderTest, FoldsLatin1AndKeepsInvalidBytes) {
  EXPECT_EQ(NormalizeHeader("\xC3\x89"
                            "COLE"),
            "\xC3\xA9"
            "cole");                                   // ÉCOLE -> école
  EXPECT_EQ(NormalizeHeader("\xC3\x97"), "\xC3\x97");  // the sign x stays
  CleanedHeader bad = CleanHeader("a\xFF\xC3");
  EXPECT_EQ(bad.display, "a\xFF\xC3");
  EXPECT_TRUE(bad.changes.empty());
  EXPECT_EQ(CleanHeader(S({kZwsp, kNbsp})).display, "");
}

TEST(FieldMappingTest, InvisibleCharactersAreRemovedAndReported) {
  auto m = FieldMapping::Create({{"Employee ID", "person_id"},
                                 {"Email", "email"},
                                 {"First Name", "first_name"},
                                 {"Last Name", "last_name"},
                                 {"Language", "language"},
                                 {"Active", "active"}},
                                {S({kBom, "Employee", kNbsp, "ID"}), "First Name",
                                 S({"Email", kZwsp, kNbsp}), "Last Name", "language", "ACTIVE"},
                                "hr.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->column(Field::kPersonId), 0);
  EXPECT_EQ(m->column(Field::kEmail), 2);
  EXPECT_EQ(m->header(0), "Employee ID");
  EXPECT_EQ(m->header(2), "Email");
  EXPECT_THAT(m->header_notes(),
              ElementsAre("column 1 \"Employee ID\": removed a byte order mark (U+FEFF); "
                          "replaced a no-break space (U+00A0) with a space",
                          "column 3 \"Email\": removed a zero-width space (U+200B) and a "
                          "no-break space (U+00A0)"));
  EXPECT_THAT(m->header_set(),
              ElementsAre("active", "email", "employee id", "first name", "language", "last name"));
}

TEST(FieldMappingTest, NoNotesForCleanHeaders) {
  auto m = FieldMapping::Create({}, kCanonicalHeader, "f.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->header_notes().empty());
}

TEST(FieldMappingTest, HeaderMapKeysAreCleanedToo) {
  std::vector<std::string> header = kCanonicalHeader;
  header.push_back("Cost Center");
  auto m = FieldMapping::Create({{S({"cost", kNbsp, "center", kZwsp}), "attr:cost_center"},
                                 {"person_id", "person_id"},
                                 {"email", "email"},
                                 {"first_name", "first_name"},
                                 {"last_name", "last_name"},
                                 {"language", "language"},
                                 {"active", "active"}},
                                header, "f.csv");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->attribute_columns().size(), 1u);
  EXPECT_EQ(m->attribute_columns()[0].attribute, "cost_center");
  EXPECT_EQ(m->attribute_columns()[0].source_header, "Cost Center");
}

TEST(FieldMappingTest, DuplicateAfterInvisibleRemovalNamesBothColumns) {
  std::vector<std::string> header = kCanonicalHeader;
  header.push_back(S({"E", kZwsp, "mail"}));
  auto m = FieldMapping::Create({}, header, "dup.csv");
  ASSERT_TRUE(absl::IsInvalidArgument(m.status()));
  const std::string msg(m.status().message());
  EXPECT_THAT(msg, HasSubstr("file \"dup.csv\""));
  EXPECT_THAT(msg, HasSubstr("columns 2 and 7"));
  EXPECT_THAT(msg, HasSubstr("column 2 \"email\""));
  EXPECT_THAT(msg, HasSubstr("column 7 \"Email\" (removed a zero-width space (U+200B))"));
}

TEST(FieldMappingTest, MissingRenamedColumnNamesFileColumnAndSource) {
  // The HR system renamed "Email" to "E-mail address": the file is refused, not emptied.
  auto m = FieldMapping::Create({{"Email", "email"},
                                 {"First", "first_name"},
                                 {"Last", "last_name"},
                                 {"Lang", "language"},
                                 {"Active", "active"}},
                                {"E-mail address", "First", "Last", "Lang", "Active"},
                                "roster_20261121.csv");
  ASSERT_TRUE(absl::IsInvalidArgument(m.status()));
  const std::string msg(m.status().message());
  EXPECT_THAT(msg, HasSubstr("file \"roster_20261121.csv\""));
  EXPECT_THAT(msg, HasSubstr("missing required column \"email\" (mapped from \"Email\", which "
                             "the file does not have) or \"person_id\""));
  EXPECT_THAT(msg, HasSubstr("\"E-mail address\""));
}

TEST(FieldMappingTest, HeaderMapKeyTwiceWithDifferentTargets) {
  auto m = FieldMapping::Create({{"Dept", "attr:dept"}, {"DEPT ", "attr:department"}},
                                kCanonicalHeader, "f.csv");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("header_map has"));
}

TEST(FieldMappingTest, NormalizedHeaderSetAndChange) {
  std::set<std::string> before = NormalizedHeaderSet({" Email", "First Name", "", "Dept"});
  EXPECT_THAT(before, ElementsAre("dept", "email", "first name"));
  std::set<std::string> after =
      NormalizedHeaderSet({S({"EMAIL", kZwsp}), S({"first", kNbsp, "name"}), "Dept"});
  EXPECT_EQ(before, after);
  EXPECT_EQ(DescribeHeaderChange(before, after), "");
  std::set<std::string> renamed = NormalizedHeaderSet({"E-mail", "First Name", "Dept", "Cost"});
  EXPECT_EQ(DescribeHeaderChange(before, renamed),
            "columns added: \"cost\", \"e-mail\"; columns removed: \"email\"");
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
