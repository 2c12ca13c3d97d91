#pragma once

// The one place where absl::Status and grpc::Status meet.
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace rostersync {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace rostersync
