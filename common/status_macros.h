#pragma once

// Abseil 20220623 has no RETURN_IF_ERROR / ASSIGN_OR_RETURN; these are the project's.
#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RS_CONCAT_INNER_(a, b) a##b
#define RS_CONCAT_(a, b) RS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status rs_status_ = (expr);        \
    if (!rs_status_.ok()) return rs_status_;   \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  RS_ASSIGN_OR_RETURN_IMPL_(RS_CONCAT_(rs_statusor_, __LINE__), lhs, expr)

#define RS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return statusor.status();        \
  lhs = std::move(statusor).value()
