// Refreshes the screenshots docs/watch.md shows (docs/img/console-*.png, docs/img/status-*.png)
// from the demo at its human speed, at the moments that tell the story: the message-send alert
// firing after the bad deploy with the drill-down open on it, the dead emitter, the SLA burning,
// and the status page in the outage. After a build:
//   node watch/console-tests/docs-screenshots.mjs
import { copyFileSync } from 'node:fs';
import { ROOT, SHOTS, freeze, http, launch, scrollThrough, shot, sleep, startWatch, until } from './lib.mjs';

const OUT = `${ROOT}docs/img`;

/** Scrolls through the console so every lazily drawn chart is drawn, and waits for them. */
async function drawAll(page) {
  await scrollThrough(page);
  await until(() => page.evaluate(() => [...document.querySelectorAll('.panel .chart')].every((c) => c.querySelector('canvas'))), 10000, 100);
}
const watch = await startWatch(['demo', '--unit', '1s', '--listen', '127.0.0.1:0', '--linger', '2m'], (out) => {
  const c = /console: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
  return c && /status page: /.test(out) ? { base: c[1] } : null;
});
const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 860 } });
  const page = await ctx.newPage();
  const status = await ctx.newPage();
  await page.goto(`${watch.base}/#range=1m`);
  await status.goto(`${watch.base}/status`);
  const state = async () => (await http(`${watch.base}/api/state`)).json;
  const firing = (rule) => until(async () => ((await state())?.open_alerts || []).some((a) => a.rule === rule), 90000, 250);
  // The drop: message-send firing after the bad deploy.
  if (!(await firing('message-send'))) throw new Error(`message-send did not fire; the demo's output:\n${watch.output()}`);
  await sleep(1000); // the alert's window on the charts
  await page.locator('.panel.outcome[data-rule="message-send"] .rule-link').click();
  await page.locator('#drill-tenants[data-loaded="true"]').waitFor({ timeout: 15000 });
  await drawAll(page);
  await freeze(page, true);
  await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path: `${OUT}/console-overview.png` });
  await shot(page, '#outcomes', `${OUT}/console-outcomes.png`);
  await shot(page, '#drill', `${OUT}/console-drilldown.png`);
  await shot(page, '#sla', `${OUT}/console-sla.png`);
  await freeze(page, false);
  await until(() => status.evaluate(() => !['none', 'unknown'].includes(document.getElementById('overall').dataset.indicator)), 20000, 200);
  await status.screenshot({ path: `${OUT}/status-outage.png` });
  // The dead emitter.
  if (!(await firing('ai-worker-pipeline'))) throw new Error(`ai-worker-pipeline did not fire; the demo's output:\n${watch.output()}`);
  await sleep(1500);
  await drawAll(page);
  await freeze(page, true);
  await shot(page, '#deadman', `${OUT}/console-deadman.png`);
  for (const f of ['console-overview', 'console-outcomes', 'console-drilldown', 'console-deadman', 'console-sla', 'status-outage']) {
    copyFileSync(`${OUT}/${f}.png`, `${SHOTS}/docs-${f}.png`);
  }
  console.log(`screenshots written to ${OUT}`);
} finally {
  await browser.close();
  await watch.stop();
}
