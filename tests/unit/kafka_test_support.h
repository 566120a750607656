#pragma once

// Kafka messages written from the protocol guide's schemas (kafka.apache.org/protocol), for
// table tests of versions the clients here do not send (Fetch v13+ with topic ids, Produce v9+).

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "userspace/protocols/connection_view.h"

namespace ztrace::kafka::testing {

// A client connection of process `pid` to a broker on 127.0.0.1:9092.
inline protocols::ConnectionView view(uint32_t pid = 10) {
  protocols::ConnectionView v;
  v.pid = pid;
  v.role = Role::kClient;
  v.local = {"127.0.0.1", 40000};
  v.remote = {"127.0.0.1", 9092};
  return v;
}

class Writer {
 public:
  explicit Writer(bool compact = false) : compact_(compact) {}
  Writer& i8(int8_t v) { return be(static_cast<uint8_t>(v), 1); }
  Writer& i16(int16_t v) { return be(static_cast<uint16_t>(v), 2); }
  Writer& i32(int32_t v) { return be(static_cast<uint32_t>(v), 4); }
  Writer& i64(int64_t v) { return be(static_cast<uint64_t>(v), 8); }
  Writer& uvarint(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
    return *this;
  }
  Writer& varint(int64_t v) { return uvarint((static_cast<uint64_t>(v) << 1) ^ (v >> 63)); }
  Writer& raw(std::string_view bytes) {
    out_ += bytes;
    return *this;
  }
  Writer& uuid(uint8_t fill) { return raw(std::string(16, static_cast<char>(fill))); }
  Writer& str(std::string_view s) {
    if (compact_) return uvarint(s.size() + 1).raw(s);
    return i16(static_cast<int16_t>(s.size())).raw(s);
  }
  Writer& null_str() { return compact_ ? uvarint(0) : i16(-1); }
  Writer& bytes(std::string_view b) {
    if (compact_) return uvarint(b.size() + 1).raw(b);
    return i32(static_cast<int32_t>(b.size())).raw(b);
  }
  Writer& array(uint32_t n) { return compact_ ? uvarint(n + 1) : i32(static_cast<int32_t>(n)); }
  Writer& tags() { return compact_ ? uvarint(0) : *this; }
  const std::string& data() const { return out_; }

 private:
  Writer& be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_ += static_cast<char>(v >> (8 * i));
    return *this;
  }
  bool compact_;
  std::string out_;
};

// First flexible versions of the APIs written here (the guide's "flexibleVersions").
inline bool flexible(int16_t key, int16_t version) {
  switch (key) {
    case 0:
      return version >= 9;
    case 1:
      return version >= 12;
    case 2:
      return version >= 6;
    case 3:
      return version >= 9;
    case 8:
      return version >= 8;
    case 9:
      return version >= 6;
    case 10:
      return version >= 3;
    case 11:
      return version >= 6;
    case 12:
      return version >= 4;
    case 14:
      return version >= 4;
    case 18:
      return version >= 3;
    default:
      return false;
  }
}

inline std::string sized(std::string_view message) {
  Writer w;
  w.i32(static_cast<int32_t>(message.size())).raw(message);
  return w.data();
}

inline std::string request(int16_t key, int16_t version, int32_t correlation_id,
                           std::string_view client_id, std::string_view body) {
  Writer w;
  w.i16(key).i16(version).i32(correlation_id).str(client_id);
  if (flexible(key, version)) w.uvarint(0);
  w.raw(body);
  return sized(w.data());
}

inline std::string response(int16_t key, int16_t version, int32_t correlation_id,
                            std::string_view body) {
  Writer w;
  w.i32(correlation_id);
  if (key != 18 && flexible(key, version)) w.uvarint(0);
  w.raw(body);
  return sized(w.data());
}

struct TestRecord {
  std::string key;  // "\x01null" for a null key
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

inline std::string compress(int codec, const std::string& in) {
  std::string out;
  if (codec == 1) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    out.resize(deflateBound(&z, in.size()) + 32);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = in.size();
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = out.size();
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
  } else if (codec == 2) {
    size_t n = snappy_max_compressed_length(in.size());
    out.resize(n);
    snappy_compress(in.data(), in.size(), out.data(), &n);
    out.resize(n);
  } else if (codec == 3) {
    out.resize(LZ4F_compressFrameBound(in.size(), nullptr));
    out.resize(LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), nullptr));
  } else if (codec == 4) {
    out.resize(ZSTD_compressBound(in.size()));
    out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  } else {
    out = in;
  }
  return out;
}

