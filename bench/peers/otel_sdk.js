// Preloaded (`node -r`) into the Node peer for the "OpenTelemetry Node SDK" row of bench/run.sh:
// what a user would pick instead of ztrace. HTTP instrumentation, OTLP/HTTP protobuf export to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; the batch queue is sized like ztrace's export queue
// (OTEL_BSP_MAX_QUEUE_SIZE, set by bench/run.sh) so neither side wins by dropping spans.
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');

const sdk = new NodeSDK({
  serviceName: 'bench-node',
  traceExporter: new OTLPTraceExporter(),
  instrumentations: [new HttpInstrumentation()],
});
sdk.start();
// Flush what is queued before exiting, so the receiver's count is complete.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => sdk.shutdown().finally(() => process.exit(0)));
}
