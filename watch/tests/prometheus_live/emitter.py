#!/usr/bin/env python3
"""A Heartbeat emitter built on the OpenTelemetry Python SDK and its Prometheus exporter, for
watch/tests/prometheus_live.rs: the names and labels Prometheus scrapes from it are the ones a
real OpenTelemetry -> Prometheus translation produces, not ones we wrote by hand.

    emitter.py --service hb-kill --emitter main --beat-ms 500 --outcomes-per-s 20

It serves /metrics (prometheus_client's HTTP server, PrometheusMetricReader) on 127.0.0.1 and a
free port, prints `ready PORT`, then obeys one command per line on stdin, answering `ok LINE`:

    freeze              the beat counter stops rising; the process keeps serving (status 0)
    beat                the beat counter rises again
    fail_ratio X        from now on a fraction X of the outcomes fail (reason `timeout`)
    outcomes_off        no outcome happens any more (the counters stay exported, unchanged)
    stop LINGER_S       a graceful stop: status 2, no more beats, served for LINGER_S seconds
                        (so that a scrape sees the 2), then the process exits

End of stdin ends the process, so an emitter never outlives its test.

What it emits follows docs/semantic-conventions.md: the asynchronous counters
`heartbeat.beats` ({beat}, attribute heartbeat.emitter) and `heartbeat.outcomes` ({outcome}:
heartbeat.outcome, heartbeat.result, heartbeat.reason on failures, heartbeat.tenant on the
drill-down series, the fixed attribute `surface`), declared at zero; the asynchronous gauge
`heartbeat.emitter.status` (unit 1: 0 beating, 2 stopped). Outcomes are spread evenly and
failures are chosen deterministically (a running fraction), so the ratio is exact.
"""

import argparse
import os
import sys
import threading
import time
import uuid

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

OUTCOME = "message.send"
SURFACE = "web_messenger"
REASONS = ["unspecified", "abandoned", "panicked", "other", "timeout"]
TENANT = "acme"
TICK_S = 0.02


class State:
    def __init__(self, emitter, beat_ms, outcomes_per_s):
        self.lock = threading.Lock()
        self.emitter = emitter
        self.beat_s = beat_ms / 1000.0
        self.beating = True
        self.status = 0
        self.beats = 0
        self.outcomes_per_s = outcomes_per_s
        self.fail_ratio = 0.0
        self.fail_debt = 0.0
        self.due = 0.0  # outcomes owed to the clock, not yet counted
        self.successes = 0
        self.tenant_successes = 0
        self.failures = {reason: 0 for reason in REASONS}  # declared at zero

    def tick(self, dt):
        with self.lock:
            self.due += self.outcomes_per_s * dt
            while self.due >= 1.0:
                self.due -= 1.0
                self.fail_debt += self.fail_ratio
                if self.fail_debt >= 1.0 - 1e-9:
                    self.fail_debt -= 1.0
                    self.failures["timeout"] += 1
                elif (self.successes + self.tenant_successes) % 4 == 3:
                    # The per-tenant drill-down: counted in the tenant's series instead.
                    self.tenant_successes += 1
                else:
                    self.successes += 1

    def beat(self):
        with self.lock:
            if self.beating:
                self.beats += 1

    def observe_beats(self, _options: CallbackOptions):
        with self.lock:
            yield Observation(self.beats, {"heartbeat.emitter": self.emitter})

    def observe_status(self, _options: CallbackOptions):
        with self.lock:
            yield Observation(self.status, {"heartbeat.emitter": self.emitter})

    def observe_outcomes(self, _options: CallbackOptions):
        base = {"heartbeat.outcome": OUTCOME, "surface": SURFACE}
        with self.lock:
            yield Observation(self.successes, {**base, "heartbeat.result": "success"})
            if self.tenant_successes:
                yield Observation(
                    self.tenant_successes,
                    {**base, "heartbeat.result": "success", "heartbeat.tenant": TENANT},
                )
            for reason, count in self.failures.items():
                yield Observation(
                    count, {**base, "heartbeat.result": "failure", "heartbeat.reason": reason}
                )


def run_clock(state):
    """Beats on a grid (start + n x cadence; a late wake-up beats once) and counts outcomes."""
    last = time.monotonic()
    next_beat = last + state.beat_s
    while True:
        time.sleep(TICK_S)
        now = time.monotonic()
        state.tick(now - last)
        last = now
        if now >= next_beat:
            state.beat()
            while next_beat <= now:
                next_beat += state.beat_s


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--emitter", required=True)
    parser.add_argument("--beat-ms", type=float, default=500)
    parser.add_argument("--outcomes-per-s", type=float, default=20)
    args = parser.parse_args()

    state = State(args.emitter, args.beat_ms, args.outcomes_per_s)
    reader = PrometheusMetricReader()
    resource = Resource.create(
        {"service.name": args.service, "service.instance.id": uuid.uuid4().hex}
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("heartbeat", "0.1.0")
    meter.create_observable_counter(
        "heartbeat.beats", callbacks=[state.observe_beats], unit="{beat}"
    )
    meter.create_observable_counter(
        "heartbeat.outcomes", callbacks=[state.observe_outcomes], unit="{outcome}"
    )
    meter.create_observable_gauge(
        "heartbeat.emitter.status", callbacks=[state.observe_status], unit="1"
    )

    server, _thread = start_http_server(port=0, addr="127.0.0.1")
    threading.Thread(target=run_clock, args=(state,), daemon=True).start()
    print(f"ready {server.server_address[1]}", flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        command, rest = words[0], words[1:]
        with state.lock:
            if command == "freeze":
                state.beating = False
            elif command == "beat":
                state.beating = True
            elif command == "fail_ratio":
                state.fail_ratio = float(rest[0])
                state.fail_debt = 0.0
            elif command == "outcomes_off":
                state.outcomes_per_s = 0.0
                state.due = 0.0
            elif command == "stop":
                state.beating = False
                state.status = 2
            else:
                print(f"error unknown command {line.strip()!r}", flush=True)
                continue
        print(f"ok {line.strip()}", flush=True)
        if command == "stop":
            time.sleep(float(rest[0]))
            os._exit(0)
    os._exit(0)


if __name__ == "__main__":
    main()
