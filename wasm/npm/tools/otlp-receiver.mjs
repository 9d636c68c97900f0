// A small OTLP/HTTP JSON receiver for tests, benchmarks and the web-messenger example: it sums
// delta `asInt` points per series, answers CORS preflights like a collector configured for a
// browser origin, and can play scripted faults (429/503 with Retry-After). Binds 127.0.0.1 only.
//
//   const rx = await startReceiver();           // rx.url = "http://127.0.0.1:PORT"
//   rx.total('heartbeat.outcomes', { 'heartbeat.outcome': 'message.send', 'heartbeat.result': 'success' })
//   rx.fail(2, 503, '1');                       // the next 2 exports get 503, Retry-After: 1
//   await rx.close();
import http from 'node:http';

const CORS_ALLOW_HEADERS = 'Content-Type, Authorization, X-Ingest-Key';

function attributes(list) {
  const out = {};
  for (const kv of list || []) {
    const v = kv.value || {};
    out[kv.key] = v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;
  }
  return out;
}

/** A stable key for a series: the metric name and its sorted attributes. */
export function seriesKey(metric, attrs) {
  const keys = Object.keys(attrs).sort();
  return JSON.stringify([metric, keys.map((k) => [k, attrs[k]])]);
}

export async function startReceiver({ log = false, statics } = {}) {
  const series = new Map(); // key -> { metric, attrs, value }
  const gauges = new Map(); // key -> { metric, attrs, value }: the last value of each gauge series
  const requests = []; // every POST: { at, transport hints, temporality, points }
  let preflights = 0;
  const faults = []; // [{ status, retryAfter }]

  const cors = (req, res) => {
    const origin = req.headers.origin;
    if (origin) {
      // Echo the origin (not "*") and allow credentials, so sendBeacon (credentials "include")
      // passes too; a production collector should list its allowed origins instead.
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'Retry-After');
    }
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (statics && req.method === 'GET') return statics(req, res, url);
    if (req.method === 'OPTIONS') {
      preflights++;
      cors(req, res);
      res.setHeader('Access-Control-Allow-Methods', 'POST');
      res.setHeader('Access-Control-Allow-Headers', CORS_ALLOW_HEADERS);
      res.setHeader('Access-Control-Max-Age', '7200');
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/metrics') {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      cors(req, res);
      const fault = faults.shift();
      if (fault) {
        if (fault.retryAfter !== undefined) res.setHeader('Retry-After', fault.retryAfter);
        res.writeHead(fault.status, { 'Content-Type': 'application/json' }).end('{}');
        requests.push({ status: fault.status, points: 0 });
        return;
      }
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end('bad json');
        return;
      }
      const record = {
        status: 200,
        contentType: req.headers['content-type'],
        cookie: req.headers.cookie !== undefined,
        secFetchMode: req.headers['sec-fetch-mode'],
        resource: {},
        temporalities: [],
        points: 0,
      };
      for (const rm of body.resourceMetrics || []) {
        record.resource = attributes(rm.resource && rm.resource.attributes);
        for (const sm of rm.scopeMetrics || []) {
          for (const m of sm.metrics || []) {
            for (const p of m.gauge?.dataPoints || []) {
              const attrs = attributes(p.attributes);
              gauges.set(seriesKey(m.name, attrs), { metric: m.name, attrs, value: Number(p.asInt ?? p.asDouble ?? 0) });
              record.points++;
            }
            const sum = m.sum;
            if (!sum) continue;
            record.temporalities.push(sum.aggregationTemporality);
            for (const p of sum.dataPoints || []) {
              const attrs = attributes(p.attributes);
              const key = seriesKey(m.name, attrs);
              const value = Number(p.asInt ?? p.asDouble ?? 0);
              const s = series.get(key) || { metric: m.name, unit: m.unit, attrs, value: 0 };
              // Delta sums add up; a cumulative one would replace (this receiver expects delta).
              s.value = sum.aggregationTemporality === 1 ? s.value + value : value;
              series.set(key, s);
              record.points++;
            }
          }
        }
      }
      requests.push(record);
      if (log) console.log(`otlp: ${record.points} points from ${record.resource['service.name']}`);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get preflights() {
      return preflights;
    },
    /** The value of one series (0 if never seen); `attrs` must list all its attributes. */
    value(metric, attrs) {
      const s = series.get(seriesKey(metric, attrs));
      return s ? s.value : 0;
    },
    /** The sum over every series of `metric` whose attributes include all of `match`. */
    total(metric, match = {}) {
      let sum = 0;
      for (const s of series.values()) {
        if (s.metric !== metric) continue;
        if (Object.entries(match).every(([k, v]) => s.attrs[k] === v)) sum += s.value;
      }
      return sum;
    },
    series: () => [...series.values()],
    /** The last value of one gauge series (undefined if never seen); `attrs` must list all its attributes. */
    gauge(metric, attrs) {
      return gauges.get(seriesKey(metric, attrs))?.value;
    },
    /** The next `n` exports are answered with `status` (and Retry-After, if given). */
    fail(n, status, retryAfter) {
      for (let i = 0; i < n; i++) faults.push({ status, retryAfter });
    },
    pendingFaults: () => faults.length,
    reset() {
      series.clear();
      gauges.clear();
      requests.length = 0;
      faults.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves files under `root` at `/` (GET only), with the wasm MIME type instantiateStreaming needs. */
export async function startStatic(root, routes = {}) {
  const { readFile } = await import('node:fs/promises');
  const path = await import('node:path');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (routes[url.pathname]) return routes[url.pathname](req, res, url);
    const file = path.normalize(path.join(root, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
    if (!file.startsWith(path.normalize(root))) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
