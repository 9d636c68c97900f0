#!/usr/bin/env python3
"""A Heartbeat emitter in plain Python (standard library only), driven by the conformance suite's
emitter protocol: the example a third party starts from (docs/conformance.md), and, with
--break, the suite's own broken emitters (conformance/tests/broken.rs).

    heartbeat-conformance run --target 'command:python3 conformance/drivers/python_heartbeat.py'
    heartbeat-conformance run --target 'command:python3 conformance/drivers/python_heartbeat.py --break drift-1'
    heartbeat-conformance run --target 'command:python3 conformance/drivers/python_heartbeat.py --wire-only'

It exports OTLP/HTTP JSON (gzip when asked), cumulative or delta, configured by the OTEL_*
variables alone. Every timestamp is read from one clock, time.time(), so that the beat times it
reports (the protocol's beat_times) and its exports agree.

Three things a correct emitter must get right, and where this one does:
- a delta point that was not accepted is not lost: the next export covers the interval again,
  from the last accepted time (Exporter.export, acked);
- beats keep a grid, start + n x cadence (+ jitter), and a late wake-up beats once and skips
  the ticks it missed, never a catch-up burst (Beat.run);
- OTEL_EXPORTER_OTLP_TIMEOUT and OTEL_METRIC_EXPORT_TIMEOUT are milliseconds.
"""

import gzip
import json
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

BREAKS = {
    "drift-1": "ticks 1 % slow (a period of 1.01 x cadence)",
    "drift-2.5": "ticks 2.5 % slow",
    "jitter-2x": "jitter twice the configured bound",
    "jitter-4x": "jitter four times the configured bound",
    "delta-drop-on-timeout": "a delta export that times out drops its counts",
    "catch-up": "two beats at once on waking from a stall (the late tick and one it missed)",
    "slow-16": "ticks 16 % slow (a rate error)",
    "no-zero-series": "declared outcomes are not exported at zero",
    "retry-400": "a request answered 400 is sent again",
    "no-final-export": "a graceful shutdown exports the beats and status, not the outcomes",
    "dashed-uuid": "service.instance.id is a dashed UUID",
}
RESERVED = ["unspecified", "abandoned", "panicked", "other"]
RETRYABLE = {429, 502, 503, 504}
VERSION = "0.1.0"


def fail(message):
    print(f"python_heartbeat: {message}", file=sys.stderr)
    sys.exit(2)


def parse_breaks(argv):
    breaks = set()
    i = 0
    while i < len(argv):
        if argv[i] in ("--wire-only", "--delta-default"):
            # No beat_times: the suite times the beats on the wire alone; or delta unless
            # asked for cumulative (as a browser emitter is).
            breaks.add(argv[i][2:])
            i += 1
        elif argv[i] == "--break" and i + 1 < len(argv):
            for name in argv[i + 1].split(","):
                if name not in BREAKS:
                    fail(f"unknown --break {name!r}: expected one of {', '.join(BREAKS)}")
                breaks.add(name)
            i += 2
        else:
            fail(f"unknown argument {argv[i]!r}: expected --break NAME, --wire-only or --delta-default")
    return breaks


def env_ms(name, default):
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        ms = float(value)
    except ValueError:
        fail(f"{name}={value!r} is not a number of milliseconds")
    if ms <= 0:
        fail(f"{name}={value!r} is not a positive number of milliseconds")
    return ms / 1000.0


