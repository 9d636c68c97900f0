// The watch's console and status page in a real browser (issue 13), against the real watch: the
// demo at test speed (`heartbeat-watch demo --unit 1s --listen 127.0.0.1:0 --linger 120s`), read
// through headless Debian Chromium. Run by scripts/test-console.sh, or after a build:
//   node --test --test-concurrency=1 watch/console-tests/console.test.mjs
//
// From the start, node watches /api/alerts, /api/state and /status.json, and the status page's
// banner, while the tests look at the console: so the alert's arrival and the status page's
// outage and recovery are caught whenever the demo's timeline puts them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AxeBuilder } from '@axe-core/playwright';
import { SHOTS, canvasPixels, freeze, shot, http, launch, namedTenants, scrollThrough, sleep, startWatch, tenantsOf, until } from './lib.mjs';

const RANGE = '2m'; // the demo lasts about 45 s at 1 s a unit (CONSOLE_DEMO_UNIT=400ms: about 20 s)
const OK_RGB = [26, 127, 55]; // console.js COLORS.ok

let watch;
let browser;
let consolePage;
let statusPage;
let tick;
let polling = true;
const pollers = [];
const tenants = new Set();
const statusTexts = []; // every distinct /status.json body seen
const statusHtml = []; // the status page's HTML at each change of its banner
const indicators = []; // the status page's banner: [{at, indicator}]
const consoleRequests = [];
const pageErrors = [];
let apiAlertSeen = null; // when /api/alerts first listed message-send firing
let drillPage;
const drill = { match: null, last: null, error: null, seen: null, rows: null };

/** The group keys carrying a drop: more than an even share of it, and below the ratio floor. */
function carrying(h) {
  const floor = h.thresholds.min_success_ratio ?? 1;
  return h.groups.filter((g) => g.share_of_drop > 1 / h.groups.length && g.today_ratio !== null && g.today_ratio < floor).map((g) => g.key);
}

const api = (path) => http(`${watch.base}${path}`);

function poll(every, f) {
  pollers.push(
    (async () => {
      while (polling) {
        try {
          await f();
        } catch {
          // the watch may be busy; the next round asks again
        }
        await sleep(every);
      }
    })(),
  );
}

