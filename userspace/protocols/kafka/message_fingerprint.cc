#include "userspace/protocols/kafka/message_fingerprint.h"

namespace ztrace::kafka {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;  // FNV-1a, 64 bits
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t mix(uint64_t hash, uint64_t word) {
  for (int i = 0; i < 8; ++i) {
    hash = (hash ^ ((word >> (8 * i)) & 0xff)) * kFnvPrime;
  }
  return hash;
}

uint64_t mix(uint64_t hash, std::optional<uint64_t> length, std::string_view prefix) {
  hash = mix(hash, length ? *length : ~0ull);
  for (char c : prefix.substr(0, kFingerprintPrefixBytes)) {
    hash = (hash ^ static_cast<unsigned char>(c)) * kFnvPrime;
  }
  return hash;
}

}  // namespace

uint64_t message_fingerprint(std::optional<uint64_t> key_bytes, std::string_view key_prefix,
                             std::optional<uint64_t> value_bytes, std::string_view value_prefix) {
  return mix(mix(kFnvOffset, key_bytes, key_prefix), value_bytes, value_prefix);
}

uint64_t message_fingerprint(std::optional<std::string_view> key,
                             std::optional<std::string_view> value) {
  const auto length = [](std::optional<std::string_view> s) {
    return s ? std::optional<uint64_t>(s->size()) : std::nullopt;
  };
  return message_fingerprint(length(key), key.value_or(""), length(value), value.value_or(""));
}

}  // namespace ztrace::kafka
