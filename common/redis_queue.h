#pragma once

// Redis Streams work queue: at-least-once delivery with consumer groups.
//  - Publish: XADD <stream> * msg <payload>.
//  - Consume: one consumer group per service. An entry is acked (XACK) only after the handler
//    returns OK, i.e. after its effect is durable. While the handler runs, a keeper thread
//    re-claims the entry (XCLAIM ... JUSTID) so it does not look idle. Entries idle past the
//    visibility timeout (their consumer died) are reclaimed with XAUTOCLAIM by any consumer.
//    An entry delivered more than max_deliveries times is copied to "<stream>:dead" with the
//    reason and acked.
//  - hiredis 0.14 has no per-command timeout and a context is dead after any error: each
//    connection sets one socket timeout, and any error drops the context and reconnects with
//    exponential backoff.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct redisContext;

namespace rostersync {

inline constexpr char kTransferJobsStream[] = "rostersync:jobs:transfer";
inline constexpr char kRosterJobsStream[] = "rostersync:jobs:roster";
inline constexpr char kEventsStream[] = "rostersync:events";
inline constexpr char kPayloadField[] = "msg";

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  absl::Duration connect_timeout = absl::Seconds(2);
  // Socket timeout for every command on a connection (hiredis 0.14 has no per-command one).
  absl::Duration command_timeout = absl::Seconds(5);
};

// "host:port" -> options; INVALID_ARGUMENT naming `setting` when malformed.
absl::StatusOr<RedisOptions> ParseRedisAddress(std::string_view address, std::string_view setting);

// One reconnecting hiredis connection. Not thread-safe; one per thread.
class RedisConnection {
 public:
  explicit RedisConnection(RedisOptions options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Runs one command given as arguments (binary safe). The reply is flattened into `out` as
  // a tree of RedisReply. On a connection error the context is dropped and UNAVAILABLE is
  // returned; the next call reconnects.
  struct Reply {
    enum Type { kNil, kString, kInteger, kArray, kStatus, kError } type = kNil;
    std::string str;
    int64_t integer = 0;
    std::vector<Reply> elements;
  };
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);

 private:
  absl::Status EnsureConnected();
  RedisOptions options_;
  redisContext* ctx_ = nullptr;
};

// Seam for code that publishes jobs or events.
class Publisher {
 public:
  virtual ~Publisher() = default;
  // Returns the entry id.
  virtual absl::StatusOr<std::string> Publish(std::string_view stream, std::string_view payload) = 0;
};

// Thread-safe publisher over one connection.
class RedisPublisher : public Publisher {
 public:
  explicit RedisPublisher(RedisOptions options);
  absl::StatusOr<std::string> Publish(std::string_view stream, std::string_view payload) override;

 private:
  std::mutex mu_;
  RedisConnection conn_;
};

struct ConsumerOptions {
  std::string stream;
  std::string group;
  std::string consumer;  // unique per process, e.g. "<hostname>-<pid>"
  absl::Duration block = absl::Seconds(1);
  absl::Duration visibility_timeout = absl::Seconds(30);
  int max_deliveries = 5;
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
};

struct Delivery {
  std::string id;
  std::string payload;
  int64_t delivery_count = 1;
};

// Returns OK once the effect is durable (the entry is then acked). A non-OK status leaves the
// entry pending: it is redelivered after the visibility timeout. Permanent failures should be
// reported (e.g. as a FAILED event) and return OK.
using DeliveryHandler = std::function<absl::Status(const Delivery&)>;

class StreamConsumer {
 public:
  StreamConsumer(RedisOptions redis, ConsumerOptions options, DeliveryHandler handler);
  ~StreamConsumer();

  // Runs the loop on a background thread until Stop().
  void Start();
  void Stop();

  // One step of the loop: reclaim idle entries or read a new one, handle it, ack it.
  // Returns true when an entry was handled (or dead-lettered).
  absl::StatusOr<bool> PollOnce();

 private:
  absl::StatusOr<bool> PollOnceInner();
  absl::Status EnsureGroup();
  absl::StatusOr<bool> Handle(const std::string& id, const std::string& payload,
                              int64_t delivery_count);
  absl::StatusOr<int64_t> DeliveryCount(const std::string& id);

  RedisOptions redis_;
  ConsumerOptions options_;
  DeliveryHandler handler_;
  RedisConnection conn_;
  bool group_ready_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A consumer name unique per process: "<hostname>-<pid>".
std::string DefaultConsumerName();

// XLEN of a stream (for the queue length gauge).
absl::StatusOr<int64_t> StreamLength(RedisConnection& conn, std::string_view stream);

}  // namespace rostersync
