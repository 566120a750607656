#pragma once

// The types conntrack and the pipeline keep for a list of protocols, and the loops over it.
// The list itself is userspace/conntrack/protocols.h.

#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>

#include "userspace/common/connection_types.h"
#include "userspace/protocols/protocol.h"

namespace ztrace::protocols {
namespace internal {

// Position of T in Ts (sizeof...(Ts) when absent).
template <typename T, typename... Ts>
constexpr size_t index_of() {
  size_t index = 0;
  ((std::is_same_v<T, Ts> ? true : (++index, false)) || ...);
  return index;
}

}  // namespace internal

// `Protocols`, in detection order: a connection is parsed as the first whose detect() accepts
// its first captured bytes.
template <ProtocolTraits... Protocols>
struct Registry {
  // monostate: no data seen yet, protocol undecided.
  using Parser = std::variant<std::monostate, typename Protocols::Parser...>;
  // One exchange of any protocol, borrowed for a call.
  using ExchangeRef = std::variant<typename Protocols::Exchange*...>;
  using Counters = std::tuple<typename Protocols::Counters...>;
  using SpanBuilders = std::tuple<typename Protocols::SpanBuilder...>;

  template <typename OneParser>
  using ProtocolOfParser =
      std::tuple_element_t<internal::index_of<OneParser, typename Protocols::Parser...>(),
                           std::tuple<Protocols...>>;
  template <typename OneExchange>
  using ProtocolOfExchange =
      std::tuple_element_t<internal::index_of<OneExchange, typename Protocols::Exchange...>(),
                           std::tuple<Protocols...>>;

  // Replaces `parser` with the parser of the first protocol that recognizes `first_bytes`;
  // leaves it undecided when none does.
  static void detect(std::string_view first_bytes, Role role, bool joined_midstream,
                     Parser& parser) {
    (void)((Protocols::detect(first_bytes, role, joined_midstream) &&
            (parser.template emplace<typename Protocols::Parser>(role, joined_midstream), true)) ||
           ...);
  }

  static SpanBuilders make_span_builders(const SpanOptions& options,
                                         const spans::KernelClock& clock) {
    return SpanBuilders(typename Protocols::SpanBuilder(options, clock)...);
  }

  // visit.template operator()<P>() for each protocol P, in order.
  template <typename Visit>
  static void for_each(Visit&& visit) {
    (visit.template operator()<Protocols>(), ...);
  }
};

}  // namespace ztrace::protocols
