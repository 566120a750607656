#include "userspace/protocols/kafka/compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

namespace ztrace::kafka {
namespace {

constexpr size_t kChunkBytes = 16 * 1024;

// Grows `out` by one chunk at most, never past the budget; false when the budget is spent.
bool grow(std::string& out, size_t used, size_t budget_bytes) {
  if (used >= budget_bytes) return false;
  out.resize(used + std::min(kChunkBytes, budget_bytes - used));
  return true;
}

DecompressResult gunzip(std::string_view input, size_t budget_bytes, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return DecompressResult::kCorrupt;  // gzip or zlib
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  z.avail_in = static_cast<uInt>(input.size());
  size_t used = 0;
  DecompressResult result = DecompressResult::kOk;
  for (;;) {
    if (!grow(out, used, budget_bytes)) {
      result = DecompressResult::kOverBudget;
      break;
    }
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(out.size() - used);
    const int rc = inflate(&z, Z_NO_FLUSH);
    used = out.size() - z.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
      result = DecompressResult::kCorrupt;
      break;
    }
  }
  inflateEnd(&z);
  out.resize(used);
  return result;
}

// One raw snappy block appended to `out`.
DecompressResult unsnappy_block(std::string_view block, size_t budget_bytes, std::string& out) {
  size_t length = 0;
  if (snappy_uncompressed_length(block.data(), block.size(), &length) != SNAPPY_OK) {
    return DecompressResult::kCorrupt;
  }
  if (length > budget_bytes - out.size()) return DecompressResult::kOverBudget;
  const size_t used = out.size();
  out.resize(used + length);
  if (snappy_uncompress(block.data(), block.size(), out.data() + used, &length) != SNAPPY_OK) {
    return DecompressResult::kCorrupt;
  }
  out.resize(used + length);
  return DecompressResult::kOk;
}

// Raw snappy, or the xerial snappy-java framing the Java client writes: an 8-byte magic, two
// int32 versions, then blocks of int32 length + raw snappy.
DecompressResult unsnappy(std::string_view input, size_t budget_bytes, std::string& out) {
  static constexpr std::string_view kJavaMagic("\x82SNAPPY\0", 8);
  if (!input.starts_with(kJavaMagic)) return unsnappy_block(input, budget_bytes, out);
  if (input.size() < 16) return DecompressResult::kCorrupt;
  input.remove_prefix(16);
  while (!input.empty()) {
    if (input.size() < 4) return DecompressResult::kCorrupt;
    const uint32_t length = uint32_t{static_cast<uint8_t>(input[0])} << 24 |
                            uint32_t{static_cast<uint8_t>(input[1])} << 16 |
                            uint32_t{static_cast<uint8_t>(input[2])} << 8 |
                            uint32_t{static_cast<uint8_t>(input[3])};
    input.remove_prefix(4);
    if (length > input.size()) return DecompressResult::kCorrupt;
    const DecompressResult r = unsnappy_block(input.substr(0, length), budget_bytes, out);
    if (r != DecompressResult::kOk) return r;
    input.remove_prefix(length);
  }
  return DecompressResult::kOk;
}

// The LZ4 frame format (KIP-57: magic 1+ batches have a correct header checksum).
DecompressResult unlz4(std::string_view input, size_t budget_bytes, std::string& out) {
  LZ4F_dctx* dctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
    return DecompressResult::kCorrupt;
  }
  size_t used = 0;
  DecompressResult result = DecompressResult::kOk;
  for (;;) {
    if (!grow(out, used, budget_bytes)) {
      result = DecompressResult::kOverBudget;
      break;
    }
    size_t out_size = out.size() - used;
    size_t in_size = input.size();
    const size_t hint =
        LZ4F_decompress(dctx, out.data() + used, &out_size, input.data(), &in_size, nullptr);
    used += out_size;
    input.remove_prefix(in_size);
    if (LZ4F_isError(hint)) {
      result = DecompressResult::kCorrupt;
      break;
    }
    if (hint == 0) break;  // frame complete
    if (input.empty() && out_size == 0) {
      result = DecompressResult::kCorrupt;  // truncated frame
      break;
    }
  }
  LZ4F_freeDecompressionContext(dctx);
  out.resize(used);
  return result;
}

DecompressResult unzstd(std::string_view input, size_t budget_bytes, std::string& out) {
  ZSTD_DStream* stream = ZSTD_createDStream();
  if (!stream) return DecompressResult::kCorrupt;
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t used = 0;
  DecompressResult result = DecompressResult::kOk;
  for (;;) {
    if (!grow(out, used, budget_bytes)) {
      result = DecompressResult::kOverBudget;
      break;
    }
    ZSTD_outBuffer o{out.data(), out.size(), used};
    const size_t rc = ZSTD_decompressStream(stream, &o, &in);
    used = o.pos;
    if (ZSTD_isError(rc)) {
      result = DecompressResult::kCorrupt;
      break;
    }
    if (rc == 0 && in.pos == in.size) break;  // every frame complete
    if (in.pos == in.size && o.pos < o.size) {
      result = DecompressResult::kCorrupt;  // truncated frame
      break;
    }
  }
  ZSTD_freeDStream(stream);
  out.resize(used);
  return result;
}

}  // namespace

DecompressResult decompress(uint8_t codec, std::string_view input, size_t budget_bytes,
                            std::string& out) {
  out.clear();
  switch (static_cast<Codec>(codec)) {
    case Codec::kNone:
      if (input.size() > budget_bytes) return DecompressResult::kOverBudget;
      out.assign(input);
      return DecompressResult::kOk;
    case Codec::kGzip:
      return gunzip(input, budget_bytes, out);
    case Codec::kSnappy:
      return unsnappy(input, budget_bytes, out);
    case Codec::kLz4:
      return unlz4(input, budget_bytes, out);
    case Codec::kZstd:
      return unzstd(input, budget_bytes, out);
  }
  return DecompressResult::kUnknownCodec;
}

}  // namespace ztrace::kafka
