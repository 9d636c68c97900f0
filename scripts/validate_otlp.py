#!/usr/bin/env python3
"""Validate OTLP metrics bodies with the official OpenTelemetry Python decoders.

Each input (a file, or "-" for stdin) must be an ExportMetricsServiceRequest, as protobuf
(decoded by `opentelemetry-proto`'s generated classes) or as OTLP/JSON (parsed by
`google.protobuf.json_format.Parse`, which rejects unknown fields and malformed values: stricter
than an OTLP receiver, which must ignore unknown fields).
For each input, prints one JSON report on stdout:

    {"resource": {"service.name": "..."},
     "metrics": {"heartbeat.outcomes": {"kind": "sum", "unit": "{outcome}", "temporality": "DELTA",
                 "monotonic": true, "points": 12, "total": 42,
                 "attribute_values": {"heartbeat.result": ["failure", "success"], ...}}}}

Exits 1 if an input cannot be read or does not parse, 2 on bad usage.

    pip install opentelemetry-proto
    python3 scripts/validate_otlp.py --format protobuf body.bin
    python3 scripts/validate_otlp.py batch.bin batch.json   # format detected
    HEARTBEAT_PYTHON=$(command -v python3) cargo test -p heartbeat-sdk --test otlp_encoding
"""

import argparse
import json
import sys

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality


def any_value(v):
    kind = v.WhichOneof("value")
    return None if kind is None else json_format.MessageToDict(v)[_camel(kind)]


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def parse(body, fmt):
    if fmt == "auto":
        fmt = "json" if body.lstrip()[:1] == b"{" else "protobuf"
    request = ExportMetricsServiceRequest()
    if fmt == "json":
        json_format.Parse(body.decode("utf-8"), request)
    else:
        request.ParseFromString(body)
    return request


def report(request):
    resource, metrics = {}, {}
    for rm in request.resource_metrics:
        for kv in rm.resource.attributes:
            resource[kv.key] = any_value(kv.value)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                entry = metrics.setdefault(
                    m.name,
                    {"kind": kind, "unit": m.unit, "points": 0, "total": 0, "attribute_values": {}},
                )
                data = getattr(m, kind) if kind else None
                if kind == "sum":
                    entry["temporality"] = AggregationTemporality.Name(
                        data.aggregation_temporality
                    ).removeprefix("AGGREGATION_TEMPORALITY_")
                    entry["monotonic"] = data.is_monotonic
                for p in getattr(data, "data_points", []):
                    entry["points"] += 1
                    which = p.WhichOneof("value")
                    entry["total"] += getattr(p, which) if which else 0
                    for kv in p.attributes:
                        values = entry["attribute_values"].setdefault(kv.key, set())
                        values.add(any_value(kv.value))
    for entry in metrics.values():
        entry["attribute_values"] = {
            k: sorted(v, key=str) for k, v in sorted(entry["attribute_values"].items())
        }
    return {"resource": resource, "metrics": metrics}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="*", default=["-"], help="files, or - for stdin (default)")
    ap.add_argument("--format", choices=["auto", "protobuf", "json"], default="auto")
    args = ap.parse_args()
    failed = False
    for path in args.inputs:
        try:
            if path == "-":
                body = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as f:
                    body = f.read()
            request = parse(body, args.format)
        except (OSError, DecodeError, json_format.ParseError, UnicodeDecodeError) as e:
            print(f"{path}: not a valid ExportMetricsServiceRequest: {e}", file=sys.stderr)
            failed = True
            continue
        print(json.dumps(report(request), ensure_ascii=False, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
