#pragma once

// The process-wide Prometheus registry, served on /metrics by ServiceRunner.
#include <memory>

#include <prometheus/registry.h>

namespace rostersync {

std::shared_ptr<prometheus::Registry> MetricsRegistry();

}  // namespace rostersync
