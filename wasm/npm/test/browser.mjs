// Headless Debian Chromium through playwright-core, and the two local servers the browser tests
// and the benchmark use: the page's origin and a collector on another origin (so CORS applies).
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import { startReceiver, startStatic } from '../tools/otlp-receiver.mjs';

export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

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

export async function launch() {
  // Playwright turns the back/forward cache off by default; the e2e test needs it.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ignoreDefaultArgs: ['--disable-back-forward-cache'], timeout: 60000 });
}

/** Starts the collector and the page server; `close()` stops both. */
export async function servers() {
  const rx = await startReceiver();
  const site = await startStatic(PACKAGE_ROOT);
  return { rx, site, close: async () => Promise.all([rx.close(), site.close()]) };
}

/** Polls `f` until it returns true, for at most `ms`; returns its last answer (no timing asserted). */
export async function until(f, ms = 20000, every = 25) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await f();
    if (ok || Date.now() > end) return ok;
    await new Promise((r) => setTimeout(r, every));
  }
}