def pairs(value):
    """k=v,k2=v2 with percent-decoding (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES)."""
    out = {}
    for item in filter(None, (s.strip() for s in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep:
            fail(f"{item!r} is not key=value")
        out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(val.strip())
    return out


def now_ns():
    return int(time.time() * 1e9)


def attrs(d):
    return [{"key": k, "value": {"stringValue": v}} for k, v in sorted(d.items())]


def valid_tenant(t):
    return 0 < len(t) <= 128 and all(0x20 < ord(c) < 0x7F for c in t)


class Config:
    def __init__(self, breaks):
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        if protocol != "http/json":
            fail(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: only http/json is offered")
        url = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
        if not url:
            base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
            url = base.rstrip("/") + "/v1/metrics"
        self.url = url
        self.headers = pairs(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
        compression = os.environ.get("OTEL_EXPORTER_OTLP_COMPRESSION", "none")
        if compression not in ("gzip", "none"):
            fail(f"OTEL_EXPORTER_OTLP_COMPRESSION={compression!r}: expected gzip or none")
        self.gzip = compression == "gzip"
        self.interval = env_ms("OTEL_METRIC_EXPORT_INTERVAL", 60000)
        # Milliseconds, as the specification says (OpenTelemetry Python reads them as seconds).
        self.request_timeout = env_ms("OTEL_EXPORTER_OTLP_TIMEOUT", 10000)
        self.export_timeout = env_ms("OTEL_METRIC_EXPORT_TIMEOUT", 30000)
        default = "delta" if "delta-default" in breaks else "cumulative"
        temporality = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") or default
        if temporality.lower() not in ("cumulative", "delta"):
            fail(f"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE={temporality!r}: expected cumulative or delta")
        self.delta = temporality.lower() == "delta"
        resource = pairs(os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""))
        resource["service.name"] = os.environ.get("OTEL_SERVICE_NAME") or resource.get("service.name") or "unknown_service"
        resource["service.instance.id"] = str(uuid.uuid4()) if "dashed-uuid" in breaks else uuid.uuid4().hex
        resource["telemetry.sdk.name"] = "heartbeat-python-example"
        resource["telemetry.sdk.language"] = "python"
        resource["telemetry.sdk.version"] = VERSION
        self.resource = resource
        limit = os.environ.get("HEARTBEAT_CONFORMANCE_TENANT_LIMIT", "")
        self.tenant_limit = int(limit) if limit.isdigit() else 100


class State:
    """Counters and gauges, keyed by (metric, attribute tuple); one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.start_ns = now_ns()
        self.sums = {}  # (metric, attrs) -> cumulative value
        self.gauges = {}  # (metric, attrs) -> value
        self.acked = {}  # (metric, attrs) -> (value, time_ns) of the last accepted delta point
        self.tenants = {}  # outcome key -> set of tenants admitted

    def add(self, metric, attributes, n):
        key = (metric, tuple(sorted(attributes.items())))
        with self.lock:
            self.sums[key] = self.sums.get(key, 0) + n

    def gauge(self, metric, attributes, value):
        with self.lock:
            self.gauges[(metric, tuple(sorted(attributes.items())))] = value


UNITS = {
    "heartbeat.outcomes": "{outcome}",
    "heartbeat.beats": "{beat}",
    "heartbeat.emitter.status": "1",
}


class Exporter:
    def __init__(self, config, state, breaks):
        self.c = config
        self.s = state
        self.breaks = breaks
        self.lock = threading.Lock()  # one export at a time (delta intervals must not overlap)
        self.hold_until = 0.0  # Retry-After
        self.now = threading.Event()
        self.stopped = False

    def body(self, only=None):
        """The request for what there is to send, and the delta points it carries."""
        t = now_ns()
        metrics = {}
        sent = {}
        with self.s.lock:
            for key, value in self.s.sums.items():
                metric, a = key
                if only and metric not in only:
                    continue
                if self.c.delta:
                    last, since = self.s.acked.get(key, (0, self.s.start_ns))
                    if value == last and key in self.s.acked:
                        continue
                    point = {"startTimeUnixNano": str(since), "timeUnixNano": str(t), "asInt": str(value - last)}
                    sent[key] = (value, t)
                else:
                    point = {"startTimeUnixNano": str(self.s.start_ns), "timeUnixNano": str(t), "asInt": str(value)}
                point["attributes"] = attrs(dict(a))
                metrics.setdefault(metric, []).append(point)
            gauges = {}
            for (metric, a), value in self.s.gauges.items():
                if only and metric not in only:
                    continue
                gauges.setdefault(metric, []).append(
                    {"attributes": attrs(dict(a)), "timeUnixNano": str(t), "asInt": str(value)}
                )
        out = []
        for name, points in metrics.items():
            out.append({
                "name": name,
                "unit": UNITS[name],
                "sum": {"aggregationTemporality": 1 if self.c.delta else 2, "isMonotonic": True, "dataPoints": points},
            })
        for name, points in gauges.items():
            out.append({"name": name, "unit": UNITS[name], "gauge": {"dataPoints": points}})
        if not out:
            return None, sent
        request = {"resourceMetrics": [{
            "resource": {"attributes": attrs(self.c.resource)},
            "scopeMetrics": [{"scope": {"name": "heartbeat", "version": VERSION}, "metrics": out}],
        }]}
        return json.dumps(request).encode(), sent

    def post(self, data, timeout, again=False):
        """('ok' | 'retry' | 'drop' | 'timeout', Retry-After seconds or None)."""
        body = gzip.compress(data) if self.c.gzip else data
        headers = {"Content-Type": "application/json", **self.c.headers}
        if self.c.gzip:
            headers["Content-Encoding"] = "gzip"
        request = urllib.request.Request(self.c.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=max(timeout, 0.001)) as response:
                response.read()
                return "ok", None  # a partial success is accepted too, and never retried
        except urllib.error.HTTPError as e:
            after = e.headers.get("Retry-After")
            delay = float(after) if after and after.isdigit() else None
            if e.code in RETRYABLE:
                return "retry", delay
            if e.code == 400 and "retry-400" in self.breaks and not again:
                return self.post(data, timeout, again=True)
            return "drop", None
        except TimeoutError:
            return "timeout", None
        except (urllib.error.URLError, OSError) as e:
            if "timed out" in str(e):
                return "timeout", None
            return "retry", None

    def export(self, deadline, final=False, only=None):
        """One export, done or given up by `deadline`; True when accepted (or nothing to send)."""
        if not final and time.time() < self.hold_until:
            return False
        if not self.lock.acquire(timeout=max(deadline - time.time(), 0.001)):
            return False
        try:
            data, sent = self.body(only)
            if data is None:
                return True
            timeout = min(self.c.request_timeout, deadline - time.time())
            if timeout <= 0:
                return False
            result, delay = self.post(data, timeout)
            if delay is not None:
                self.hold_until = time.time() + delay
            lose = result == "timeout" and "delta-drop-on-timeout" in self.breaks
            if result in ("ok", "drop") or lose:
                # Accepted, or refused for good: the delta interval is closed. Otherwise it stays
                # open, and the next export covers it again from the last accepted time.
                with self.s.lock:
                    self.s.acked.update(sent)
            return result == "ok"
        finally:
            self.lock.release()

    def run(self):
        next_at = time.time() + self.c.interval
        while not self.stopped:
            self.now.wait(timeout=max(next_at - time.time(), 0))
            if self.stopped:
                return
            if self.now.is_set():
                self.now.clear()
            else:
                next_at += self.c.interval
                if next_at < time.time():
                    next_at = time.time() + self.c.interval
            self.export(time.time() + self.c.export_timeout)


class Beat:
    """A dead-man emitter: a beat on every tick of start + n x cadence (+ jitter)."""

    def __init__(self, name, cadence, jitter, state, exporter, breaks):
        self.name = name
        self.cadence = cadence
        self.jitter = jitter
        self.s = state
        self.x = exporter
        self.breaks = breaks
        self.times = []
        self.stop = threading.Event()
        stretch = {"drift-1": 1.01, "drift-2.5": 1.025, "slow-16": 1.16}
        self.period = cadence * next((v for k, v in stretch.items() if k in breaks), 1.0)
        self.spread = jitter * (2 if "jitter-2x" in breaks else 4 if "jitter-4x" in breaks else 1)
        self.attributes = {"heartbeat.emitter": name}
        state.gauge("heartbeat.emitter.status", self.attributes, 0)
        state.add("heartbeat.beats", self.attributes, 0)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def beat(self):
        self.times.append(time.time() * 1000.0)
        self.s.add("heartbeat.beats", self.attributes, 1)
        self.x.now.set()  # export at once

    def run(self):
        start = time.time()
        n = 0
        while True:
            due = start + n * self.period + random.uniform(0, self.spread)
            if self.stop.wait(timeout=max(due - time.time(), 0)):
                return
            self.beat()
            n += 1
            late = time.time() - (start + n * self.period)
            if late > 0:
                if "catch-up" in self.breaks:
                    # The smallest burst: one missed tick made up at once.
                    self.beat()
                    n += int(late // self.period) + 1
                else:
                    # Woken after later ticks (a stall): skip them, back on the grid.
                    n += int(late // self.period) + 1

    def stopped(self):
        self.stop.set()
        self.thread.join(timeout=2)
        self.s.gauge("heartbeat.emitter.status", self.attributes, 2)


class Driver:
    def __init__(self, breaks):
        self.breaks = breaks
        self.c = Config(breaks)
        self.s = State()
        self.x = Exporter(self.c, self.s, breaks)
        self.beats = {}
        self.declared = {}
        threading.Thread(target=self.x.run, daemon=True).start()

    def outcome_key(self, outcome, attributes):
        return outcome, tuple(sorted((attributes or {}).items()))

    def series(self, outcome, attributes, result, reason=None, tenant=None):
        a = {"heartbeat.outcome": outcome, "heartbeat.result": result, **(attributes or {})}
        if reason is not None:
            a["heartbeat.reason"] = reason
        if tenant is not None:
            a["heartbeat.tenant"] = tenant
        return a

    def declare(self, cmd):
        key = self.outcome_key(cmd["outcome"], cmd.get("attributes"))
        reasons = list(cmd.get("reasons") or [])
        self.declared[key] = reasons
        if "no-zero-series" not in self.breaks:
            self.s.add("heartbeat.outcomes", self.series(cmd["outcome"], cmd.get("attributes"), "success"), 0)
            for r in reasons + RESERVED:
                self.s.add("heartbeat.outcomes", self.series(cmd["outcome"], cmd.get("attributes"), "failure", r), 0)

    def record(self, cmd):
        outcome, attributes = cmd["outcome"], cmd.get("attributes") or {}
        key = self.outcome_key(outcome, attributes)
        if key not in self.declared:
            self.declare({"outcome": outcome, "attributes": attributes, "reasons": []})
        reason = None
        if cmd["result"] == "failure":
            reason = cmd.get("reason") or "unspecified"
            if reason not in self.declared[key] + RESERVED:
                reason = "other"
        tenant = cmd.get("tenant")
        if tenant is not None:
            admitted = self.s.tenants.setdefault(key, set())
            if not valid_tenant(tenant):
                tenant = "_overflow"
            elif tenant not in admitted:
                if len(admitted) < self.c.tenant_limit:
                    admitted.add(tenant)
                else:
                    tenant = "_overflow"
        self.s.add("heartbeat.outcomes", self.series(outcome, attributes, cmd["result"], reason, tenant), int(cmd.get("count", 1)))

    def shutdown(self):
        for b in self.beats.values():
            b.stopped()
        self.x.stopped = True
        self.x.now.set()
        only = {"heartbeat.beats", "heartbeat.emitter.status"} if "no-final-export" in self.breaks else None
        return self.x.export(time.time() + self.c.export_timeout, final=True, only=only)

    def handle(self, cmd):
        name = cmd.get("cmd")
        if name == "declare":
            self.declare(cmd)
        elif name == "record":
            self.record(cmd)
        elif name == "beat":
            if cmd["emitter"] in self.beats:
                return {"ok": False, "error": f"a heartbeat named {cmd['emitter']!r} is running"}
            jitter = cmd.get("jitter_ms")
            cadence = cmd["cadence_ms"] / 1000.0
            self.beats[cmd["emitter"]] = Beat(
                cmd["emitter"], cadence, cadence / 10 if jitter is None else jitter / 1000.0, self.s, self.x, self.breaks
            )
        elif name == "beat_stop":
            beat = self.beats.pop(cmd["emitter"], None)
            if beat is None:
                return {"ok": False, "error": f"no heartbeat named {cmd['emitter']!r}"}
            beat.stopped()
            self.x.now.set()
        elif name == "beat_times":
            beat = self.beats.get(cmd["emitter"])
            if beat is None:
                return {"ok": False, "error": f"no heartbeat named {cmd['emitter']!r}"}
            return {"ok": True, "value": list(beat.times)}
        elif name == "flush":
            return {"ok": True, "value": self.x.export(time.time() + self.c.export_timeout)}
        elif name == "shutdown":
            return {"ok": True, "value": self.shutdown()}
        else:
            return {"ok": False, "error": f"unknown command {name!r}"}
        return {"ok": True}


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    breaks = parse_breaks(sys.argv[1:])
    if breaks:
        # A broken emitter is a test fixture: the same jitter draws every run, so a test of
        # "2x the jitter fails HB-042" never meets a lucky run whose 20 draws happen to bunch.
        random.seed(20261203)
    broken = sorted(breaks - {"wire-only", "delta-default"})
    name = f"heartbeat-python-example {VERSION}" + (f" (broken: {', '.join(broken)})" if broken else "")
    say({"hello": {
        "name": name, "heartbeat": True, "protocols": ["http/json"],
        "temporalities": ["delta", "cumulative"] if "delta-default" in breaks else ["cumulative", "delta"],
        "gzip": True, "env": True,
        "stall": True, "memory": True, "beat_times": "wire-only" not in breaks,
    }})
    # What it offers does not depend on the configuration; a bad OTEL_* value ends it here,
    # named on standard error.
    driver = Driver(breaks)
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = {}
        try:
            cmd = json.loads(line)
            reply = driver.handle(cmd)
        except Exception as e:  # a bad command is an answer, never a crash
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        say(reply)
        if isinstance(cmd, dict) and cmd.get("cmd") == "shutdown":
            os._exit(0)
    # The end of standard input: a graceful shutdown.
    driver.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
