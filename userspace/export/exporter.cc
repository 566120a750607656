#include "userspace/export/exporter.h"

namespace ztrace::exporter {

// Out of line so the vtables have one home.
SpanExporter::~SpanExporter() = default;
SpanProcessor::~SpanProcessor() = default;

}  // namespace ztrace::exporter
