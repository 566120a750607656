#pragma once

// What the librdkafka probes attach to, as data: the entries of the produce functions whose
// arguments bpf/rdkafka_probes.bpf.c reads (rdkafka.h of librdkafka 1.x and 2.x). kcat and
// Python's confluent-kafka call rd_kafka_producev.

#include <string_view>

#include "bpf/rdkafka_probes.h"

namespace ztrace::probes::kafka {

struct ProduceProbeSpec {
  std::string_view symbol;
  zt_rdkafka_call call;
};

inline constexpr ProduceProbeSpec kProduceProbes[] = {
    {"rd_kafka_producev", ZT_RDKAFKA_PRODUCEV},
    {"rd_kafka_produceva", ZT_RDKAFKA_PRODUCEVA},
    {"rd_kafka_produce", ZT_RDKAFKA_PRODUCE},
};

}  // namespace ztrace::probes::kafka
