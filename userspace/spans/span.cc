#include "userspace/spans/span.h"

#include <pthread.h>
#include <sys/random.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "userspace/common/utf8.h"

namespace ztrace::spans {

std::string_view to_string(SpanKind kind) {
  switch (kind) {
    case SpanKind::kServer:
      return "SERVER";
    case SpanKind::kClient:
      return "CLIENT";
    case SpanKind::kProducer:
      return "PRODUCER";
    case SpanKind::kConsumer:
      return "CONSUMER";
    case SpanKind::kInternal:
      break;
  }
  return "INTERNAL";
}

std::string_view to_string(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kError:
      return "ERROR";
    case StatusCode::kUnset:
      break;
  }
  return "UNSET";
}

AttributeKey AttributeKey::intern(std::string_view name) {
  static std::mutex mutex;
  // Never freed: keys are viewed by spans until the very end, static destructors included.
  static auto* names = new std::unordered_set<std::string>();
  // Repaired here, once, so that encoders never check a key again.
  std::string valid =
      utf8::is_valid(name) ? std::string(name) : utf8::with_replacement_characters(name);
  std::lock_guard lock(mutex);
  return AttributeKey(std::string_view(*names->emplace(std::move(valid)).first));
}

const AttributeValue* Span::find(std::string_view key) const {
  for (const Attribute& attribute : attributes) {
    if (attribute.key == key) return &attribute.value;
  }
  return nullptr;
}

namespace {

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& bytes) {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

template <size_t N>
std::string hex_of(const std::array<uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Bumped in every forked child so a thread_local generator inherited through fork() reseeds
// instead of repeating the parent's id sequence.
std::atomic<uint64_t> g_fork_generation{0};

void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

// xoshiro256** (Blackman & Vigna): ids need uniqueness, not cryptographic strength, and
// this costs a few ns against a syscall per id for getrandom().
class IdGenerator {
 public:
  uint64_t next() {
    uint64_t generation = g_fork_generation.load(std::memory_order_relaxed);
    if (!seeded_ || generation != generation_) seed(generation);
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  void seed(uint64_t generation) {
    static const int kAtForkRegistered = pthread_atfork(nullptr, nullptr, on_fork_child);
    (void)kAtForkRegistered;
    uint64_t seed_value = 0;
    if (getrandom(&seed_value, sizeof(seed_value), 0) != sizeof(seed_value)) {
      // No entropy source (very old kernel or seccomp): fall back to time and address
      // mixing, still distinct per thread.
      seed_value = static_cast<uint64_t>(
                       std::chrono::high_resolution_clock::now().time_since_epoch().count()) ^
                   reinterpret_cast<uintptr_t>(this);
    }
    // splitmix64 expands one word into a full, never all-zero, xoshiro state.
    for (uint64_t& word : s_) word = splitmix64(seed_value);
    seeded_ = true;
    generation_ = generation;
  }

  uint64_t s_[4] = {};
  bool seeded_ = false;
  uint64_t generation_ = 0;
};

IdGenerator& thread_generator() {
  thread_local IdGenerator generator;
  return generator;
}

}  // namespace

bool is_zero(const SpanId& id) { return all_zero(id); }
bool is_zero(const TraceId& id) { return all_zero(id); }
std::string to_hex(const TraceId& id) { return hex_of(id); }
std::string to_hex(const SpanId& id) { return hex_of(id); }

TraceId random_trace_id() {
  IdGenerator& generator = thread_generator();
  TraceId id;
  do {
    const uint64_t high = generator.next();
    const uint64_t low = generator.next();
    std::memcpy(id.data(), &high, sizeof(high));
    std::memcpy(id.data() + sizeof(high), &low, sizeof(low));
  } while (all_zero(id));
  return id;
}

SpanId random_span_id() {
  IdGenerator& generator = thread_generator();
  SpanId id;
  do {
    const uint64_t value = generator.next();
    std::memcpy(id.data(), &value, sizeof(value));
  } while (all_zero(id));
  return id;
}

}  // namespace ztrace::spans
