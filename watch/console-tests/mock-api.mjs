// A stand-in for the watch's HTTP API, for working on the console and the status page without
// building the watch: `node watch/console-tests/mock-api.mjs [port]`. It serves watch/assets/ the way
// the watch does (same paths, same Content Security Policy) and invented data in the shapes of
// /api/state, /api/events, /api/history, /api/sla/burn, /api/alerts and /status.json: two outcome
// rules (one firing after a deploy, its drop carried by two tenants), a dead-man rule and an SLA.
// The tests never use it: they run against the real watch (console.test.mjs).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { extname, join, normalize } from 'node:path';

const ASSETS = fileURLToPath(new URL('../assets/', import.meta.url));
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const TICK = 1000;
const WINDOW = 5000;
const start = Date.now() - 6 * 3600e3;
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];

// `MOCK_RULES=500 MOCK_TENANTS=1000 node mock-api.mjs` for a console at scale.
const RULE_NAMES = ['message-send', 'reply-deliver', ...Array.from({ length: Math.max(0, Number(process.env.MOCK_RULES || 2) - 2) }, (_, i) => `op-${i}`)];
const MANY_TENANTS = [...TENANTS, ...Array.from({ length: Math.max(0, Number(process.env.MOCK_TENANTS || 6) - 6) }, (_, i) => `tenant-${i}`)];
const win = (ms) => Math.floor(ms / WINDOW) * WINDOW;
function series(rule, from, to) {
  const t = [];
  for (let s = win(from); s < win(to); s += WINDOW) t.push(s);
  const bad = (s) => rule === 'message-send' && s > Date.now() - 120e3;
  const successes = t.map((s) => Math.round(50 + 10 * Math.sin(s / 3.6e6) - (bad(s) ? 20 : 0)));
  const failures = t.map((s) => (bad(s) ? 18 : s % 7 === 0 ? 1 : 0));
  return { t, successes, failures, bad };
}

function history(q) {
  const rule = q.get('rule');
  const range = q.get('range') || '6h';
  const ms = { '15m': 900e3, '1h': 3600e3, '6h': 21600e3, '24h': 86400e3, '7d': 604800e3 }[range] ?? (/^\d+s$/.test(range) ? Number(range.slice(0, -1)) * 1000 : null);
  if (ms === null) return [400, { code: 3, message: `range: ${JSON.stringify(range)} is not 15m, 1h, 6h, 24h, 7d or a duration like 90s` }];
  const to = Date.now();
  const from = Math.max(start, to - ms);
  if (rule === 'api-pipeline') {
    const { t } = series(rule, from, to);
    return [200, { rule, kind: 'deadman', window_ms: WINDOW, from_ms: from, to_ms: to, min_beats: 6, emitters: [{ emitter: 'api', t, beats: t.map(() => 10) }], firing: [] }];
  }
  const { t, successes, failures, bad } = series(rule, from, to);
  const out = {
    rule, kind: 'outcome', window_ms: WINDOW, from_ms: from, to_ms: to, t, successes, failures,
    expected: t.map(() => 50), lo: t.map(() => 38), hi: t.map(() => 62),
    partial: { start_ms: win(to), successes: 12, failures: rule === 'message-send' ? 6 : 0 },
    thresholds: { min_success_ratio: 0.95, min_rate_per_minute: null },
    deploys: rule === 'message-send' ? [{ at_ms: Date.now() - 125e3, service: 'messenger-api', version: '1.5.0', previous: '1.4.2' }] : [],
    firing: rule === 'message-send' ? [{ id: 'message-send@1', from_ms: Date.now() - 110e3, to_ms: null, classification: 'success_ratio' }] : [],
  };
  const by = q.get('by');
  if (by) {
    const keys = by === 'tenant' ? TENANTS : ['web_messenger', 'mobile'];
    out.groups = keys.map((key, i) => {
      const hurt = (by === 'tenant' && i < 2) || (by === 'surface' && i === 0);
      return {
        key,
        successes: t.map((s) => (hurt && bad(s) ? 2 : 9)),
        failures: t.map((s) => (hurt && bad(s) ? 8 : 0)),
        usual_ratio: 0.99, today_ratio: hurt ? 0.6 : 0.99, share_of_drop: hurt ? 0.5 : 0,
      };
    });
  }
  return [200, out];
}

