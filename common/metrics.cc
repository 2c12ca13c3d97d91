#include "common/metrics.h"

namespace rostersync {

std::shared_ptr<prometheus::Registry> MetricsRegistry() {
  static std::shared_ptr<prometheus::Registry> registry =
      std::make_shared<prometheus::Registry>();
  return registry;
}

}  // namespace rostersync
