#include "services/roster/roster_diff.h"

#include <google/protobuf/util/message_differencer.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace rostersync::roster {

bool SamePerson(const v1::Person& a, const v1::Person& b) {
  v1::Person x = a;
  v1::Person y = b;
  x.clear_updated_at();
  y.clear_updated_at();
  return google::protobuf::util::MessageDifferencer::Equals(x, y);
}

RosterDiff ComputeDiff(const std::vector<v1::Person>& current, const std::vector<PersonRow>& rows,
                       v1::SyncPolicy policy, const std::string& integration_id) {
  RosterDiff diff;
  std::map<std::string, const v1::Person*> by_id;
  for (const v1::Person& p : current) by_id[p.person_id()] = &p;

  // The roster after the import, for the seat check: person id -> (seat, line that set it).
  std::map<std::string, std::pair<std::string, int64_t>> final_seats;
  std::set<std::string> in_file;

  for (const PersonRow& row : rows) {
    const v1::Person& incoming = row.person;
    in_file.insert(incoming.person_id());
    auto it = by_id.find(incoming.person_id());
    if (it == by_id.end()) {
      v1::Person p = incoming;
      p.clear_updated_at();
      if (p.person_type() == v1::PERSON_TYPE_UNSPECIFIED) {
        p.set_person_type(v1::PERSON_TYPE_EMPLOYEE);
      }
      p.set_source_integration_id(integration_id);
      if (!p.seat().empty()) final_seats[p.person_id()] = {p.seat(), row.line};
      diff.added.push_back(std::move(p));
      continue;
    }
    const v1::Person& existing = *it->second;
    v1::Person p = existing;
    p.set_first_name(incoming.first_name());
    p.set_last_name(incoming.last_name());
    p.set_language(incoming.language());
    p.set_active(incoming.active());
    if (row.has_email) p.set_email(incoming.email());
    if (row.has_person_type) p.set_person_type(incoming.person_type());
    if (row.has_seat) p.set_seat(incoming.seat());
    for (const std::string& attr : row.attribute_columns) {
      auto v = incoming.attributes().find(attr);
      if (v == incoming.attributes().end()) {
        p.mutable_attributes()->erase(attr);
      } else {
        (*p.mutable_attributes())[attr] = v->second;
      }
    }
    p.set_source_integration_id(integration_id);
    if (!p.seat().empty()) final_seats[p.person_id()] = {p.seat(), row.has_seat ? row.line : 0};
    if (SamePerson(p, existing)) {
      ++diff.unchanged;
    } else {
      diff.updated.push_back(std::move(p));
    }
  }

  for (const v1::Person& p : current) {
    if (in_file.count(p.person_id()) > 0) continue;
    const bool ours = p.source_integration_id() == integration_id;
    if (ours && policy == v1::SYNC_POLICY_DELETE) {
      diff.deleted.push_back(p.person_id());
      continue;  // the seat is released with the person
    }
    if (ours && policy != v1::SYNC_POLICY_KEEP && p.active()) {
      v1::Person d = p;
      d.set_active(false);
      diff.deactivated.push_back(std::move(d));
    }
    if (!p.seat().empty()) final_seats[p.person_id()] = {p.seat(), 0};
  }

  // Seat uniqueness in the final roster. A conflict is blamed on the row that assigned the
  // seat (line > 0); two rows assigning one seat were already caught by validation.
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> holders;
  for (const auto& [person_id, seat_line] : final_seats) {
    holders[seat_line.first].push_back({person_id, seat_line.second});
  }
  for (const auto& [seat, list] : holders) {
    if (list.size() < 2) continue;
    for (const auto& [person_id, line] : list) {
      if (line == 0) continue;
      std::string other;
      for (const auto& [o, l] : list) {
        if (o != person_id) other = o;
      }
      v1::RowError e;
      e.set_line(line);
      e.set_column("seat");
      e.set_value(seat);
      e.set_reason(absl::StrCat("seat \"", seat, "\" is already held by person \"", other, "\""));
      diff.errors.push_back(std::move(e));
    }
  }
  return diff;
}

}  // namespace rostersync::roster
