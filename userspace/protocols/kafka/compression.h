#pragma once

// Decompression of record batches (protocol guide, "Record Batch": attributes bits 0-2) with
// Debian's libraries, under a byte budget: a batch that would inflate past it (a bomb, or just
// a huge batch) is given up, never allocated.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ztrace::kafka {

enum class Codec : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };

enum class DecompressResult : uint8_t {
  kOk,
  kOverBudget,    // the output would exceed the budget
  kCorrupt,       // the codec rejected the input
  kUnknownCodec,  // attributes name no codec the guide defines
};

// Appends the decompressed bytes of `input` to `out` (cleared first); at most `budget_bytes`.
DecompressResult decompress(uint8_t codec, std::string_view input, size_t budget_bytes,
                            std::string& out);

}  // namespace ztrace::kafka
