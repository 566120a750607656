#!/usr/bin/env python3
"""Instructions per span by stage, from `callgrind_annotate --inclusive=yes` of one
`pipeline_bench RECORDING 1 otlp` run (see bench/span_cost.sh).

A function inlined from several source files is listed once per file, each entry with the
function's whole inclusive cost: the largest is kept, then the distinct functions of a stage
(one per protocol, say) are summed.
"""
import re
import sys

# Stage → the functions whose inclusive cost it is. Names are matched as regular expressions
# against the demangled name; every protocol's parser and span builder share one shape.
STAGES = {
    "pipeline": r"ztrace::pipeline::EventPipeline::handle\(",
    "parse": r"ztrace::\w+::ConnectionParser::on_data\(",
    "span build": r"ztrace::\w+::\w*SpanBuilder::build\(",
    "export worker": r"ztrace::exporter::BatchSpanProcessor::run_worker\(",
    "encode": r"ztrace::otlp::(SpanSerializer::serialize|RequestFramer::frame)\(",
}
LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*?:(.*?)(?: \[[^\]]*\])?$")


def stage_costs(annotate_text):
    per_function = {stage: {} for stage in STAGES}
    for line in annotate_text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        ir = int(match.group(1).replace(",", ""))
        function = match.group(2)
        for stage, pattern in STAGES.items():
            if re.search(pattern, function):
                seen = per_function[stage]
                seen[function] = max(seen.get(function, 0), ir)
    return {stage: sum(seen.values()) for stage, seen in per_function.items()}


def main():
    name, spans, annotate_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if spans <= 0:
        sys.exit(f"{name}: no spans")
    with open(annotate_path, encoding="utf-8", errors="replace") as f:
        c = stage_costs(f.read())
    rest = c["pipeline"] - c["parse"] - c["span build"]
    batching = c["export worker"] - c["encode"]
    total = c["pipeline"] + c["export worker"]
    row = [total, c["parse"], c["span build"], rest, c["encode"], batching]
    print(f"| {name} | {spans} | " + " | ".join(f"{v / spans:,.0f}" for v in row) + " |")


if __name__ == "__main__":
    main()
