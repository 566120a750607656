#pragma once

// The protocols a connection can be parsed as, in one place. Adding a protocol: give it a
// per-connection parser with the common shape (on_data/on_close/take_exchanges/failed/role,
// as http1::ConnectionParser), add it to ProtocolParser, and to detect_protocol; its
// exchanges reach the pipeline through a sink of ConnectionTable::Sinks.

#include <string_view>
#include <variant>

#include "userspace/common/connection_types.h"
#include "userspace/protocols/http1/connection_parser.h"
#include "userspace/protocols/http2/connection_parser.h"

namespace ztrace::conntrack {

// monostate: no data seen yet, protocol undecided.
using ProtocolParser =
    std::variant<std::monostate, http1::ConnectionParser, http2::ConnectionParser>;

// Chooses a connection's protocol from the first captured bytes of a syscall (either
// direction): HTTP/2 on its client preface or, for connections joined mid-way and server
// SETTINGS sent before the preface arrives, on a run of plausible frame headers. Everything
// else goes to HTTP/1, whose parser gives up on what is not HTTP (counted).
ProtocolParser make_protocol_parser(std::string_view first_chunk, Role role, bool joined_midstream);

}  // namespace ztrace::conntrack
