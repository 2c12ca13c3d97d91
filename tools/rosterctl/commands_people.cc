// rosterctl people list|show|assign-seat.
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/rosterctl/command_runner.h"
#include "tools/rosterctl/commands.h"
#include "tools/rosterctl/table_printer.h"

namespace rostersync::rosterctl::internal {

absl::Status Runner::PrintPerson(const v1::Person& p) {
  if (Json()) return PrintJson(p);
  KeyValuePrinter kv;
  kv.Add("Person", p.person_id());
  kv.Add("Name", absl::StrCat(p.first_name(), " ", p.last_name()));
  kv.Add("Email", OrDash(p.email()));
  kv.Add("Language", OrDash(p.language()));
  kv.Add("Type", PersonTypeName(p.person_type()));
  kv.Add("Active", YesNo(p.active()));
  kv.Add("Seat", OrDash(p.seat()));
  std::map<std::string, std::string> sorted(p.attributes().begin(), p.attributes().end());
  for (const auto& [k, v] : sorted) kv.Add(absl::StrCat("attr:", k), v);
  kv.Add("Integration", OrDash(p.source_integration_id()));
  kv.Add("Updated", FormatTimestamp(p.updated_at()));
  kv.Print(out_);
  return absl::OkStatus();
}

absl::Status Runner::PeopleList() {
  ASSIGN_OR_RETURN(int64_t limit, Limit(100));
  v1::ListPeopleRequest base;
  base.set_tenant_id(Tenant());
  if (args_.Has("--type")) {
    ASSIGN_OR_RETURN(v1::PersonType type, ParsePersonType(args_.Get("--type"), "--type"));
    base.set_person_type(type);
  }
  if (args_.Has("--active")) {
    ASSIGN_OR_RETURN(bool active, ParseBool(args_.Get("--active"), "--active"));
    base.set_active(active);
  }
  for (const std::string& a : args_.GetAll("--attr")) {
    ASSIGN_OR_RETURN(auto kv, ParseKeyValue(a, "--attr"));
    if (base.attributes().count(kv.first) > 0) {
      return UsageError(absl::StrCat("--attr gives attribute '", kv.first, "' twice"));
    }
    (*base.mutable_attributes())[kv.first] = kv.second;
  }
  return List(
      limit, 1000, ctx_.stubs->roster.get(), &v1::RosterService::StubInterface::ListPeople, base,
      [](v1::ListPeopleResponse& r) { return r.mutable_people(); },
      {"PERSON", "FIRST NAME", "LAST NAME", "EMAIL", "LANG", "TYPE", "ACTIVE", "SEAT"},
      [](const v1::Person& p) -> std::vector<std::string> {
        return {p.person_id(),     p.first_name(),       p.last_name(),
                OrDash(p.email()), OrDash(p.language()), PersonTypeName(p.person_type()),
                YesNo(p.active()), OrDash(p.seat())};
      },
      "people");
}

absl::Status Runner::PeopleShow() {
  v1::GetPersonRequest request;
  request.set_tenant_id(Tenant());
  request.set_person_id(args_.positionals[0]);
  v1::Person person;
  RETURN_IF_ERROR(Call(ctx_.stubs->roster.get(), &v1::RosterService::StubInterface::GetPerson,
                       request, &person));
  return PrintPerson(person);
}

absl::Status Runner::PeopleAssignSeat() {
  v1::AssignSeatRequest request;
  request.set_tenant_id(Tenant());
  request.set_person_id(args_.positionals[0]);
  request.set_seat(args_.positionals[1]);
  v1::Person person;
  RETURN_IF_ERROR(Call(ctx_.stubs->roster.get(), &v1::RosterService::StubInterface::AssignSeat,
                       request, &person));
  return PrintPerson(person);
}

}  // namespace rostersync::rosterctl::internal
