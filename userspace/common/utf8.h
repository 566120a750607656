#pragma once

// UTF-8 validity (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). Text from
// captured traffic may be anything; what leaves the agent as a protobuf `string` must be
// valid, so invalid bytes become U+FFFD.

#include <string>
#include <string_view>

namespace ztrace::utf8 {

bool is_valid(std::string_view text);
// Each byte that does not start a valid sequence becomes U+FFFD.
std::string with_replacement_characters(std::string_view text);

}  // namespace ztrace::utf8
