#include "symbolizer/go_offsets.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace ztrace::symbolizer {
namespace {

struct TableRow {
  int minor;
  std::string_view struct_name;
  std::string_view member;
  int64_t offset;
};

constexpr TableRow kTable[] = {
#include "symbolizer/go_offsets_table.inc"
};

int field_index(std::string_view struct_name, std::string_view member) {
  for (size_t i = 0; i < kGoFieldCount; ++i) {
    if (kGoFieldNames[i].struct_name == struct_name && kGoFieldNames[i].member == member) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void read_members(Dwarf_Die* type, std::string_view struct_name, GoOffsets* out) {
  Dwarf_Die child;
  if (dwarf_child(type, &child) != 0) return;
  do {
    if (dwarf_tag(&child) != DW_TAG_member) continue;
    const char* name = dwarf_diename(&child);
    if (!name) continue;
    int idx = field_index(struct_name, name);
    if (idx < 0) continue;
    Dwarf_Attribute attr;
    Dwarf_Word loc = 0;
    if (dwarf_attr(&child, DW_AT_data_member_location, &attr) &&
        dwarf_formudata(&attr, &loc) == 0) {
      out->offset[idx] = static_cast<int64_t>(loc);
    }
  } while (dwarf_siblingof(&child, &child) == 0);
}

}  // namespace

const std::array<GoFieldName, kGoFieldCount> kGoFieldNames = {{
    {"runtime.g", "goid"},
    {"net/http.Request", "Method"},
    {"net/http.Request", "URL"},
    {"net/http.Request", "Host"},
    {"net/http.Request", "Header"},
    {"net/http.Request", "ctx"},
    {"net/url.URL", "Path"},
    {"net/url.URL", "Host"},
    {"net/http.Response", "StatusCode"},
    {"net/http.response", "status"},
    {"net/http.response", "conn"},
    {"net/http.conn", "rwc"},
    {"crypto/tls.Conn", "conn"},
    {"net.conn", "fd"},
    {"net.netFD", "pfd"},
    {"internal/poll.FD", "Sysfd"},
    {"net/http.transportRequest", "Request"},
    // Unchanged from grpc-go 1.33 (2020) to 1.59 and in x/net/http2 since it has them.
    {"golang.org/x/net/http2.MetaHeadersFrame", "HeadersFrame", 0},
    {"golang.org/x/net/http2.MetaHeadersFrame", "Fields", 8},
    {"golang.org/x/net/http2.HeadersFrame", "FrameHeader", 0},
    {"golang.org/x/net/http2.FrameHeader", "StreamID", 8},
    {"google.golang.org/grpc/internal/transport.Stream", "id", 0},
    {"google.golang.org/grpc/internal/transport.headerFrame", "hf", 8},
    {"google.golang.org/grpc/internal/transport.headerFrame", "initStream", 40},
    {"net/http.http2MetaHeadersFrame", "http2HeadersFrame"},
    {"net/http.http2MetaHeadersFrame", "Fields"},
    {"net/http.http2HeadersFrame", "http2FrameHeader"},
    {"net/http.http2FrameHeader", "StreamID"},
    {"net/http.http2serverConn", "conn"},
    {"net/http.http2responseWriter", "rws"},
    {"net/http.http2responseWriterState", "stream"},
    {"net/http.http2stream", "id"},
}};

std::string GoOffsets::missing(bool standard_library_only) const {
  std::string out;
  for (size_t i = 0; i < kGoFieldCount; ++i) {
    if (offset[i] >= 0 || (standard_library_only && kGoFieldNames[i].stable_offset >= 0)) {
      continue;
    }
    if (!out.empty()) out += ", ";
    out += std::string(kGoFieldNames[i].struct_name) + "." + std::string(kGoFieldNames[i].member);
  }
  return out;
}

Result<GoOffsets> go_offsets_from_dwarf(const std::string& path) {
  using R = Result<GoOffsets>;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return R::failure("cannot open " + path);
  Dwarf* dw = dwarf_begin(fd, DWARF_C_READ);
  if (!dw) {
    close(fd);
    return R::failure("no DWARF");
  }
  GoOffsets out;
  out.offset.fill(-1);
  out.source = "dwarf";
  size_t found_structs = 0;
  Dwarf_Off off = 0, next = 0;
  size_t header_size = 0;
  // Go puts type DIEs at the top level of its compile units.
  while (dwarf_nextcu(dw, off, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu, die;
    if (dwarf_offdie(dw, off + header_size, &cu) && dwarf_child(&cu, &die) == 0) {
      do {
        if (dwarf_tag(&die) != DW_TAG_structure_type) continue;
        const char* name = dwarf_diename(&die);
        if (!name) continue;
        std::string_view n(name);
        bool wanted = std::any_of(kGoFieldNames.begin(), kGoFieldNames.end(),
                                  [&](const GoFieldName& f) { return f.struct_name == n; });
        if (wanted) {
          read_members(&die, n, &out);
          ++found_structs;
        }
      } while (dwarf_siblingof(&die, &die) == 0);
    }
    off = next;
  }
  dwarf_end(dw);
  close(fd);
  if (found_structs == 0) return R::failure("no Go struct types in DWARF");
  return out;
}

Result<GoOffsets> go_offsets_from_table(const GoVersion& version) {
  GoOffsets out;
  out.offset.fill(-1);
  bool any = false;
  if (version.major == 1) {
    for (const auto& row : kTable) {
      if (row.minor != version.minor) continue;
      int idx = field_index(row.struct_name, row.member);
      if (idx >= 0) out.offset[idx] = row.offset;
      any = true;
    }
  }
  if (!any) {
    return Result<GoOffsets>::failure("Go " + std::to_string(version.major) + "." +
                                      std::to_string(version.minor) +
                                      " is outside the offset tables");
  }
  for (size_t i = 0; i < kGoFieldCount; ++i) {
    if (kGoFieldNames[i].stable_offset >= 0) out.offset[i] = kGoFieldNames[i].stable_offset;
  }
  out.source = "table go1." + std::to_string(version.minor);
  return out;
}

Result<GoOffsets> resolve_go_offsets(const std::string& path, const GoBuildInfo& info) {
  auto dwarf = go_offsets_from_dwarf(path);
  if (dwarf) return dwarf;
  if (!info.version) {
    return Result<GoOffsets>::failure(dwarf.reason() + " and unknown Go version '" +
                                      info.go_version + "'");
  }
  auto table = go_offsets_from_table(*info.version);
  if (table) return table;
  return Result<GoOffsets>::failure(dwarf.reason() + " and " + table.reason());
}

std::vector<int> go_offsets_table_minors() {
  std::vector<int> out;
  for (const auto& row : kTable) {
    if (std::find(out.begin(), out.end(), row.minor) == out.end()) out.push_back(row.minor);
  }
  return out;
}

}  // namespace ztrace::symbolizer
