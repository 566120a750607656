#pragma once

// Attribute names of the OpenTelemetry semantic conventions (schema 1.26.0, the exporter's
// kSchemaUrl), and ztrace's own, as constants (as opentelemetry-cpp's semconv headers).

#include <string_view>

#include "userspace/spans/span.h"

namespace ztrace::semconv {

using spans::AttributeKey;

namespace http {
inline constexpr AttributeKey kHttpRequestMethod = "http.request.method";
inline constexpr AttributeKey kHttpRoute = "http.route";  // not derived yet: read when present
inline constexpr AttributeKey kHttpRequestMethodOriginal = "http.request.method_original";
inline constexpr AttributeKey kHttpResponseStatusCode = "http.response.status_code";
}  // namespace http

namespace url {
inline constexpr AttributeKey kUrlPath = "url.path";
inline constexpr AttributeKey kUrlQuery = "url.query";
inline constexpr AttributeKey kUrlScheme = "url.scheme";
}  // namespace url

namespace server {
inline constexpr AttributeKey kServerAddress = "server.address";
inline constexpr AttributeKey kServerPort = "server.port";
}  // namespace server

namespace client {
inline constexpr AttributeKey kClientAddress = "client.address";
inline constexpr AttributeKey kClientPort = "client.port";
}  // namespace client

namespace network {
inline constexpr AttributeKey kNetworkPeerAddress = "network.peer.address";
inline constexpr AttributeKey kNetworkPeerPort = "network.peer.port";
inline constexpr AttributeKey kNetworkProtocolVersion = "network.protocol.version";
}  // namespace network

namespace user_agent {
inline constexpr AttributeKey kUserAgentOriginal = "user_agent.original";
}  // namespace user_agent

namespace error {
inline constexpr AttributeKey kErrorType = "error.type";
// error.type values of ztrace's own (the conventions' "component-specific low cardinality error
// identifier"), for exchanges that failed without an error status to name.
inline constexpr std::string_view kZtraceNoResponse = "ztrace.no_response";
inline constexpr std::string_view kZtraceResponseTruncated = "ztrace.response_truncated";
}  // namespace error

namespace rpc {
inline constexpr AttributeKey kRpcSystem = "rpc.system";
inline constexpr AttributeKey kRpcService = "rpc.service";
inline constexpr AttributeKey kRpcMethod = "rpc.method";
inline constexpr AttributeKey kRpcGrpcStatusCode = "rpc.grpc.status_code";
}  // namespace rpc

namespace db {
inline constexpr AttributeKey kDbSystemName = "db.system.name";
inline constexpr AttributeKey kDbNamespace = "db.namespace";
inline constexpr AttributeKey kDbOperationName = "db.operation.name";
inline constexpr AttributeKey kDbOperationBatchSize = "db.operation.batch.size";
inline constexpr AttributeKey kDbCollectionName = "db.collection.name";
inline constexpr AttributeKey kDbQueryText = "db.query.text";
inline constexpr AttributeKey kDbQuerySummary = "db.query.summary";
inline constexpr AttributeKey kDbResponseStatusCode = "db.response.status_code";
inline constexpr AttributeKey kDbResponseReturnedRows = "db.response.returned_rows";
inline constexpr std::string_view kDbSystemPostgresql = "postgresql";
}  // namespace db

// Messaging spans and their Kafka page (semantic conventions v1.27.0, "development").
namespace messaging {
inline constexpr AttributeKey kMessagingSystem = "messaging.system";
inline constexpr AttributeKey kMessagingOperationType = "messaging.operation.type";
inline constexpr AttributeKey kMessagingOperationName = "messaging.operation.name";
inline constexpr AttributeKey kMessagingDestinationName = "messaging.destination.name";
inline constexpr AttributeKey kMessagingDestinationPartitionId =
    "messaging.destination.partition.id";
inline constexpr AttributeKey kMessagingBatchMessageCount = "messaging.batch.message_count";
inline constexpr AttributeKey kMessagingClientId = "messaging.client.id";
inline constexpr AttributeKey kMessagingConsumerGroupName = "messaging.consumer.group.name";
inline constexpr AttributeKey kMessagingKafkaOffset = "messaging.kafka.offset";
inline constexpr AttributeKey kMessagingKafkaMessageKey = "messaging.kafka.message.key";
}  // namespace messaging

// Resource attributes.
namespace service {
inline constexpr AttributeKey kServiceName = "service.name";
inline constexpr AttributeKey kServiceInstanceId = "service.instance.id";
}  // namespace service

namespace host {
inline constexpr AttributeKey kHostName = "host.name";
}  // namespace host

namespace process {
inline constexpr AttributeKey kProcessPid = "process.pid";
inline constexpr AttributeKey kProcessExecutableName = "process.executable.name";
inline constexpr AttributeKey kProcessExecutablePath = "process.executable.path";
inline constexpr AttributeKey kProcessCommandLine = "process.command_line";
inline constexpr AttributeKey kProcessRuntimeName = "process.runtime.name";
}  // namespace process

// ztrace's own attributes: what the capture could not see, which no convention names.
namespace extension {
inline constexpr AttributeKey kZtraceCaptureTruncated = "ztrace.capture.truncated";
inline constexpr AttributeKey kZtraceHttp2ErrorCode = "ztrace.http2.error_code";
inline constexpr AttributeKey kZtraceHttp2UnknownHeaderFields =
    "ztrace.http2.unknown_header_fields";
// The Produce or Fetch version the client and broker agreed on.
inline constexpr AttributeKey kZtraceKafkaApiVersion = "ztrace.kafka.api_version";
}  // namespace extension

}  // namespace ztrace::semconv
