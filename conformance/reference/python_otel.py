"""A reference emitter for the Heartbeat conformance suite: the OpenTelemetry Python SDK
(opentelemetry-sdk with the OTLP exporters, pinned in scripts/test.sh) emitting one counter.

It speaks the emitter protocol of docs/conformance.md: a `hello` line, then one JSON reply per
JSON command read from standard input. It is a plain OTLP emitter (profile `otlp`): `record`
adds to the counter `heartbeat.outcomes` with the command's attributes; the Heartbeat-only
commands (`beat`, ...) are refused. Everything is configured by the SDK itself from the
standard OTEL_* variables the suite sets; this script adds nothing of its own.
"""

import json
import os
import sys

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.version import __version__ as SDK_VERSION

PROTOCOL = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") or os.environ.get(
    "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
)
if PROTOCOL == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
else:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter


def say(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def main():
    exporter = OTLPMetricExporter()
    reader = PeriodicExportingMetricReader(exporter)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create())
    counter = provider.get_meter("conformance.reference").create_counter(
        "heartbeat.outcomes", unit="{outcome}", description="events recorded by the suite"
    )
    say(
        {
            "hello": {
                "name": f"opentelemetry-python {SDK_VERSION} (opentelemetry-sdk, OTLP exporters)",
                "heartbeat": False,
                "browser": False,
                # http/json is not offered by the Python exporters.
                "protocols": ["http/protobuf", "grpc"],
                "temporalities": ["cumulative", "delta"],
                "gzip": True,
                "env": True,
                "stall": True,
                "memory": True,
                "kill": "signal",
            }
        }
    )
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
        except ValueError as e:
            say({"ok": False, "error": f"not JSON: {e}"})
            continue
        name = cmd.get("cmd")
        if name == "declare":
            say({"ok": True})
        elif name == "record":
            attributes = dict(cmd.get("attributes") or {})
            attributes["heartbeat.outcome"] = cmd["outcome"]
            attributes["heartbeat.result"] = cmd["result"]
            if cmd.get("reason") is not None:
                attributes["heartbeat.reason"] = cmd["reason"]
            if cmd.get("tenant") is not None:
                attributes["heartbeat.tenant"] = cmd["tenant"]
            counter.add(int(cmd.get("count", 1)), attributes)
            say({"ok": True})
        elif name == "flush":
            say({"ok": True, "value": bool(provider.force_flush())})
        elif name == "shutdown":
            provider.shutdown()
            say({"ok": True, "value": True})
            return
        else:
            say({"ok": False, "error": f"{name} is not offered by a plain OpenTelemetry counter"})
    provider.shutdown()


if __name__ == "__main__":
    main()
