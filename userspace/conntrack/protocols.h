#pragma once

// The protocols a connection can be parsed as, in detection order: adding a protocol is its
// folder under userspace/protocols/ (filling protocols/protocol.h) and its line here. HTTP/1
// comes last: it takes what no other protocol claimed.

#include "userspace/protocols/http1/protocol.h"
#include "userspace/protocols/http2/protocol.h"
#include "userspace/protocols/postgresql/protocol.h"
#include "userspace/protocols/registry.h"

namespace ztrace::conntrack {

using Protocols = protocols::Registry<http2::Protocol, postgresql::Protocol, http1::Protocol>;

}  // namespace ztrace::conntrack
