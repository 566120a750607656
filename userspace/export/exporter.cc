#include "userspace/export/exporter.h"

namespace ztrace::exporter {

// Out of line so the vtable has one home.
SpanExporter::~SpanExporter() = default;

}  // namespace ztrace::exporter
