#pragma once

// The difference between a tenant's current roster and a validated file: who is added,
// updated, unchanged, and what happens to people absent from the file.
//
// Merge rules for a person in the file who is already in the roster:
//  - first_name, last_name, language and active always come from the file;
//  - email and person_type come from the file when it has that column, else are kept;
//  - seat: a non-empty seat cell assigns it; an empty cell or no seat column keeps the seat
//    rostersync already holds (seats are owned by rostersync; AssignSeat releases them);
//  - attributes: each attr column in the file sets (or, when empty, removes) that attribute;
//    attributes the file has no column for are kept;
//  - source_integration_id becomes the importing integration.
// New people get employee as person_type when the file has no person_type column.
//
// Full sync: people absent from the file whose source_integration_id is the importing
// integration are deleted (DELETE; their seat is released with them), deactivated
// (DEACTIVATE or UNSPECIFIED; already inactive people are left alone) or kept (KEEP). People
// that came from another integration are never touched by this one's absences.
//
// Seats stay unique: a seat the file assigns that someone else still holds afterwards is a
// RowError on the assigning row's line.
#include <cstdint>
#include <string>
#include <vector>

#include "rostersync/v1/common.pb.h"
#include "rostersync/v1/roster.pb.h"
#include "services/roster/person_validation.h"

namespace rostersync::roster {

struct RosterDiff {
  std::vector<v1::Person> added;        // final state
  std::vector<v1::Person> updated;      // final state
  std::vector<v1::Person> deactivated;  // final state (active = false)
  std::vector<std::string> deleted;     // person ids
  int64_t unchanged = 0;
  std::vector<v1::RowError> errors;  // seat conflicts; a diff with errors must not apply
};

// `current`: the roster as it is (any order). updated_at is ignored when comparing.
RosterDiff ComputeDiff(const std::vector<v1::Person>& current, const std::vector<PersonRow>& rows,
                       v1::SyncPolicy policy, const std::string& integration_id);

// Persons equal in everything but updated_at.
bool SamePerson(const v1::Person& a, const v1::Person& b);

}  // namespace rostersync::roster
