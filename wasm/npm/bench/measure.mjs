// Size and speed of the built package (run after wasm/build.sh; scripts/test-wasm.sh runs it):
//
// - size: each file of the package as a browser downloads it, gzipped (level 9) and brotli'd,
//   beside OpenTelemetry JS metrics + its OTLP/HTTP exporter bundled and minified by esbuild;
// - speed: one `success()` call from JavaScript, in headless Chromium, beside OpenTelemetry JS
//   `Counter.add` in the same page, as nanoseconds per call (median of rounds) and ratios.
//
// Writes test-results/measure.json and test-results/measure.md and prints the Markdown.
// Measurements only: nothing here asserts a time. `--size-only` skips the browser.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { launch, servers, PACKAGE_ROOT } from '../test/browser.mjs';

const root = PACKAGE_ROOT;
const out = `${root}/bench/out`;
mkdirSync(out, { recursive: true });
mkdirSync(`${root}/test-results`, { recursive: true });

const gz = (b) => gzipSync(b, { level: 9 }).length;
const br = (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const sizeOf = (file) => {
  const b = readFileSync(file);
  return { raw: b.length, gzip: gz(b), brotli: br(b) };
};

const esbuild = (entry, outfile) =>
  execFileSync(`${root}/node_modules/.bin/esbuild`, [entry, '--bundle', '--format=esm', '--minify', '--target=es2020', '--legal-comments=none', '--log-level=warning', `--outfile=${outfile}`]);

// OpenTelemetry JS for the size comparison: a meter provider, a periodic reader, the OTLP/HTTP exporter.
writeFileSync(`${out}/otel-size-entry.js`, "export { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';\nexport { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';\n");
esbuild(`${out}/otel-size-entry.js`, `${out}/otel-size.js`);
esbuild(`${root}/bench/otel-entry.js`, `${out}/otel.js`);

const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
const versions = Object.fromEntries(['@opentelemetry/sdk-metrics', '@opentelemetry/exporter-metrics-otlp-http', '@opentelemetry/api'].map((n) => [n, pkg.devDependencies[n]]));
const wasm = sizeOf(`${root}/dist/heartbeat_wasm_bg.wasm`);
const js = sizeOf(`${root}/dist/index.js`);
const size = {
  wasm,
  js,
  total: { raw: wasm.raw + js.raw, gzip: wasm.gzip + js.gzip, brotli: wasm.brotli + js.brotli },
  otel: sizeOf(`${out}/otel-size.js`),
};

let speed;
if (!process.argv.includes('--size-only')) speed = await measureSpeed();

const kb = (n) => `${(n / 1024).toFixed(1)}`;
const lines = [
  '| download | raw | gzip | brotli |',
  '|---|---:|---:|---:|',
  `| \`heartbeat_wasm_bg.wasm\` | ${kb(wasm.raw)} KiB | ${kb(wasm.gzip)} KiB | ${kb(wasm.brotli)} KiB |`,
  `| \`index.js\` (wrapper + loader, minified) | ${kb(js.raw)} KiB | ${kb(js.gzip)} KiB | ${kb(js.brotli)} KiB |`,
  `| **@heartbeat/web total** | ${kb(size.total.raw)} KiB | **${kb(size.total.gzip)} KiB** (${size.total.gzip} bytes) | ${kb(size.total.brotli)} KiB |`,
  `| OpenTelemetry JS metrics + OTLP/HTTP exporter (esbuild, minified) | ${kb(size.otel.raw)} KiB | ${kb(size.otel.gzip)} KiB | ${kb(size.otel.brotli)} KiB |`,
];
if (speed) {
  lines.push('', `Speed in headless Chromium ${speed.chromium}, ${speed.calls} calls per round, median of ${speed.rounds} rounds:`, '');
  lines.push('| call | ns/call | vs `success()` |', '|---|---:|---:|');
  const base = speed.results['hb success()'];
  for (const [name, ns] of Object.entries(speed.results)) lines.push(`| \`${name}\` | ${ns.toFixed(1)} | ${(ns / base).toFixed(2)}× |`);
}
const md = lines.join('\n') + '\n';
writeFileSync(`${root}/test-results/measure.json`, JSON.stringify({ size, speed, versions }, null, 2) + '\n');
writeFileSync(`${root}/test-results/measure.md`, md);
console.log(md);
console.log(`versions: ${JSON.stringify(versions)}`);

async function measureSpeed() {
  const env = await servers();
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${env.site.url}/bench/bench.html`);
    await page.waitForFunction(() => window.ready === true);
    const result = await page.evaluate(
      async ({ endpoint, calls, rounds }) => {
        const hb = await heartbeat.init({ endpoint, serviceName: 'bench', exportIntervalMs: 86400000 });
        const send = hb.outcome('message.send', { reasons: ['timeout'] });
        const acme = send.tenant('acme');
        const reader = new otel.PeriodicExportingMetricReader({
          exporter: new otel.InMemoryMetricExporter(otel.AggregationTemporality.DELTA),
          exportIntervalMillis: 1e9,
        });
        const provider = new otel.MeterProvider({ readers: [reader] });
        const counter = provider.getMeter('bench').createCounter('heartbeat.outcomes');
        const attrs = { 'heartbeat.outcome': 'message.send', 'heartbeat.result': 'success' };
        const cases = {
          'hb success()': () => {
            for (let i = 0; i < calls; i++) send.success();
          },
          'hb failure("timeout")': () => {
            for (let i = 0; i < calls; i++) send.failure('timeout');
          },
          'hb tenant("acme").success() (resolved once)': () => {
            for (let i = 0; i < calls; i++) acme.success();
          },
          'otel Counter.add(1, attributes)': () => {
            for (let i = 0; i < calls; i++) counter.add(1, attrs);
          },
          'otel Counter.add(1)': () => {
            for (let i = 0; i < calls; i++) counter.add(1);
          },
        };
        const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
        for (const f of Object.values(cases)) f(); // warm up every path first
        for (let r = 0; r < rounds; r++) {
          // Interleaved, so a slow moment of the machine hits every case alike.
          for (const [name, f] of Object.entries(cases)) {
            const t0 = performance.now();
            f();
            times[name].push(((performance.now() - t0) * 1e6) / calls);
          }
        }
        const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
        await hb.shutdown();
        await provider.shutdown();
        return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
      },
      { endpoint: env.rx.url, calls: 200000, rounds: 9 },
    );
    return { chromium: browser.version(), calls: 200000, rounds: 9, results: result };
  } finally {
    await browser.close();
    await env.close();
  }
}
