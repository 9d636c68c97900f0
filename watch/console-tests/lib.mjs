// What the console tests share: headless Debian Chromium through playwright-core (the launch flags
// of wasm/npm/test/browser.mjs), the watch binary started and stopped by its pid, bounded polling,
// JSON over HTTP, and checks on pages that read the DOM (never timed assertions on their own).
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = process.env.HEARTBEAT_WATCH_BIN || `${ROOT}target/debug/heartbeat-watch`;
export const SHOTS = process.env.CONSOLE_SCREENSHOTS || `${ROOT}target/console-screenshots`;
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

mkdirSync(SHOTS, { recursive: true });

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns a truthy value, for at most `ms`; returns its last answer. */
export async function until(f, ms = 20000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v || Date.now() > end) return v;
    await sleep(every);
  }
}

/** GET (or `init`) `url`; returns `{status, text, json}` (json null when the body is not JSON). */
export async function http(url, init = {}) {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10000) });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: r.status, text, json, headers: r.headers };
}

/** A free port on 127.0.0.1 (for a rule file's `listen`). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Every watch started and not yet stopped: killed by pid if this process exits or is stopped by
// a signal (the test script's `timeout`), so none outlives the tests.
const running = new Set();
const killAll = () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

/** Starts `heartbeat-watch args...`; stopped by its pid with `stop()`, and on this process's exit. */
export function spawnWatch(args, env = {}) {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const w = { child, pid: child.pid, text: '', exited: null };
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.stdout.setEncoding('utf8').on('data', (c) => (w.text += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (w.text += c));
  child.once('error', (e) => (w.exited = `${e.message} (build it: cargo build -p heartbeat-watch --all-features --bin heartbeat-watch)`));
  child.once('exit', (code, signal) => (w.exited ??= `exited (${code ?? signal})`));
  w.output = () => w.text;
  w.stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      if ((await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) === false) {
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(5000)]);
      }
    }
    running.delete(child);
  };
  return w;
}

/**
 * Starts `heartbeat-watch args...` and waits, at most `ms`, until `ready(output)` returns a value
 * (the URLs it printed); returns that value with the process handle. Fails with its output.
 */
export async function startWatch(args, ready, { ms = 90000, env = {} } = {}) {
  const w = spawnWatch(args, env);
  const got = await until(() => ready(w.text) || w.exited, ms, 50);
  if (!got || typeof got === 'string') {
    await w.stop();
    throw new Error(`${BIN} ${args.join(' ')}: ${got || `not ready within ${ms} ms`}; its output:\n${w.text}`);
  }
  return { ...got, ...w, stop: w.stop, output: w.output };
}

/** Counts the pixels of a chart's canvas near `rgb` (within `tol` per channel) and all painted ones. */
export async function canvasPixels(page, selector, rgb, tol = 40) {
  return page.evaluate(
    ({ selector, rgb, tol }) => {
      const c = document.querySelector(selector);
      if (!c) return null;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let near = 0;
      let painted = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] === 0) continue;
        painted++;
        if (Math.abs(d[i] - rgb[0]) <= tol && Math.abs(d[i + 1] - rgb[1]) <= tol && Math.abs(d[i + 2] - rgb[2]) <= tol) near++;
      }
      return { near, painted, width: c.width, height: c.height };
    },
    { selector, rgb, tol },
  );
}

/** Scrolls through the whole page so every lazily drawn panel is drawn once. */
export async function scrollThrough(page) {
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  const step = await page.evaluate(() => innerHeight);
  for (let y = 0; y < height; y += step) {
    await page.evaluate((y) => scrollTo(0, y), y);
    await sleep(150);
  }
  await page.evaluate(() => scrollTo(0, 0));
}

/** The tenant ids a snapshot of /api/state names (closed and partial windows). */
export function tenantsOf(state) {
  const out = new Set();
  for (const o of state.outcomes || []) {
    for (const d of [...(o.by_attribute || []), ...((o.partial && o.partial.by_attribute) || [])]) {
      if (d.key === 'heartbeat.tenant') out.add(d.value);
    }
  }
  for (const a of [...(state.open_alerts || []), ...(state.recent_alerts || [])]) for (const t of a.tenants || []) out.add(t.value);
  return out;
}

/** The tenant ids of `tenants` that occur in `text` as words. */
export function namedTenants(text, tenants) {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [...tenants].filter((t) => new RegExp(`(^|[^A-Za-z0-9_-])${esc(t)}($|[^A-Za-z0-9_-])`).test(text));
}

/** Stops (true) or resumes (false) the console applying state events, for steady screenshots. */
export async function freeze(page, on) {
  await page.evaluate((on) => {
    if (window.heartbeatConsole) window.heartbeatConsole.frozen = on;
  }, on);
  if (on) await sleep(400); // the fetches under way land
}

/** A screenshot of the element at `selector`, clipped from the whole page. */
export async function shot(page, selector, path) {
  const box = await page.evaluate((s) => {
    const r = document.querySelector(s).getBoundingClientRect();
    return { x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height };
  }, selector);
  await page.screenshot({ path, fullPage: true, clip: box });
}
