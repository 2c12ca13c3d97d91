// The Redis Streams queue against a real redis-server on a free loopback port.
#include "common/redis_queue.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "tests/fixtures/redis_server.h"

namespace rostersync {
namespace {

class RedisQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    redis_ = std::move(*server);
    options_.port = redis_->port();
  }

  ConsumerOptions Consumer(const std::string& name) {
    ConsumerOptions c;
    c.stream = "test:jobs";
    c.group = "workers";
    c.consumer = name;
    c.block = absl::Milliseconds(100);
    c.visibility_timeout = absl::Milliseconds(300);
    c.max_deliveries = 3;
    return c;
  }

  int64_t Pending() {
    RedisConnection conn(options_);
    auto r = conn.Command({"XPENDING", "test:jobs", "workers"});
    EXPECT_TRUE(r.ok()) << r.status();
    return r->elements.empty() ? 0 : r->elements[0].integer;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  RedisOptions options_;
};

TEST_F(RedisQueueTest, DeliversAndAcksAfterSuccess) {
  RedisPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish("test:jobs", "job-1").ok());
  std::vector<std::string> seen;
  StreamConsumer consumer(options_, Consumer("a"), [&](const Delivery& d) {
    seen.push_back(d.payload);
    EXPECT_EQ(d.delivery_count, 1);
    return absl::OkStatus();
  });
  auto handled = consumer.PollOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  EXPECT_TRUE(*handled);
  EXPECT_EQ(seen, std::vector<std::string>{"job-1"});
  EXPECT_EQ(Pending(), 0);
  EXPECT_FALSE(*consumer.PollOnce());  // nothing more
}

TEST_F(RedisQueueTest, RedeliversJobWhoseConsumerDiedWithoutAck) {
  RedisPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish("test:jobs", "job-crash").ok());
  // A worker process that takes the job and dies in the middle of it.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    StreamConsumer doomed(options_, Consumer("doomed"), [](const Delivery&) -> absl::Status {
      _exit(9);
    });
    (void)doomed.PollOnce();
    _exit(0);  // not reached when the job was received
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 9) << "the doomed worker never received the job";
  EXPECT_EQ(Pending(), 1);

  std::vector<Delivery> seen;
  StreamConsumer survivor(options_, Consumer("survivor"), [&](const Delivery& d) {
    seen.push_back(d);
    return absl::OkStatus();
  });
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (seen.empty() && absl::Now() < deadline) ASSERT_TRUE(survivor.PollOnce().ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].payload, "job-crash");
  EXPECT_EQ(seen[0].delivery_count, 2);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(RedisQueueTest, PoisonJobGoesToDeadLetterAfterMaxDeliveries) {
  RedisPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish("test:jobs", "poison").ok());
  int calls = 0;
  StreamConsumer consumer(options_, Consumer("a"), [&](const Delivery&) {
    ++calls;
    return absl::InternalError("cannot handle this");
  });
  RedisConnection conn(options_);
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  int64_t dead = 0;
  while (dead == 0 && absl::Now() < deadline) {
    (void)consumer.PollOnce();
    auto len = StreamLength(conn, "test:jobs:dead");
    ASSERT_TRUE(len.ok());
    dead = *len;
  }
  ASSERT_EQ(dead, 1);
  EXPECT_EQ(calls, 3);  // max_deliveries attempts, then dead-lettered without a 4th call
  EXPECT_EQ(Pending(), 0);
  auto entry = conn.Command({"XRANGE", "test:jobs:dead", "-", "+"});
  ASSERT_TRUE(entry.ok());
  const auto& fields = entry->elements[0].elements[1].elements;
  std::map<std::string, std::string> f;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) f[fields[i].str] = fields[i + 1].str;
  EXPECT_EQ(f["msg"], "poison");
  EXPECT_NE(f["reason"].find("after 3 deliveries"), std::string::npos) << f["reason"];
}

TEST_F(RedisQueueTest, ClaimIsKeptFreshWhileWorking) {
  RedisPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish("test:jobs", "slow").ok());
  std::atomic<bool> started{false};
  std::atomic<int> calls{0};
  StreamConsumer slow(options_, Consumer("slow"), [&](const Delivery&) {
    started = true;
    ++calls;
    absl::SleepFor(absl::Milliseconds(1500));  // five visibility timeouts
    return absl::OkStatus();
  });
  std::thread worker([&] { EXPECT_TRUE(*slow.PollOnce()); });
  while (!started) absl::SleepFor(absl::Milliseconds(10));
  StreamConsumer other(options_, Consumer("other"), [&](const Delivery&) {
    ++calls;
    return absl::OkStatus();
  });
  for (int i = 0; i < 8; ++i) {
    auto handled = other.PollOnce();
    ASSERT_TRUE(handled.ok());
    EXPECT_FALSE(*handled) << "a job being worked on was stolen";
  }
  worker.join();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(RedisQueueTest, ReconnectsAfterRedisRestart) {
  RedisPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish("test:jobs", "before").ok());
  std::atomic<int> handled{0};
  StreamConsumer consumer(options_, Consumer("a"), [&](const Delivery&) {
    ++handled;
    return absl::OkStatus();
  });
  consumer.Start();
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (handled < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_EQ(handled, 1);

  redis_->Stop();
  EXPECT_EQ(publisher.Publish("test:jobs", "lost").status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(redis_->Restart().ok());
  // The server came back empty (no persistence in the fixture): the group is re-created.
  deadline = absl::Now() + absl::Seconds(10);
  absl::Status published = absl::UnknownError("not tried");
  while (!published.ok() && absl::Now() < deadline) {
    published = publisher.Publish("test:jobs", "after").status();
  }
  ASSERT_TRUE(published.ok()) << published;
  deadline = absl::Now() + absl::Seconds(20);
  while (handled < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  consumer.Stop();
  EXPECT_EQ(handled, 2);
}

TEST(RedisAddressTest, ParsesAndNamesTheSetting) {
  auto ok = ParseRedisAddress("10.0.0.1:6380", "--redis");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->host, "10.0.0.1");
  EXPECT_EQ(ok->port, 6380);
  auto bad = ParseRedisAddress("localhost", "--redis");
  EXPECT_NE(bad.status().message().find("--redis"), std::string::npos);
}

}  // namespace
}  // namespace rostersync
