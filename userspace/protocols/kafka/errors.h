#pragma once

#include <cstdint>
#include <string>

namespace ztrace::kafka {

// The protocol guide's name of an error code ("Error Codes"), e.g. "NOT_LEADER_OR_FOLLOWER";
// codes this table lacks are given as their number.
std::string error_name(int16_t code);

}  // namespace ztrace::kafka
