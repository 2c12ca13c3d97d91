#include "services/sftp_transfer/striped_transfer.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rostersync::transfer {
namespace {

StripeOptions Sane(StripeOptions o) {
  o.stripe_bytes = std::max<int64_t>(1, o.stripe_bytes);
  o.streams = std::max(1, o.streams);
  o.max_ahead = std::max(1, o.max_ahead);
  return o;
}

// What the streams and the calling thread share; every field is guarded by `mu`.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  absl::Status error;  // the first failure
  std::vector<std::string> free_buffers;
  StripeStats stats;

  void Fail(absl::Status st) {  // with mu held
    if (error.ok()) error = std::move(st);
    stop = true;
    cv.notify_all();
  }
  std::string TakeBuffer(size_t size) {  // with mu held
    std::string b;
    if (!free_buffers.empty()) {
      b = std::move(free_buffers.back());
      free_buffers.pop_back();
    }
    b.resize(size);
    return b;
  }
  void Refused(const absl::Status& st) {  // with mu held
    ++stats.streams_refused;
    if (stats.refused_reason.empty()) stats.refused_reason = std::string(st.message());
  }
};

// Waits under `lock` until `ready()`, calling `idle()` (unlocked) about once a second meanwhile.
template <typename Ready, typename Idle>
void WaitIdling(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Ready ready,
                Idle idle) {
  while (!cv.wait_for(lock, std::chrono::seconds(1), ready)) {
    lock.unlock();
    idle();
    lock.lock();
  }
}

// Joins the threads it holds when it goes out of scope, after telling them to stop.
struct Threads {
  Shared& shared;
  std::vector<std::thread> threads;
  ~Threads() {
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.stop = true;
      shared.cv.notify_all();
    }
    for (std::thread& t : threads) t.join();
  }
};

// Starts `count` extra streams, each in a thread of its own: opens it with `open` and runs it
// with `run`. A stream that cannot be opened is counted as refused, not an error, unless `open`
// says ABORTED (the transfer must not go on); one that opens after the transfer stopped is
// closed unused. `open` and `run` must outlive `threads`.
template <typename Open, typename Run>
void StartExtraStreams(Shared& shared, Threads& threads, int count, const Open& open,
                       const Run& run) {
  for (int i = 0; i < count; ++i) {
    threads.threads.emplace_back([&shared, &open, &run] {
      auto stream = open();
      {
        std::lock_guard<std::mutex> lock(shared.mu);
        if (!stream.ok()) {
          if (absl::IsAborted(stream.status())) {
            shared.Fail(stream.status());
          } else {
            shared.Refused(stream.status());
          }
          return;
        }
        if (shared.stop) return;  // too late to help
        ++shared.stats.streams_used;
      }
      run(**stream);
    });
  }
}

}  // namespace

absl::StatusOr<int64_t> StripedRead(const StripeOptions& raw_options, int64_t size,
                                    StripeReader& first, const OpenStripeReader& open_more,
                                    const ByteSink& sink, StripeStats* stats) {
  const StripeOptions options = Sane(raw_options);
  const int64_t stripes = (size + options.stripe_bytes - 1) / options.stripe_bytes;
  auto stripe_len = [&](int64_t k) {
    return static_cast<size_t>(std::min(options.stripe_bytes, size - k * options.stripe_bytes));
  };

  Shared shared;
  int64_t next_stripe = 0;  // the next stripe a stream takes
  int64_t emitted = 0;      // stripes handed to the sink
  std::map<int64_t, std::string> ready;

  auto run = [&](StripeReader& reader) {
    for (;;) {
      int64_t k = 0;
      std::string buffer;
      {
        std::unique_lock<std::mutex> lock(shared.mu);
        WaitIdling(
            lock, shared.cv,
            [&] {
              return shared.stop || next_stripe >= stripes ||
                     next_stripe < emitted + options.max_ahead;
            },
            [&] { reader.Idle(); });
        if (shared.stop || next_stripe >= stripes) return;
        k = next_stripe++;
        buffer = shared.TakeBuffer(stripe_len(k));
      }
      absl::Status st = reader.ReadAt(k * options.stripe_bytes, buffer.data(), buffer.size());
      std::lock_guard<std::mutex> lock(shared.mu);
      if (!st.ok()) {
        shared.Fail(std::move(st));
        return;
      }
      ready.emplace(k, std::move(buffer));
      shared.cv.notify_all();
    }
  };

  absl::Status sink_status;
  {
    Threads threads{shared, {}};
    threads.threads.emplace_back([&] { run(first); });
    if (stripes > 1) StartExtraStreams(shared, threads, options.streams - 1, open_more, run);
    for (int64_t k = 0; k < stripes; ++k) {
      std::string buffer;
      {
        std::unique_lock<std::mutex> lock(shared.mu);
        shared.cv.wait(lock, [&] { return shared.stop || ready.count(k) > 0; });
        auto it = ready.find(k);
        if (it == ready.end()) break;  // a stream failed
        buffer = std::move(it->second);
        ready.erase(it);
      }
      sink_status = sink(std::string_view(buffer.data(), buffer.size()));
      std::lock_guard<std::mutex> lock(shared.mu);
      ++emitted;
      shared.free_buffers.push_back(std::move(buffer));
      if (!sink_status.ok()) {
        shared.Fail(sink_status);
        break;
      }
      shared.cv.notify_all();
    }
  }  // stops and joins the streams
  if (stats != nullptr) *stats = shared.stats;
  if (!shared.error.ok()) return shared.error;
  return size;
}

