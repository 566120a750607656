# OTLP message and service types, generated at build time from the official .proto files that
# Debian's opentelemetry-proto package installs (under <include>/opentelemetry/proto/...), with
# protoc and grpc_cpp_plugin. Yields the static library `ztrace_otlp_proto`; its headers are
# included as "opentelemetry/proto/.../*.pb.h".
#
# protobuf and grpc++ come from pkg-config: Debian ships no CMake package for protobuf 3.21,
# and its gRPC CMake package needs one.

pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
find_program(PROTOC_EXECUTABLE protoc REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_path(OTLP_PROTO_ROOT opentelemetry/proto/trace/v1/trace.proto
          HINTS /usr/include /usr/local/include
          DOC "folder that holds opentelemetry/proto/... (Debian: opentelemetry-proto)")
if(NOT OTLP_PROTO_ROOT)
  message(FATAL_ERROR "opentelemetry-proto .proto files not found: run scripts/install-deps.sh")
endif()

set(_otlp_out ${CMAKE_BINARY_DIR}/otlp_proto)
# Only what trace export needs; trace_service.proto is the one with a gRPC service.
set(_otlp_messages
    opentelemetry/proto/common/v1/common
    opentelemetry/proto/resource/v1/resource
    opentelemetry/proto/trace/v1/trace
    opentelemetry/proto/collector/trace/v1/trace_service)
set(_otlp_services opentelemetry/proto/collector/trace/v1/trace_service)

set(_otlp_srcs)
foreach(name IN LISTS _otlp_messages)
  set(_outs ${_otlp_out}/${name}.pb.cc ${_otlp_out}/${name}.pb.h)
  set(_plugin_args)
  if(name IN_LIST _otlp_services)
    list(APPEND _outs ${_otlp_out}/${name}.grpc.pb.cc ${_otlp_out}/${name}.grpc.pb.h)
    set(_plugin_args --grpc_out=${_otlp_out} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN})
  endif()
  add_custom_command(
    OUTPUT ${_outs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_otlp_out}
    COMMAND ${PROTOC_EXECUTABLE} -I ${OTLP_PROTO_ROOT} --cpp_out=${_otlp_out} ${_plugin_args}
            ${OTLP_PROTO_ROOT}/${name}.proto
    DEPENDS ${OTLP_PROTO_ROOT}/${name}.proto
    COMMENT "protoc ${name}.proto"
    VERBATIM)
  list(APPEND _otlp_srcs ${_otlp_out}/${name}.pb.cc)
  if(name IN_LIST _otlp_services)
    list(APPEND _otlp_srcs ${_otlp_out}/${name}.grpc.pb.cc)
  endif()
endforeach()

add_library(ztrace_otlp_proto STATIC ${_otlp_srcs})
# Generated code: not ours to warn about. SYSTEM keeps its headers' warnings out of ours.
target_compile_options(ztrace_otlp_proto PRIVATE -w)
target_include_directories(ztrace_otlp_proto SYSTEM PUBLIC ${_otlp_out})
target_link_libraries(ztrace_otlp_proto PUBLIC PkgConfig::PROTOBUF PkgConfig::GRPCPP)

# The OTLP exporter's other dependencies: libcurl (OTLP/HTTP) and zlib (gzip).
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
