// StripedRead / StripedWrite with in-memory streams: order, bounds, refusals and failures.
// The same code against a real sshd: tests/integration/sftp_transfer/sftp_client_test.cc.
#include "services/sftp_transfer/striped_transfer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"

namespace rostersync::transfer {
namespace {

using ::testing::HasSubstr;

std::string Pattern(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

// What the fake streams share: the source, counters and failure switches.
struct World {
  std::string source;
  std::mutex mu;
  std::string target;             // what writers wrote
  std::set<int64_t> offsets_read;  // every stripe offset read, to catch a stripe read twice
  int reads = 0;
  int held = 0;      // stripes read but not yet handed to the sink
  int max_held = 0;  // the most ever held at once
  int closes = 0;
  int64_t fail_read_at = -1;   // ReadAt at this offset fails
  int64_t fail_write_at = -1;  // WriteAt at this offset fails
  bool fail_close = false;
  bool jitter = true;
};

class FakeReader : public StripeReader {
 public:
  FakeReader(World& w, unsigned seed) : w_(w), gen_(seed) {}
  absl::Status ReadAt(int64_t offset, char* out, size_t len) override {
    if (w_.jitter) std::this_thread::sleep_for(std::chrono::microseconds(gen_() % 2000));
    std::lock_guard<std::mutex> lock(w_.mu);
    ++w_.reads;
    EXPECT_TRUE(w_.offsets_read.insert(offset).second) << "stripe at " << offset << " read twice";
    if (offset == w_.fail_read_at) return absl::UnavailableError("read broke at the fake server");
    if (offset + static_cast<int64_t>(len) > static_cast<int64_t>(w_.source.size())) {
      return absl::InternalError("read past the end");
    }
    std::memcpy(out, w_.source.data() + offset, len);
    w_.max_held = std::max(w_.max_held, ++w_.held);
    return absl::OkStatus();
  }

 private:
  World& w_;
  std::mt19937 gen_;
};

class FakeWriter : public StripeWriter {
 public:
  FakeWriter(World& w, unsigned seed) : w_(w), gen_(seed) {}
  absl::Status WriteAt(int64_t offset, const char* data, size_t len) override {
    if (w_.jitter) std::this_thread::sleep_for(std::chrono::microseconds(gen_() % 2000));
    std::lock_guard<std::mutex> lock(w_.mu);
    EXPECT_FALSE(closed_) << "write after close";
    if (offset == w_.fail_write_at) return absl::UnavailableError("write broke at the fake server");
    if (w_.target.size() < static_cast<size_t>(offset) + len) w_.target.resize(offset + len, '?');
    std::memcpy(w_.target.data() + offset, data, len);
    return absl::OkStatus();
  }
  absl::Status Close() override {
    std::lock_guard<std::mutex> lock(w_.mu);
    EXPECT_FALSE(closed_) << "closed twice";
    closed_ = true;
    ++w_.closes;
    if (w_.fail_close) return absl::UnavailableError("close broke");
    return absl::OkStatus();
  }

 private:
  World& w_;
  std::mt19937 gen_;
  bool closed_ = false;
};

StripeOptions Options(int streams, int64_t stripe = 1000, int ahead = 3) {
  StripeOptions o;
  o.streams = streams;
  o.stripe_bytes = stripe;
  o.max_ahead = ahead;
  o.open_more_after = 5000;
  return o;
}

// A sink that collects bytes and releases the "held" count of the stripe it got.
ByteSink Collect(World& w, std::string& out) {
  return [&w, &out](std::string_view bytes) {
    {
      std::lock_guard<std::mutex> lock(w.mu);
      --w.held;
    }
    out.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  };
}

TEST(StripedReadTest, HandsTheFileOverInOrderWhateverTheStreamsSpeed) {
  for (int streams : {1, 2, 3, 5}) {
    World w;
    w.source = Pattern(25'345, static_cast<unsigned>(streams));  // 26 stripes, the last short
    FakeReader first(w, 1);
    unsigned seed = 10;
    OpenStripeReader open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeReader>> {
      std::lock_guard<std::mutex> lock(w.mu);
      return std::make_unique<FakeReader>(w, ++seed);
    };
    std::string got;
    StripeStats stats;
    auto n = StripedRead(Options(streams), static_cast<int64_t>(w.source.size()), first, open_more,
                         Collect(w, got), &stats);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, static_cast<int64_t>(w.source.size()));
    EXPECT_TRUE(got == w.source) << "streams=" << streams << ": bytes out of order or lost";
    EXPECT_EQ(w.reads, 26) << "each stripe read exactly once";
    EXPECT_EQ(stats.streams_used, streams);
    EXPECT_EQ(stats.streams_refused, 0);
    EXPECT_LE(w.max_held, 3) << "never more than max_ahead stripes in memory";
  }
}

TEST(StripedReadTest, HoldsAtMostMaxAheadStripesWhileTheSinkIsSlow) {
  World w;
  w.jitter = false;
  w.source = Pattern(40'000, 3);
  FakeReader first(w, 1);
  OpenStripeReader open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeReader>> {
    return std::make_unique<FakeReader>(w, 2);
  };
  std::string got;
  ByteSink collect = Collect(w, got);
  ByteSink slow = [&](std::string_view bytes) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // streams run ahead and wait
    return collect(bytes);
  };
  auto n = StripedRead(Options(4, 1000, 2), 40'000, first, open_more, slow);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(got == w.source);
  EXPECT_EQ(w.max_held, 2);
}

TEST(StripedReadTest, ARefusedExtraStreamIsNotAnError) {
  World w;
  w.source = Pattern(9'999, 4);
  FakeReader first(w, 1);
  int asked = 0;
  std::mutex asked_mu;
  OpenStripeReader open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeReader>> {
    std::lock_guard<std::mutex> lock(asked_mu);
    ++asked;
    return absl::UnavailableError("too many sessions for this user");
  };
  std::string got;
  StripeStats stats;
  auto n = StripedRead(Options(3), 9'999, first, open_more, Collect(w, got), &stats);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(got == w.source);
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(stats.streams_used, 1);
  EXPECT_EQ(stats.streams_refused, 2);
  EXPECT_EQ(stats.refused_reason, "too many sessions for this user");
}

TEST(StripedReadTest, AnAbortedOpenStopsTheTransfer) {
  World w;
  w.source = Pattern(30'000, 12);
  FakeReader first(w, 1);
  OpenStripeReader open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeReader>> {
    return absl::AbortedError("the extra stream found a different file");
  };
  std::string got;
  ByteSink slow = [&, collect = Collect(w, got)](std::string_view bytes) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the open answers meanwhile
    return collect(bytes);
  };
  StripeStats stats;
  auto n = StripedRead(Options(2), 30'000, first, open_more, slow, &stats);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(n.status().message(), HasSubstr("different file"));
  EXPECT_EQ(stats.streams_refused, 0);
}

TEST(StripedReadTest, AStreamFailureStopsAllAndTheSinkGotOnlyAnInOrderPrefix) {
  World w;
  w.source = Pattern(30'000, 5);
  w.fail_read_at = 17'000;
  FakeReader first(w, 1);
  OpenStripeReader open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeReader>> {
    return std::make_unique<FakeReader>(w, 9);
  };
  std::string got;
  auto n = StripedRead(Options(2), 30'000, first, open_more, Collect(w, got));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(n.status().message(), HasSubstr("read broke"));
  EXPECT_LE(got.size(), 17'000u);
  EXPECT_TRUE(got == w.source.substr(0, got.size())) << "only a prefix, in order";
  EXPECT_LT(w.reads, 30) << "the streams stopped";
}

TEST(StripedReadTest, ASinkFailureStopsTheStreamsAndIsReturned) {
  World w;
  w.jitter = false;
  w.source = Pattern(100'000, 6);
  FakeReader first(w, 1);
  OpenStripeReader open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeReader>> {
    return std::make_unique<FakeReader>(w, 2);
  };
  int calls = 0;
  ByteSink failing = [&](std::string_view) {
    return ++calls == 3 ? absl::ResourceExhaustedError("archive is full") : absl::OkStatus();
  };
  auto n = StripedRead(Options(2), 100'000, first, open_more, failing);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(calls, 3);
  EXPECT_LE(w.reads, 3 + 3) << "at most max_ahead stripes past the failure";
}

TEST(StripedWriteTest, WritesEveryByteAtItsOffsetAndClosesEveryStream) {
  for (int streams : {1, 2, 4}) {
    World w;
    w.source = Pattern(23'456, static_cast<unsigned>(streams) + 20);
    FakeWriter first(w, 1);
    unsigned seed = 30;
    int opened = 0;
    OpenStripeWriter open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeWriter>> {
      std::lock_guard<std::mutex> lock(w.mu);
      ++opened;
      return std::make_unique<FakeWriter>(w, ++seed);
    };
    ByteProducer producer = [&](const ByteSink& sink) -> absl::Status {
      std::mt19937 gen(7);
      for (size_t off = 0; off < w.source.size();) {
        size_t n = std::min<size_t>(1 + gen() % 2500, w.source.size() - off);  // odd chunk sizes
        absl::Status st = sink(std::string_view(w.source).substr(off, n));
        if (!st.ok()) return st;
        off += n;
      }
      return absl::OkStatus();
    };
    StripeStats stats;
    auto n = StripedWrite(Options(streams), first, open_more, producer, &stats);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, static_cast<int64_t>(w.source.size()));
    EXPECT_TRUE(w.target == w.source) << "streams=" << streams;
    EXPECT_EQ(opened, streams - 1);
    EXPECT_EQ(stats.streams_used, streams);
    EXPECT_EQ(w.closes, streams) << "every writer closed once";
  }
}

TEST(StripedWriteTest, ASmallUploadOpensNoExtraStream) {
  World w;
  w.source = Pattern(4'000, 8);  // below open_more_after (5000)
  FakeWriter first(w, 1);
  int opened = 0;
  OpenStripeWriter open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeWriter>> {
    ++opened;
    return std::make_unique<FakeWriter>(w, 2);
  };
  auto n = StripedWrite(Options(4), first, open_more,
                        [&](const ByteSink& sink) { return sink(w.source); });
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(w.target == w.source);
  EXPECT_EQ(opened, 0);
  EXPECT_EQ(w.closes, 1);
}

TEST(StripedWriteTest, AnEmptyUploadWritesNothingAndCloses) {
  World w;
  FakeWriter first(w, 1);
  auto n = StripedWrite(
      Options(2), first, [&]() -> absl::StatusOr<std::unique_ptr<StripeWriter>> {
        return absl::UnavailableError("not needed");
      },
      [](const ByteSink&) { return absl::OkStatus(); });
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0);
  EXPECT_TRUE(w.target.empty());
  EXPECT_EQ(w.closes, 1);
}

TEST(StripedWriteTest, AWriteFailureStopsTheProducerAndIsReturned) {
  World w;
  w.source = Pattern(50'000, 9);
  w.fail_write_at = 12'000;
  FakeWriter first(w, 1);
  OpenStripeWriter open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeWriter>> {
    return std::make_unique<FakeWriter>(w, 2);
  };
  absl::Status seen_by_producer;
  size_t produced = 0;
  auto n = StripedWrite(Options(2), first, open_more, [&](const ByteSink& sink) -> absl::Status {
    for (size_t off = 0; off < w.source.size(); off += 500) {
      seen_by_producer = sink(std::string_view(w.source).substr(off, 500));
      if (!seen_by_producer.ok()) return seen_by_producer;
      produced = off + 500;
    }
    return absl::OkStatus();
  });
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(n.status().message(), HasSubstr("write broke"));
  EXPECT_THAT(seen_by_producer.message(), HasSubstr("write broke"))
      << "the producer was told why it must stop";
  EXPECT_LT(produced, w.source.size());
  EXPECT_EQ(w.closes, 2) << "both streams closed";
}

TEST(StripedWriteTest, AProducerFailureIsReturnedAndEveryStreamClosed) {
  World w;
  FakeWriter first(w, 1);
  OpenStripeWriter open_more = [&]() -> absl::StatusOr<std::unique_ptr<StripeWriter>> {
    return std::make_unique<FakeWriter>(w, 2);
  };
  const std::string chunk(1500, 'x');
  auto n = StripedWrite(Options(3), first, open_more, [&](const ByteSink& sink) -> absl::Status {
    for (int i = 0; i < 6; ++i) {
      absl::Status st = sink(chunk);
      if (!st.ok()) return st;
    }
    return absl::DataLossError("archive file is damaged");
  });
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss);
  std::lock_guard<std::mutex> lock(w.mu);
  EXPECT_EQ(w.closes, 3) << "the first and the two extra streams (opened after 5000 bytes)";
}

TEST(StripedWriteTest, ACloseFailureFailsTheUpload) {
  World w;
  w.fail_close = true;
  FakeWriter first(w, 1);
  auto n = StripedWrite(
      Options(1), first, [&]() -> absl::StatusOr<std::unique_ptr<StripeWriter>> {
        return absl::UnavailableError("not needed");
      },
      [](const ByteSink& sink) { return sink("abc"); });
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(n.status().message(), HasSubstr("close broke"));
}

}  // namespace
}  // namespace rostersync::transfer