absl::StatusOr<int64_t> StripedWrite(const StripeOptions& raw_options, StripeWriter& first,
                                     const OpenStripeWriter& open_more,
                                     const ByteProducer& producer, StripeStats* stats) {
  const StripeOptions options = Sane(raw_options);
  struct Stripe {
    int64_t offset = 0;
    std::string bytes;
  };
  Shared shared;
  std::deque<Stripe> queue;
  int outstanding = 0;  // stripes queued or being written
  bool produced_all = false;

  // Takes stripes until the producer is done and the queue is empty, then closes the writer.
  auto run = [&](StripeWriter& writer) {
    for (;;) {
      Stripe stripe;
      {
        std::unique_lock<std::mutex> lock(shared.mu);
        WaitIdling(
            lock, shared.cv, [&] { return shared.stop || !queue.empty() || produced_all; },
            [&] { writer.Idle(); });
        if (shared.stop) break;
        if (queue.empty()) break;  // produced_all and nothing left
        stripe = std::move(queue.front());
        queue.pop_front();
      }
      absl::Status st = writer.WriteAt(stripe.offset, stripe.bytes.data(), stripe.bytes.size());
      std::lock_guard<std::mutex> lock(shared.mu);
      if (!st.ok()) {
        shared.Fail(std::move(st));
        break;
      }
      --outstanding;
      shared.free_buffers.push_back(std::move(stripe.bytes));
      shared.cv.notify_all();
    }
    absl::Status closed = writer.Close();
    if (!closed.ok()) {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.Fail(std::move(closed));
    }
  };

  int64_t total = 0;
  absl::Status produced;
  {
    Threads threads{shared, {}};
    threads.threads.emplace_back([&] { run(first); });
    bool opened_more = options.streams <= 1;
    std::string current;
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      current = shared.TakeBuffer(0);
    }
    current.reserve(static_cast<size_t>(options.stripe_bytes));
    // The error that stopped the streams, for the producer (it never sees a stand-in).
    auto stopped = [&]() -> absl::Status {
      std::lock_guard<std::mutex> lock(shared.mu);
      return shared.error.ok() ? absl::AbortedError("upload stopped") : shared.error;
    };
    // Queues `current` as the stripe at offset `total - current.size()`; false once stopped.
    auto push = [&]() -> bool {
      const size_t len = current.size();
      if (len == 0) return true;
      {
        std::unique_lock<std::mutex> lock(shared.mu);
        shared.cv.wait(lock, [&] { return shared.stop || outstanding < options.max_ahead; });
        if (shared.stop) return false;
        queue.push_back(Stripe{total - static_cast<int64_t>(len), std::move(current)});
        ++outstanding;
        shared.cv.notify_all();
        current = shared.TakeBuffer(0);
      }
      current.reserve(static_cast<size_t>(options.stripe_bytes));
      if (!opened_more && total >= options.open_more_after) {
        opened_more = true;
        StartExtraStreams(shared, threads, options.streams - 1, open_more, run);
      }
      return true;
    };
    ByteSink sink = [&](std::string_view bytes) -> absl::Status {
      while (!bytes.empty()) {
        const size_t room = static_cast<size_t>(options.stripe_bytes) - current.size();
        const size_t take = std::min(room, bytes.size());
        current.append(bytes.data(), take);
        bytes.remove_prefix(take);
        total += static_cast<int64_t>(take);
        if (current.size() == static_cast<size_t>(options.stripe_bytes) && !push()) {
          return stopped();
        }
      }
      return absl::OkStatus();
    };
    produced = producer(sink);
    if (produced.ok() && !push()) produced = stopped();
    std::unique_lock<std::mutex> lock(shared.mu);
    if (!produced.ok() && shared.error.ok()) {
      shared.Fail(produced);
    } else {
      produced_all = true;
      shared.cv.notify_all();
      // Wait for the streams to drain the queue (or fail) before ~Threads sets stop.
      shared.cv.wait(lock, [&] { return shared.stop || outstanding == 0; });
    }
  }  // joins the streams; each closed its writer
  if (stats != nullptr) *stats = shared.stats;
  if (!shared.error.ok()) return shared.error;
  return total;
}

}  // namespace rostersync::transfer