before(async () => {
  watch = await startWatch(['demo', '--unit', process.env.CONSOLE_DEMO_UNIT || '1s', '--listen', '127.0.0.1:0', '--linger', '120s'], (out) => {
    const c = /console: (http:\/\/127\.0\.0\.1:\d+)\/\S*/.exec(out);
    const s = /status page: (http:\/\/127\.0\.0\.1:\d+\/status)\b/.exec(out);
    return c && s ? { base: c[1], console: `${c[1]}/`, status: s[1] } : null;
  });
  console.log(`# watch pid ${watch.pid} at ${watch.base}`);
  browser = await launch();

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  consolePage = await ctx.newPage();
  consolePage.on('request', (r) => consoleRequests.push(new URL(r.url()).pathname));
  consolePage.on('pageerror', (e) => pageErrors.push(`console: ${e.message}`));
  consolePage.on('console', (m) => m.type() === 'error' && !/favicon/.test(m.text()) && pageErrors.push(`console log: ${m.text()}`));

  statusPage = await ctx.newPage();
  statusPage.on('pageerror', (e) => pageErrors.push(`status: ${e.message}`));
  statusPage.on('console', (m) => m.type() === 'error' && !/favicon/.test(m.text()) && pageErrors.push(`status log: ${m.text()}`));
  await Promise.all([consolePage.goto(`${watch.console}#range=${RANGE}`), statusPage.goto(watch.status)]);

  poll(40, async () => {
    if (apiAlertSeen) return;
    const r = await api('/api/alerts');
    if ((r.json?.open || []).some((a) => a.rule === 'message-send' && a.status === 'firing')) apiAlertSeen = Date.now();
  });
  poll(200, async () => {
    const r = await api('/api/state');
    if (r.json) {
      tick ??= r.json.tick_ms;
      for (const t of tenantsOf(r.json)) tenants.add(t);
    }
    const s = await api('/status.json');
    if (s.status === 200 && statusTexts.at(-1) !== s.text) statusTexts.push(s.text);
  });
  // The drill-down, opened on message-send from the start in a page of its own: while the drop
  // lasts, the tenants and surfaces that /api/history?by= says carry it must head its tables.
  drillPage = await ctx.newPage();
  drillPage.on('pageerror', (e) => pageErrors.push(`drill: ${e.message}`));
  await drillPage.goto(`${watch.console}#range=${RANGE}`);
  await drillPage.locator('.panel.outcome[data-rule="message-send"] .rule-link').click({ timeout: 30000 });
  poll(150, async () => {
    if (drill.match) return;
    const [t, s] = await Promise.all(['tenant', 'surface'].map((by) => api(`/api/history?rule=message-send&range=${RANGE}&by=${by}`)));
    if (t.status !== 200 || s.status !== 200) {
      drill.error = `by=tenant: ${t.status} ${t.text.slice(0, 200)}; by=surface: ${s.status} ${s.text.slice(0, 200)}`;
      return;
    }
    drill.last = t.json.groups.map((g) => [g.key, g.share_of_drop, g.today_ratio]);
    const tenants = carrying(t.json);
    const surfaces = carrying(s.json);
    if (!tenants.length || !surfaces.length) return;
    const read = (id) => drillPage.locator(`#${id} tbody tr[data-key]`).evaluateAll((rows) => rows.map((r) => r.dataset.key));
    const ok = async () => {
      const [rows, surfaceRows] = await Promise.all([read('drill-tenants'), read('drill-surfaces')]);
      const heads = (want, got) => want.every((k) => got.slice(0, want.length).includes(k));
      return heads(tenants, rows) && heads(surfaces, surfaceRows) ? rows : null;
    };
    // The page refreshes its tables when a window closes: give it a window to catch up.
    drill.seen = { tenants, surfaces };
    const rows = await until(ok, t.json.window_ms || 2000, 50);
    drill.rows = await read('drill-tenants').catch(() => null);
    if (!rows) return;
    drill.match = { tenants, surfaces, rows, all: t.json.groups.map((g) => g.key) };
    await freeze(drillPage, true);
    await shot(drillPage, '#drill', `${SHOTS}/console-drilldown.png`);
    await freeze(drillPage, false);
  });
  poll(100, async () => {
    const v = await statusPage.evaluate(() => document.getElementById('overall').dataset.indicator);
    if (indicators.at(-1)?.indicator === v) return;
    indicators.push({ at: Date.now(), indicator: v });
    statusHtml.push(await statusPage.content());
    const outages = indicators.filter((i) => i.indicator !== 'none' && i.indicator !== 'unknown').length;
    if (v !== 'none' && v !== 'unknown' && outages === 1) await statusPage.screenshot({ path: `${SHOTS}/status-outage.png`, fullPage: true });
  });
});

after(async () => {
  polling = false;
  await Promise.race([Promise.all(pollers), sleep(5000)]);
  await browser?.close();
  await watch?.stop();
  console.log(`# screenshots in ${SHOTS}`);
});