function state() {
  const now = Date.now();
  const alert = {
    id: 'message-send@1', rule: 'message-send', kind: 'outcome', status: 'firing', severity: 'page', service: 'messenger-api',
    signal: 'heartbeat.outcomes{heartbeat.outcome="message.send"}', since_ms: now - 110e3, since: new Date(now - 110e3).toISOString(), resolved_ms: null,
    classification: 'success_ratio', conditions: ['success ratio 0.55 < 0.95'], summary: 'message-send: success ratio 55% below 95% since the deploy of messenger-api 1.5.0',
    details: ['2 tenants carry 100% of the drop', 'surface web_messenger carries 100% of the drop'],
    tenants: [{ key: 'heartbeat.tenant', value: 'acme', share_of_drop: 0.5, share_of_traffic: 0.17, success_ratio: 0.2, usual_success_ratio: 0.99 }, { key: 'heartbeat.tenant', value: 'globex', share_of_drop: 0.5, share_of_traffic: 0.17, success_ratio: 0.2, usual_success_ratio: 0.99 }],
    attributes: [{ key: 'surface', value: 'web_messenger', share_of_drop: 1, share_of_traffic: 0.5, success_ratio: 0.3, usual_success_ratio: 0.99 }],
    deploys: [{ service: 'messenger-api', from: '1.4.2', to: '1.5.0', at_ms: now - 125e3, before_start_ms: 15e3 }],
    actions: ['roll back messenger-api to 1.4.2', 'look at the web surface for acme and globex'], runbook_url: 'https://runbooks.example/message-send',
    actions_taken: [{ action: 'rollback', kind: 'rollback', at_ms: now - 100e3, at: '', ok: true, dry_run: false, skipped: null, summary: 'rolled back messenger-api to 1.4.2 (exit 0, 1.2s)', exit: 0, took_ms: 1200, output: '' }],
    delivery: [{ sink: 'oncall', event: 'firing', state: 'delivered', attempts: 1, last_error: null, delivered_ms: now - 109e3, next_attempt_ms: null }],
  };
  const part = (rule) => ({ start_ms: win(now), successes: 12, failures: rule === 'message-send' ? 6 : 0, by_attribute: [] });
  return {
    now_ms: now, tick_ms: TICK, series: 40, points_stored: 1234,
    outcomes: RULE_NAMES.map((rule, i) => ({
      rule, outcome: rule.replace('-', '.'), window_ms: WINDOW, successes: rule === 'message-send' ? 30 : 50, failures: rule === 'message-send' ? 18 : 0,
      rate_per_minute: 360, success_ratio: rule === 'message-send' ? 0.62 : 1, state: rule === 'message-send' ? 'firing' : 'ok',
      by_attribute: (i === 0 ? MANY_TENANTS : MANY_TENANTS.slice(0, 20)).map((t) => ({ key: 'heartbeat.tenant', value: t, successes: 5, failures: 0 })), seen: true, last_point_ms: now - 500,
      classification: rule === 'message-send' ? 'success_ratio' : null, partial: part(rule),
    })),
    deadman: [{ rule: 'api-pipeline', service: 'messenger-api', emitter: 'api', beats: 10, min_beats: 6, state: 'ok', status: 0, last_beat_age_ms: 400, status_age_ms: 400, window_ms: WINDOW, classification: null, seen: true }],
    open_alerts: [alert],
    recent_alerts: [alert],
    sla: [{ name: 'core-platform', objective: 0.999, slot_ms: 60000, observed: 500, down: 2, unknown: 0, up: 498, availability: 0.996, availability_known: 0.996, met: false, down_now: true, unknown_now: false }],
  };
}

function burn(q) {
  const t = [];
  const budget = [];
  for (let i = 0; i < 300; i++) {
    t.push(start + i * 60e3);
    budget.push(1 - (i > 250 ? (i - 250) * 0.05 : 0));
  }
  return [200, { sla: q.get('sla'), objective: 0.999, month: '2026-12', slot_ms: 60e3, t, budget_left: budget, down: [{ from_ms: start + 250 * 60e3, to_ms: null }] }];
}

function statusJson() {
  const days = [];
  for (let i = 89; i >= 0; i--) days.push({ date: new Date(Date.now() - i * 86400e3).toISOString().slice(0, 10), uptime: i > 60 ? null : i === 3 ? 0.97 : i === 0 ? 0.996 : 1 });
  return {
    page: { name: 'Heartbeat demo', updated_at: new Date().toISOString() },
    status: { indicator: 'major', description: 'Partial System Outage' },
    components: [
      { id: 'core-platform', name: 'Core platform', status: 'partial_outage', updated_at: new Date().toISOString(), uptime_90d: days },
      { id: 'ai-answers', name: 'AI answers', status: 'operational', updated_at: new Date().toISOString(), uptime_90d: days.map((d) => ({ ...d, uptime: d.uptime === null ? null : 1 })) },
    ],
    incidents: [
      { id: 'i2', name: 'Core platform: partial outage', status: 'investigating', created_at: new Date(Date.now() - 110e3).toISOString(), resolved_at: null, components: ['core-platform'] },
      { id: 'i1', name: 'Core platform: degraded performance', status: 'resolved', created_at: new Date(Date.now() - 3 * 86400e3).toISOString(), resolved_at: new Date(Date.now() - 3 * 86400e3 + 600e3).toISOString(), components: ['core-platform'] },
    ],
  };
}

const json = (res, code, body) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  if (path === '/api/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    const send = () => res.write(`event: state\ndata: ${JSON.stringify(state())}\n\n`);
    send();
    const t = setInterval(send, TICK);
    req.on('close', () => clearInterval(t));
    return;
  }
  if (path === '/api/state') return json(res, 200, state());
  if (path === '/api/alerts') return json(res, 200, { open: state().open_alerts, recent: state().recent_alerts });
  if (path === '/api/history') return json(res, ...history(url.searchParams));
  if (path === '/api/sla/burn') return json(res, ...burn(url.searchParams));
  if (path === '/status.json') return json(res, 200, statusJson());
  const file = path === '/' ? 'console.html' : path === '/status' ? 'status.html' : path.startsWith('/assets/') ? normalize(path.slice('/assets/'.length)) : null;
  if (!file || file.startsWith('..')) return json(res, 404, { code: 5, message: `no such endpoint: ${path}` });
  try {
    const body = await readFile(join(ASSETS, file));
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'content-security-policy': CSP });
    res.end(body);
  } catch {
    json(res, 404, { code: 5, message: `no such asset: ${path}` });
  }
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`console: http://127.0.0.1:${port}/`);
  console.log(`status page: http://127.0.0.1:${port}/status`);
});
