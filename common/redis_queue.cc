#include "common/redis_queue.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <optional>
#include <random>

#include <prometheus/counter.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_macros.h"

namespace rostersync {
namespace {

RedisConnection::Reply Convert(const redisReply* r) {
  RedisConnection::Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisConnection::Reply::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisConnection::Reply::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisConnection::Reply::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisConnection::Reply::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisConnection::Reply::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = RedisConnection::Reply::kNil;
  }
  return out;
}

prometheus::Family<prometheus::Counter>& DeliveryCounter() {
  static auto& family = prometheus::BuildCounter()
                            .Name("rostersync_queue_deliveries_total")
                            .Help("Queue entries handled, by stream and outcome "
                                  "(acked, failed, reclaimed, dead_lettered)")
                            .Register(*MetricsRegistry());
  return family;
}

void CountDelivery(const std::string& stream, const std::string& outcome) {
  DeliveryCounter().Add({{"stream", stream}, {"outcome", outcome}}).Increment();
}

// Finds the "msg" field in a stream entry's [field, value, ...] array.
std::optional<std::string> PayloadOf(const RedisConnection::Reply& fields) {
  for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    if (fields.elements[i].str == kPayloadField) return fields.elements[i + 1].str;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<RedisOptions> ParseRedisAddress(std::string_view address,
                                               std::string_view setting) {
  std::vector<std::string> parts = absl::StrSplit(std::string(address), absl::MaxSplits(':', 1));
  RedisOptions options;
  int port = 0;
  if (parts.size() != 2 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(setting), ": \"", std::string(address), "\" is not host:port"));
  }
  options.host = parts[0];
  options.port = port;
  return options;
}

RedisConnection::RedisConnection(RedisOptions options) : options_(std::move(options)) {}

RedisConnection::~RedisConnection() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

absl::Status RedisConnection::EnsureConnected() {
  if (ctx_ != nullptr) return absl::OkStatus();
  timeval tv = absl::ToTimeval(options_.connect_timeout);
  redisContext* ctx = redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
  if (ctx == nullptr || ctx->err != 0) {
    std::string why = ctx != nullptr ? ctx->errstr : "out of memory";
    if (ctx != nullptr) redisFree(ctx);
    return absl::UnavailableError(
        absl::StrCat("redis ", options_.host, ":", options_.port, ": ", why));
  }
  timeval cmd = absl::ToTimeval(options_.command_timeout);
  redisSetTimeout(ctx, cmd);
  redisEnableKeepAlive(ctx);
  ctx_ = ctx;
  return absl::OkStatus();
}

absl::StatusOr<RedisConnection::Reply> RedisConnection::Command(
    const std::vector<std::string>& args) {
  RETURN_IF_ERROR(EnsureConnected());
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (reply == nullptr) {
    // hiredis 0.14: the context is unusable after any I/O or protocol error.
    std::string why = ctx_->errstr;
    redisFree(ctx_);
    ctx_ = nullptr;
    return absl::UnavailableError(absl::StrCat("redis ", options_.host, ":", options_.port,
                                               ": ", args.empty() ? "" : args[0], ": ", why));
  }
  Reply out = Convert(reply);
  freeReplyObject(reply);
  if (out.type == Reply::kError) {
    return absl::FailedPreconditionError(
        absl::StrCat("redis ", args.empty() ? "" : args[0], ": ", out.str));
  }
  return out;
}

RedisPublisher::RedisPublisher(RedisOptions options) : conn_(std::move(options)) {}

absl::StatusOr<std::string> RedisPublisher::Publish(std::string_view stream,
                                                    std::string_view payload) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto reply, conn_.Command({"XADD", std::string(stream), "*", kPayloadField,
                                              std::string(payload)}));
  return reply.str;
}

std::string DefaultConsumerName() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

absl::StatusOr<int64_t> StreamLength(RedisConnection& conn, std::string_view stream) {
  ASSIGN_OR_RETURN(auto reply, conn.Command({"XLEN", std::string(stream)}));
  return reply.integer;
}

namespace {
RedisOptions WithBlockTimeout(RedisOptions redis, const ConsumerOptions& options) {
  // The socket timeout must outlast a blocking XREADGROUP.
  redis.command_timeout = std::max(redis.command_timeout, options.block + absl::Seconds(2));
  return redis;
}
}  // namespace

StreamConsumer::StreamConsumer(RedisOptions redis, ConsumerOptions options,
                               DeliveryHandler handler)
    : redis_(redis),
      options_(std::move(options)),
      handler_(std::move(handler)),
      conn_(WithBlockTimeout(redis, options_)) {}

StreamConsumer::~StreamConsumer() { Stop(); }