test('the console goes live and draws every outcome rule with its series', async () => {
  assert.ok(await until(() => consolePage.evaluate(() => window.heartbeatConsole?.connection() === 'live'), 20000), 'the connection indicator says live');
  const state = (await api('/api/state')).json;
  assert.ok(state.outcomes.length >= 1, 'the demo has outcome rules');
  // Three closed windows with successes, so every line has something to draw.
  const closed = async (rule) => {
    const h = (await api(`/api/history?rule=${encodeURIComponent(rule)}&range=${RANGE}`)).json;
    return h && h.successes.filter((v) => v > 0).length >= 3;
  };
  for (const o of state.outcomes) assert.ok(await until(() => closed(o.rule), 30000, 200), `${o.rule}: three windows in its history`);
  await sleep(500); // the next state event makes the console fetch the new history
  for (const o of state.outcomes) {
    const panel = `.panel.outcome[data-rule="${o.rule}"]`;
    await consolePage.locator(panel).scrollIntoViewIfNeeded();
    const labels = await until(() => consolePage.evaluate((r) => window.heartbeatConsole.seriesOf('outcome', r), o.rule), 20000);
    assert.ok(labels, `${o.rule}: a chart is drawn`);
    const h = (await api(`/api/history?rule=${encodeURIComponent(o.rule)}&range=${RANGE}`)).json;
    assert.equal(h.kind, 'outcome');
    const want = ['successes/min', 'failures/min', 'success ratio'];
    if (h.thresholds.min_success_ratio !== null) want.push('ratio floor');
    if (h.thresholds.min_rate_per_minute !== null) want.push('rate floor/min');
    const band = h.lo.some((v) => v !== null) && h.hi.some((v) => v !== null);
    if (band) want.push('band high', 'band low');
    for (const w of want) assert.ok(labels.includes(w), `${o.rule}: series ${w} among ${labels}`);
    if (!band) assert.ok(!labels.includes('band high'), `${o.rule}: no band drawn without one (${labels})`);
    const attr = await consolePage.locator(`${panel} .chart`).getAttribute('data-series-count');
    assert.equal(Number(attr), labels.length, `${o.rule}: data-series-count is the uPlot instance's series count`);
    const px = await until(async () => {
      const p = await canvasPixels(consolePage, `${panel} canvas`, OK_RGB);
      return p && p.near > 20 ? p : null;
    }, 5000).then((p) => p || canvasPixels(consolePage, `${panel} canvas`, OK_RGB));
    assert.ok(px && px.painted > 1000, `${o.rule}: the canvas is painted (${JSON.stringify(px)})`);
    assert.ok(px.near > 20, `${o.rule}: the successes line is drawn (${JSON.stringify(px)})`);
    console.log(`# ${o.rule}: ${labels.length} series (${labels.join(', ')}); ${px.painted} pixels painted, ${px.near} in the successes colour`);
  }
  // The window in progress is shown, marked partial, for a rule that has one.
  const withPartial = state.outcomes.find((o) => o.partial);
  if (withPartial) {
    const text = await consolePage.locator(`.panel.outcome[data-rule="${withPartial.rule}"] .partial`).textContent();
    assert.match(text, /partial/);
  }
});

test('the message-send alert appears live through SSE within two ticks of /api/alerts', async () => {
  const pageSeen = () => consolePage.evaluate(() => Object.entries(window.heartbeatConsole.seen).find(([k]) => k.startsWith('message-send@') && k.endsWith('|firing'))?.[1]);
  const seen = await until(async () => apiAlertSeen && (await pageSeen()), 60000);
  assert.ok(apiAlertSeen, '/api/alerts lists the message-send alert firing');
  assert.ok(seen, 'the console shows the message-send alert firing');
  const delay = seen - apiAlertSeen;
  console.log(`# alert: shown by the console ${delay} ms after /api/alerts listed it (tick ${tick} ms; polled every 40 ms)`);
  assert.ok(delay <= 2 * tick, `the console showed it ${delay} ms after the API (two ticks: ${2 * tick} ms)`);
  // Open, or by now resolved and among the recent ones: its diagnosis and actions are shown.
  const card = consolePage.locator('#alerts article.alert[data-rule="message-send"]').first();
  await card.waitFor({ timeout: 10000 });
  const text = await card.textContent();
  assert.match(text, /Suggested actions/);
  const stateRequests = consoleRequests.filter((p) => p === '/api/state').length;
  assert.ok(stateRequests <= 1, `the console reads /api/state through its event stream, not by polling (${stateRequests} requests)`);
  assert.ok(consoleRequests.includes('/api/events'), 'the console opened /api/events');
  await freeze(consolePage, true);
  await shot(consolePage, '#alerts', `${SHOTS}/console-alerts.png`);
  await freeze(consolePage, false);
});

