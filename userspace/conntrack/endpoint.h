#pragma once

#include "bpf/socket_trace.h"
#include "userspace/protocols/connection_view.h"

namespace ztrace::conntrack {

protocols::Endpoint local_endpoint(const zt_tuple& tuple);
protocols::Endpoint remote_endpoint(const zt_tuple& tuple);

}  // namespace ztrace::conntrack
