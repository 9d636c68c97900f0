// A reference emitter for the Heartbeat conformance suite: the OpenTelemetry JS SDK
// (@opentelemetry/sdk-metrics with the OTLP exporters, pinned in package.json to the versions the
// wasm package's helpers use) emitting one counter under node.
//
// It speaks the emitter protocol of docs/conformance.md: a `hello` line, then one JSON reply per
// JSON command read from standard input. A plain OTLP emitter (profile `otlp`): `record` adds to
// the counter `heartbeat.outcomes`; Heartbeat-only commands are refused. The exporters configure
// themselves from the standard OTEL_* variables; the export interval and timeout, which the JS
// PeriodicExportingMetricReader does not read from the environment, are passed from them.
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { ValueType } from '@opentelemetry/api';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as GrpcExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { defaultResource, detectResources, envDetector } from '@opentelemetry/resources';

const version = (name) => JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url))).version;
const SDK_VERSION = version('@opentelemetry/sdk-metrics');
const EXPORTER_VERSION = version('@opentelemetry/exporter-metrics-otlp-http');

const env = process.env;
const protocol = env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf';
const number = (v, fallback) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : fallback);

const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

const Exporter = protocol === 'grpc' ? GrpcExporter : protocol === 'http/json' ? JsonExporter : ProtoExporter;
// The exporters read endpoint, headers, compression, timeout and temporality from OTEL_*.
const exporter = new Exporter();
// As @opentelemetry/sdk-node does: the reader refuses a timeout above the interval, so the
// timeout is cut to the interval.
const exportIntervalMillis = number(env.OTEL_METRIC_EXPORT_INTERVAL, 60000);
const exportTimeoutMillis = Math.min(number(env.OTEL_METRIC_EXPORT_TIMEOUT, 30000), exportIntervalMillis);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis, exportTimeoutMillis });
const resource = defaultResource().merge(detectResources({ detectors: [envDetector] }));
const provider = new MeterProvider({ resource, readers: [reader] });
const counter = provider.getMeter('conformance.reference').createCounter('heartbeat.outcomes', {
  unit: '{outcome}',
  description: 'events recorded by the suite',
  // Events are counted in whole numbers: asInt on the wire, as the other emitters send.
  valueType: ValueType.INT,
});

say({
  hello: {
    name: `opentelemetry-js sdk-metrics ${SDK_VERSION}, OTLP exporters ${EXPORTER_VERSION} (node ${process.version})`,
    heartbeat: false,
    browser: false,
    protocols: ['http/protobuf', 'http/json', 'grpc'],
    temporalities: ['cumulative', 'delta'],
    gzip: true,
    env: true,
    stall: true,
    memory: true,
    kill: 'signal',
  },
});

async function handle(cmd) {
  switch (cmd.cmd) {
    case 'declare':
      return { ok: true };
    case 'record': {
      const attributes = { ...(cmd.attributes || {}), 'heartbeat.outcome': cmd.outcome, 'heartbeat.result': cmd.result };
      if (cmd.reason != null) attributes['heartbeat.reason'] = cmd.reason;
      if (cmd.tenant != null) attributes['heartbeat.tenant'] = cmd.tenant;
      counter.add(cmd.count ?? 1, attributes);
      return { ok: true };
    }
    case 'flush':
      try {
        await provider.forceFlush();
        return { ok: true, value: true };
      } catch (e) {
        return { ok: true, value: false, error: String(e) };
      }
    case 'shutdown':
      try {
        await provider.shutdown();
      } catch {
        // Reported through the value; the process ends either way.
        return { ok: true, value: false };
      }
      return { ok: true, value: true };
    default:
      return { ok: false, error: `${cmd.cmd} is not offered by a plain OpenTelemetry counter` };
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    say({ ok: false, error: `not JSON: ${e.message}` });
    continue;
  }
  say(await handle(cmd));
  if (cmd.cmd === 'shutdown') process.exit(0);
}
await provider.shutdown().catch(() => {});
process.exit(0);