test('the drill-down lists the tenants the drop hits, read from /api/history?by=tenant', async () => {
  // Checked live by the drill-down poller (the drop lasts a few windows of the demo).
  const why = () => `API carrying: ${JSON.stringify(drill.seen)}; page rows then: ${JSON.stringify(drill.rows)}; last by=tenant: ${JSON.stringify(drill.last)}`;
  assert.ok(await until(() => drill.match || drill.error, 60000, 200), `the drill-down page lists the tenants and surfaces carrying the drop (${why()})`);
  assert.equal(drill.error, null);
  const m = drill.match;
  console.log(`# drill-down: tenants carrying the drop: ${m.tenants.join(', ')} of ${m.all.join(', ')}; the page's table: ${m.rows.join(', ')}; surfaces: ${m.surfaces.join(', ')}`);
  assert.ok(m.tenants.length < m.all.length, 'not every tenant carries the drop');
  assert.ok(m.surfaces.length >= 1, 'a surface carries the drop');
  // A tenant of the table charted on its own (/api/history?tenant=).
  await drillPage.locator(`#drill-tenants tbody tr[data-key="${m.tenants[0]}"] button`).click();
  const series = await until(() => drillPage.evaluate(() => !document.getElementById('drill-one-fig').hidden && document.getElementById('drill-one').dataset.seriesCount), 10000);
  assert.ok(Number(series) >= 3, `${m.tenants[0]}'s own chart is drawn (${series} series)`);
  assert.match(await drillPage.locator('#drill-one-cap').textContent(), new RegExp(m.tenants[0]));
});

test('the dead-man panel shows each emitter with its status and beats timeline', async () => {
  const state = (await api('/api/state')).json;
  for (const d of state.deadman) {
    const panel = consolePage.locator(`.panel.deadman[data-rule="${d.rule}"]`);
    await panel.scrollIntoViewIfNeeded();
    const labels = await until(() => consolePage.evaluate((r) => window.heartbeatConsole.seriesOf('deadman', r), d.rule), 15000);
    assert.ok(labels && labels.includes('min beats') && labels.length >= 2, `${d.rule}: a timeline with each emitter and the floor (${labels})`);
  }
  // A rule the demo breaks is not shown beating.
  const broken = await until(async () => (await api('/api/state')).json.deadman.find((d) => d.state === 'firing'), 30000);
  if (broken) {
    const status = await until(async () => {
      const s = await consolePage.locator(`.panel.deadman[data-rule="${broken.rule}"]`).getAttribute('data-status');
      return s && !s.startsWith('beating') ? s : null;
    }, 10000);
    assert.ok(status, `${broken.rule} (firing, ${broken.classification}) is not shown beating`);
    console.log(`# dead-man: ${broken.rule} shown as "${status}"`);
  }
  await freeze(consolePage, true);
  await shot(consolePage, '#deadman', `${SHOTS}/console-deadman.png`);
  await freeze(consolePage, false);
});

test('the SLA panel shows availability, budget left and the burn-down', async () => {
  const state = (await api('/api/state')).json;
  assert.ok(state.sla.length >= 1);
  for (const s of state.sla) {
    const panel = consolePage.locator(`.panel.sla[data-sla="${s.name}"]`);
    await panel.scrollIntoViewIfNeeded();
    const labels = await until(() => consolePage.evaluate((n) => window.heartbeatConsole.seriesOf('sla', n), s.name), 15000);
    assert.ok(labels && labels.includes('error budget left'), `${s.name}: burn-down drawn (${labels})`);
    assert.match(await panel.textContent(), /Availability this month/);
  }
  await freeze(consolePage, true);
  await shot(consolePage, '#sla', `${SHOTS}/console-sla.png`);
  await freeze(consolePage, false);
});