void StreamConsumer::Start() {
  stop_ = false;
  thread_ = std::thread([this] {
    absl::Duration backoff = options_.backoff_initial;
    std::mt19937 rng(std::random_device{}());
    while (!stop_) {
      absl::StatusOr<bool> handled = PollOnce();
      if (handled.ok()) {
        backoff = options_.backoff_initial;
        continue;
      }
      log::Warn("queue consumer error; backing off",
                {{"stream", options_.stream}, {"error", std::string(handled.status().message())},
                 {"backoff_ms", std::to_string(absl::ToInt64Milliseconds(backoff))}});
      // Full jitter, sliced so that Stop() is prompt.
      absl::Duration sleep = backoff * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
      for (absl::Time until = absl::Now() + sleep; !stop_ && absl::Now() < until;) {
        absl::SleepFor(absl::Milliseconds(20));
      }
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  });
}

void StreamConsumer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::Status StreamConsumer::EnsureGroup() {
  if (group_ready_) return absl::OkStatus();
  // Start at 0 so that jobs published before the group existed are not skipped.
  auto reply = conn_.Command({"XGROUP", "CREATE", options_.stream, options_.group, "0",
                              "MKSTREAM"});
  if (!reply.ok() && reply.status().message().find("BUSYGROUP") == std::string_view::npos) {
    return reply.status();
  }
  group_ready_ = true;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> StreamConsumer::DeliveryCount(const std::string& id) {
  ASSIGN_OR_RETURN(auto reply, conn_.Command({"XPENDING", options_.stream, options_.group, id,
                                              id, "1"}));
  if (reply.elements.empty() || reply.elements[0].elements.size() < 4) return 1;
  return reply.elements[0].elements[3].integer;
}

absl::StatusOr<bool> StreamConsumer::PollOnce() {
  absl::StatusOr<bool> result = PollOnceInner();
  // A restarted Redis without persistence has lost the group: create it again next time.
  if (!result.ok() && (absl::IsUnavailable(result.status()) ||
                       result.status().message().find("NOGROUP") != std::string_view::npos)) {
    group_ready_ = false;
  }
  return result;
}

absl::StatusOr<bool> StreamConsumer::PollOnceInner() {
  absl::Status group = EnsureGroup();
  if (!group.ok()) {
    group_ready_ = false;
    return group;
  }
  // 1. Entries whose consumer went quiet for longer than the visibility timeout.
  ASSIGN_OR_RETURN(
      auto claimed,
      conn_.Command({"XAUTOCLAIM", options_.stream, options_.group, options_.consumer,
                     std::to_string(absl::ToInt64Milliseconds(options_.visibility_timeout)),
                     "0-0", "COUNT", "1"}));
  if (claimed.elements.size() >= 2 && !claimed.elements[1].elements.empty()) {
    const auto& entry = claimed.elements[1].elements[0];
    if (entry.elements.size() >= 2) {
      const std::string id = entry.elements[0].str;
      ASSIGN_OR_RETURN(int64_t count, DeliveryCount(id));
      CountDelivery(options_.stream, "reclaimed");
      log::Warn("queue entry reclaimed from an idle consumer",
                {{"stream", options_.stream}, {"entry_id", id},
                 {"deliveries", std::to_string(count)}});
      return Handle(id, PayloadOf(entry.elements[1]).value_or(""), count);
    }
  }
  // 2. A new entry.
  ASSIGN_OR_RETURN(
      auto read,
      conn_.Command({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT", "1",
                     "BLOCK", std::to_string(absl::ToInt64Milliseconds(options_.block)),
                     "STREAMS", options_.stream, ">"}));
  if (read.type != RedisConnection::Reply::kArray || read.elements.empty()) return false;
  const auto& entries = read.elements[0].elements.size() >= 2
                            ? read.elements[0].elements[1].elements
                            : std::vector<RedisConnection::Reply>{};
  if (entries.empty() || entries[0].elements.size() < 2) return false;
  return Handle(entries[0].elements[0].str, PayloadOf(entries[0].elements[1]).value_or(""), 1);
}

absl::StatusOr<bool> StreamConsumer::Handle(const std::string& id, const std::string& payload,
                                            int64_t delivery_count) {
  if (delivery_count > options_.max_deliveries || payload.empty()) {
    std::string reason =
        payload.empty() ? std::string("entry has no \"msg\" field")
                        : absl::StrCat("not acked after ", delivery_count - 1,
                                       " deliveries (max_deliveries ", options_.max_deliveries,
                                       ")");
    ASSIGN_OR_RETURN(auto added,
                     conn_.Command({"XADD", options_.stream + ":dead", "*", kPayloadField,
                                    payload, "source_id", id, "group", options_.group, "reason",
                                    reason}));
    RETURN_IF_ERROR(conn_.Command({"XACK", options_.stream, options_.group, id}).status());
    CountDelivery(options_.stream, "dead_lettered");
    log::Error("queue entry dead-lettered",
               {{"stream", options_.stream}, {"entry_id", id}, {"reason", reason},
                {"dead_letter_id", added.str}});
    return true;
  }

  // Keep the claim fresh while the handler works, on a connection of its own.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread keeper([&] {
    RedisConnection keeper_conn(redis_);
    const absl::Duration every = std::max(options_.visibility_timeout / 3, absl::Milliseconds(50));
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, absl::ToChronoMilliseconds(every), [&] { return done; })) {
      lock.unlock();
      auto r = keeper_conn.Command({"XCLAIM", options_.stream, options_.group, options_.consumer,
                                    "0", id, "JUSTID"});
      if (!r.ok()) {
        log::Warn("queue claim refresh failed",
                  {{"stream", options_.stream}, {"entry_id", id},
                   {"error", std::string(r.status().message())}});
      }
      lock.lock();
    }
  });
  Delivery delivery{id, payload, delivery_count};
  absl::Status status = handler_(delivery);
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  keeper.join();

  if (!status.ok()) {
    CountDelivery(options_.stream, "failed");
    log::Warn("queue entry handler failed; it will be redelivered",
              {{"stream", options_.stream}, {"entry_id", id},
               {"deliveries", std::to_string(delivery_count)},
               {"error", std::string(status.message())}});
    return status;
  }
  RETURN_IF_ERROR(conn_.Command({"XACK", options_.stream, options_.group, id}).status());
  CountDelivery(options_.stream, "acked");
  return true;
}

}  // namespace rostersync
