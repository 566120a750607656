#pragma once

// The protocols a connection can be parsed as, in detection order: adding a protocol is its
// folder under userspace/protocols/ (filling protocols/protocol.h) and its line here. HTTP/1
// comes last: it takes what no other protocol claimed; Kafka's size prefix and known API key
// never match an HTTP/1 or HTTP/2 start.

#include "userspace/protocols/http1/protocol.h"
#include "userspace/protocols/http2/protocol.h"
#include "userspace/protocols/kafka/protocol.h"
#include "userspace/protocols/postgresql/protocol.h"
#include "userspace/protocols/registry.h"

namespace ztrace::conntrack {

using Protocols = protocols::Registry<http2::Protocol, postgresql::Protocol, kafka::Protocol,
                                      http1::Protocol>;

}  // namespace ztrace::conntrack