test('the status page goes from operational to an outage and back', async () => {
  const sequence = () => indicators.map((i) => i.indicator);
  const recovered = () => {
    const s = sequence();
    const first = s.indexOf('none');
    const out = s.findIndex((v, i) => i > first && v !== 'none' && v !== 'unknown');
    return first >= 0 && out > first && s.slice(out + 1).includes('none');
  };
  assert.ok(await until(recovered, 90000, 200), `operational, outage, operational (seen: ${sequence().join(' → ')})`);
  console.log(`# status page banner: ${sequence().join(' → ')}`);
  const components = await statusPage.locator('.component[data-status]').count();
  assert.ok(components >= 1, 'the status page lists components');
  const bars = await statusPage.locator('.component .bars').first().locator('.bar').count();
  assert.equal(bars, JSON.parse(statusTexts.at(-1)).components[0].uptime_90d.length, 'one bar per day of uptime_90d');
  await statusPage.screenshot({ path: `${SHOTS}/status-operational.png`, fullPage: true });
});

test('neither the status page nor /status.json names a tenant', async () => {
  assert.ok(tenants.size >= 1, 'the demo sends tenants');
  statusHtml.push(await statusPage.content());
  assert.ok(statusTexts.length >= 1 && statusHtml.length >= 2);
  for (const text of statusTexts) assert.deepEqual(namedTenants(text, tenants), [], `status.json names no tenant: ${text.slice(0, 400)}`);
  for (const html of statusHtml) assert.deepEqual(namedTenants(html, tenants), [], 'the status page names no tenant');
  console.log(`# ${statusTexts.length} versions of status.json and ${statusHtml.length} of the page checked against ${tenants.size} tenant ids`);
});

test('axe finds no serious or critical accessibility problem on the console and the status page', async () => {
  await scrollThrough(consolePage);
  for (const [name, page] of [
    ['console', consolePage],
    ['status page', statusPage],
  ]) {
    const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
    const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`).join('\n');
    assert.equal(bad.length, 0, `${name}:\n${text}`);
    console.log(`# axe ${name}: ${r.passes.length} rules pass, ${r.violations.length} violations (none serious or critical)`);
  }
});

test('a malformed range, group or tenant gets a 400 naming it', async () => {
  for (const [query, name, value] of [
    ['rule=message-send&range=banana', 'range', 'banana'],
    ['rule=message-send&range=-5m', 'range', '-5m'],
    ['rule=message-send&range=1h&by=%3Cscript%3E', 'by', '<script>'],
    ['rule=message-send&range=1h&tenant=a%0Ab', 'tenant', 'a\\nb'], // quoted escaped in the message
  ]) {
    const r = await api(`/api/history?${query}`);
    assert.equal(r.status, 400, `${query}: ${r.text}`);
    assert.ok(r.json && typeof r.json.message === 'string', `${query}: a JSON error (${r.text})`);
    assert.ok(r.json.message.includes(name) && r.json.message.includes(value), `${query}: the message names ${name}=${value}: ${r.json.message}`);
  }
});

test('screenshots of each view', async () => {
  await freeze(consolePage, true);
  await consolePage.evaluate(() => scrollTo(0, 0));
  await consolePage.screenshot({ path: `${SHOTS}/console-overview.png` });
  await shot(consolePage, '#outcomes', `${SHOTS}/console-outcomes.png`);
  await shot(consolePage, '#deadman', `${SHOTS}/console-deadman.png`);
  await shot(consolePage, '#sla', `${SHOTS}/console-sla.png`);
  await consolePage.screenshot({ path: `${SHOTS}/console-full.png`, fullPage: true });
  await freeze(consolePage, false);
  await statusPage.screenshot({ path: `${SHOTS}/status-now.png`, fullPage: true });
});

test('no script error and no CSP violation in either page', () => {
  assert.deepEqual(pageErrors, []);
});
