#pragma once

// Queue payload encoding: each stream entry's "msg" field holds one serialized rostersync.v1
// message (TransferJob, RosterJob or RunEvent). Decoding refuses empty or malformed payloads
// and jobs without the ids every effect is keyed by.
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "rostersync/v1/jobs.pb.h"

namespace rostersync {

template <typename Message>
std::string EncodeQueueMessage(const Message& message) {
  return message.SerializeAsString();
}

template <typename Message>
absl::StatusOr<Message> DecodeQueueMessage(std::string_view payload) {
  Message message;
  if (payload.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("queue payload: empty ", Message::descriptor()->full_name()));
  }
  if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queue payload: not a valid ", Message::descriptor()->full_name(), " (",
        payload.size(), " bytes)"));
  }
  if constexpr (requires { message.job_id(); message.run_id(); message.tenant_id(); }) {
    if (message.job_id().empty() || message.run_id().empty() || message.tenant_id().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "queue payload: ", Message::descriptor()->full_name(),
          " lacks job_id, run_id or tenant_id"));
    }
  }
  return message;
}

}  // namespace rostersync
