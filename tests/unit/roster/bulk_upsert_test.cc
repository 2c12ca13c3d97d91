#include "services/roster/bulk_upsert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rostersync::roster {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Person Valid(const std::string& id) {
  v1::Person p;
  p.set_person_id(id);
  p.set_first_name("Ann");
  p.set_last_name("Lee");
  p.set_language("en");
  return p;
}

TEST(ValidateBulkPeopleTest, NormalizesValidPeople) {
  v1::BulkUpsertPeopleRequest req;
  req.set_tenant_id("t1");
  v1::Person p = Valid("A");
  p.set_language("pt_br");
  p.set_seat("S-1");
  p.set_email("ann@example.com");
  *req.add_people() = p;
  ASSERT_TRUE(ValidateBulkPeople(req).ok());
  EXPECT_EQ(req.people(0).tenant_id(), "t1");
  EXPECT_EQ(req.people(0).language(), "pt-BR");
  EXPECT_EQ(req.people(0).person_type(), v1::PERSON_TYPE_EMPLOYEE);
  EXPECT_EQ(req.people(0).seat(), "");  // seats are not set by a bulk upsert
}

TEST(ValidateBulkPeopleTest, EveryProblemNamesIndexAndField) {
  v1::BulkUpsertPeopleRequest req;
  req.set_tenant_id("t1");
  *req.add_people() = Valid("A");
  v1::Person p = Valid("");
  p.set_last_name("");
  *req.add_people() = p;
  p = Valid("C");
  p.set_person_type(static_cast<v1::PersonType>(99));
  (*p.mutable_attributes())[""] = "x";
  *req.add_people() = p;
  auto s = ValidateBulkPeople(req);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(s.message());
  EXPECT_THAT(msg, HasSubstr("4 invalid field(s)"));
  EXPECT_THAT(msg, HasSubstr("people[1].person_id: is required"));
  EXPECT_THAT(msg, HasSubstr("people[1].last_name: is required"));
  EXPECT_THAT(msg, HasSubstr("people[2].person_type: unknown value 99"));
  EXPECT_THAT(msg, HasSubstr("people[2].attributes"));
  EXPECT_THAT(msg, Not(HasSubstr("people[0]")));
}

TEST(ValidateBulkPeopleTest, CapsTheReportAndTheRequestSize) {
  v1::BulkUpsertPeopleRequest req;
  req.set_tenant_id("t1");
  for (int i = 0; i < 30; ++i) *req.add_people() = Valid("");
  auto s = ValidateBulkPeople(req);
  EXPECT_THAT(std::string(s.message()), HasSubstr("and 10 more"));

  v1::BulkUpsertPeopleRequest big;
  big.set_tenant_id("t1");
  for (int i = 0; i <= kMaxBulkUpsertPeople; ++i) *big.add_people() = Valid(std::to_string(i));
  EXPECT_THAT(std::string(ValidateBulkPeople(big).message()), HasSubstr("at most"));
  v1::BulkUpsertPeopleRequest none;
  EXPECT_FALSE(ValidateBulkPeople(none).ok());
}

}  // namespace
}  // namespace rostersync::roster
