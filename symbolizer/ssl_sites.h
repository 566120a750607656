#pragma once

// Where to place the OpenSSL probes in SSL_read, SSL_read_ex, SSL_write and SSL_write_ex
// (x86-64, Zydis), preferring instructions the kernel emulates (~0.6 us a hit) over
// single-stepped ones (~10-25 us), and never needing a uretprobe:
// - A thin wrapper (Debian's libssl: `sub rsp; ...; call ssl_read_internal; test eax,eax;
//   jle`): the call is the enter site, its registers are the internal function's arguments
//   (s, buf, num, size_t *count), and the jcc that tests its result is the result site.
// - Otherwise (node, where the internal function is inlined): the first emulated instruction
//   before the argument registers change (`push %rbp`), or the entry; every RET for the result.

#include <cstdint>
#include <span>
#include <vector>

#include "symbolizer/result.h"

namespace ztrace::symbolizer {

struct SslFunctionSites {
  uint64_t enter_offset = 0;  // from the function's entry
  bool enter_emulated = false;
  // The enter site is the call into ssl_{read,write}_internal: RCX holds the count's address.
  bool enter_at_internal_call = false;
  std::vector<uint64_t> result_offsets;  // the jcc after the internal call, or every RET
  bool result_emulated = false;          // the jcc (RAX: the internal call's result)
};

// `code` is the whole function. Fails when no RET can be found where one is needed.
Result<SslFunctionSites> find_ssl_sites(std::span<const uint8_t> code);

}  // namespace ztrace::symbolizer