// A v2 record batch (magic 2) of `records`, offsets base_offset.., compressed with `codec`.
inline std::string batch_v2(int64_t base_offset, const std::vector<TestRecord>& records,
                            int codec = 0) {
  std::string body;
  for (size_t i = 0; i < records.size(); ++i) {
    const TestRecord& r = records[i];
    Writer rec;
    rec.i8(0).varint(0).varint(static_cast<int64_t>(i));
    if (r.key == "\x01null") {
      rec.varint(-1);
    } else {
      rec.varint(static_cast<int64_t>(r.key.size())).raw(r.key);
    }
    rec.varint(static_cast<int64_t>(r.value.size())).raw(r.value);
    rec.varint(static_cast<int64_t>(r.headers.size()));
    for (const auto& [name, value] : r.headers) {
      rec.varint(static_cast<int64_t>(name.size())).raw(name);
      rec.varint(static_cast<int64_t>(value.size())).raw(value);
    }
    Writer framed;
    framed.varint(static_cast<int64_t>(rec.data().size())).raw(rec.data());
    body += framed.data();
  }
  body = compress(codec, body);
  Writer after_length;  // partitionLeaderEpoch .. records
  after_length.i32(0).i8(2).i32(0).i16(static_cast<int16_t>(codec));
  after_length.i32(static_cast<int32_t>(records.size()) - 1).i64(0).i64(0).i64(-1).i16(-1).i32(-1);
  after_length.i32(static_cast<int32_t>(records.size())).raw(body);
  Writer w;
  w.i64(base_offset).i32(static_cast<int32_t>(after_length.data().size())).raw(after_length.data());
  return w.data();
}

// A v0 or v1 message set of plain messages (uncompressed), offsets base_offset...
inline std::string message_set(int magic, int64_t base_offset,
                               const std::vector<TestRecord>& records) {
  std::string out;
  for (size_t i = 0; i < records.size(); ++i) {
    Writer m;
    m.i32(0).i8(static_cast<int8_t>(magic)).i8(0);
    if (magic == 1) m.i64(0);
    m.bytes(records[i].key).bytes(records[i].value);
    Writer w;
    w.i64(base_offset + static_cast<int64_t>(i))
        .i32(static_cast<int32_t>(m.data().size()))
        .raw(m.data());
    out += w.data();
  }
  return out;
}

struct TopicRecords {
  std::string topic;
  int32_t partition = 0;
  std::string records;
};

inline std::string produce_request_body(int16_t v, const std::vector<TopicRecords>& topics,
                                        int16_t acks = -1) {
  const bool c = v >= 9;
  Writer w(c);
  if (v >= 3) w.null_str();
  w.i16(acks).i32(30000).array(static_cast<uint32_t>(topics.size()));
  for (const auto& t : topics) {
    w.str(t.topic).array(1).i32(t.partition).bytes(t.records).tags();
    w.tags();
  }
  w.tags();
  return w.data();
}

inline std::string produce_response_body(int16_t v, const std::vector<TopicRecords>& topics,
                                         int64_t base_offset, int16_t error = 0) {
  const bool c = v >= 9;
  Writer w(c);
  w.array(static_cast<uint32_t>(topics.size()));
  for (const auto& t : topics) {
    w.str(t.topic).array(1).i32(t.partition).i16(error).i64(base_offset);
    if (v >= 2) w.i64(-1);
    if (v >= 5) w.i64(0);
    if (v >= 8) w.array(0).null_str();
    w.tags();
    w.tags();
  }
  if (v >= 1) w.i32(0);
  w.tags();
  return w.data();
}

// topic_id_fill: the byte a v13+ topic id is made of.
inline std::string fetch_response_body(int16_t v, const std::vector<TopicRecords>& topics,
                                       uint8_t topic_id_fill = 7) {
  const bool c = v >= 12;
  Writer w(c);
  if (v >= 1) w.i32(0);
  if (v >= 7) w.i16(0).i32(0);
  w.array(static_cast<uint32_t>(topics.size()));
  for (const auto& t : topics) {
    if (v >= 13) {
      w.uuid(topic_id_fill);
    } else {
      w.str(t.topic);
    }
    w.array(1).i32(t.partition).i16(0).i64(100);
    if (v >= 4) w.i64(100);
    if (v >= 5) w.i64(0);
    if (v >= 4) w.array(0);
    if (v >= 11) w.i32(-1);
    w.bytes(t.records).tags();
    w.tags();
  }
  w.tags();
  return w.data();
}

inline std::string metadata_response_body(int16_t v, std::string_view topic, uint8_t id_fill) {
  const bool c = v >= 9;
  Writer w(c);
  if (v >= 3) w.i32(0);
  w.array(1).i32(1).str("127.0.0.1").i32(9092);
  if (v >= 1) w.null_str();
  w.tags();
  if (v >= 2) w.null_str();
  if (v >= 1) w.i32(1);
  w.array(1).i16(0).str(topic);
  if (v >= 10) w.uuid(id_fill);
  if (v >= 1) w.i8(0);
  w.array(1).i16(0).i32(0).i32(1);
  if (v >= 7) w.i32(0);
  w.array(1).i32(1).array(1).i32(1);
  if (v >= 5) w.array(0);
  w.tags();
  if (v >= 8) w.i32(0);
  w.tags();
  if (v >= 8 && v <= 10) w.i32(0);
  w.tags();
  return w.data();
}

}  // namespace ztrace::kafka::testing
