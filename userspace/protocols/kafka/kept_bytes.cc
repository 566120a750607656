#include "userspace/protocols/kafka/kept_bytes.h"

#include <algorithm>
#include <atomic>

namespace ztrace::kafka {
namespace {

std::atomic<size_t> in_use{0};

}  // namespace

size_t kept_bytes_in_use() { return in_use.load(std::memory_order_relaxed); }

size_t KeptBytesShare::take(size_t wanted) {
  size_t used = in_use.load(std::memory_order_relaxed);
  size_t granted = 0;
  do {
    granted = std::min(wanted, kKeptBytesBudget - std::min(kKeptBytesBudget, used));
  } while (granted > 0 &&
           !in_use.compare_exchange_weak(used, used + granted, std::memory_order_relaxed));
  held_ += granted;
  return granted;
}

void KeptBytesShare::release() {
  if (held_ == 0) return;
  in_use.fetch_sub(held_, std::memory_order_relaxed);
  held_ = 0;
}

}  // namespace ztrace::kafka
