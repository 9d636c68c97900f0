// The watch's operator console (issue 13): outcome rules as time series with their anomaly band,
// thresholds, deploys and firing periods, a drill-down by surface and tenant, the dead-man rules,
// the alerts with their diagnosis and delivery, and the SLAs' error budget. Plain ES2020, no build
// step, served by the watch under a strict Content Security Policy: no inline script or style, and
// every value from the API reaches the DOM through textContent or an attribute, never as markup.
//
// Live: one EventSource on /api/events (`event: state`, the /api/state JSON), no polling loop. A
// rule's history (/api/history) is fetched when its panel scrolls into view, when the range changes
// and when a window closes; charts exist only for panels near the viewport, so 500 rules cost 500
// small headers and a handful of charts.
'use strict';

(() => {
  const RANGES = ['15m', '1h', '6h', '24h', '7d'];
  const MAX_CHARTS = 40; // live uPlot instances kept; the least recently visible ones are dropped
  const FETCHES_AT_ONCE = 4;
  const CHART_HEIGHT = 200;
  const COLORS = {
    ok: '#1a7f37',
    fail: '#cf222e',
    expected: '#57606a',
    band: 'rgba(84, 174, 255, 0.22)',
    ratio: '#8250df',
    floor: '#9a6700',
    partial: '#0969da',
    firing: 'rgba(207, 34, 46, 0.12)',
    deploy: '#0550ae',
    down: 'rgba(207, 34, 46, 0.14)',
    groups: ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#9a6700', '#bf3989', '#1b7c83', '#953800', '#57606a', '#6639ba'],
  };

  // ----- small helpers -----

  const $ = (id) => document.getElementById(id);

  /** An element: `props` sets className (`class`), text, attributes and listeners (`on*`). */
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids) {
      if (kid === undefined || kid === null || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  function setText(node, text) {
    const s = String(text);
    if (node.textContent !== s) node.textContent = s;
  }

  function setAttr(node, name, value) {
    const s = String(value);
    if (node.getAttribute(name) !== s) node.setAttribute(name, s);
  }

  // Intl formatters are built once: building one per call costs more than the rest of an update.
  const NUMBER = [0, 1, 2, 3].map((d) => new Intl.NumberFormat('en', { maximumFractionDigits: d }));
  const CLOCK = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const DAY = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit' });
  const blank = (v) => v === null || v === undefined || Number.isNaN(v);
  const num = (v, digits = 1) => (blank(v) ? '–' : NUMBER[digits].format(v));
  const pct = (r, digits = 2) => (blank(r) ? '–' : `${(r * 100).toFixed(digits).replace(/\.?0+$/, '')}%`);

  function time(ms) {
    if (blank(ms)) return '–';
    const day = DAY.format(ms);
    return day === DAY.format(Date.now()) ? CLOCK.format(ms) : `${day} ${CLOCK.format(ms)}`;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    const s = Math.round(ms / 1000);
    if (Math.abs(s) < 120) return `${s}s`;
    const m = Math.round(s / 60);
    if (Math.abs(m) < 120) return `${m}m`;
    const h = Math.round(m / 6) / 10;
    if (Math.abs(h) < 48) return `${h}h`;
    return `${Math.round(h / 2.4) / 10}d`;
  }

  const words = (s) => String(s ?? '').replace(/_/g, ' ');

  /** Only http(s) links become hrefs. */
  function safeUrl(u) {
    try {
      const url = new URL(String(u), location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch {
      return null;
    }
  }

  // ----- what the tests and the benchmark read -----

  const probe = {
    started: performance.now(),
    firstSnapshotMs: null,
    firstChartsMs: null,
    applies: 0,
    events: 0, // state events handled
    lastEventMs: null, // the last one's parse and apply
    lastApplyMs: null,
    maxApplyMs: 0,
    snapshotBytes: 0,
    seen: {}, // `${alert id}|${status}` -> Date.now() when it was first shown
    frozen: false, // set by screenshot scripts: state events are counted but not applied
    charts: () => charts.size,
    /** A live chart's points and x range (seconds), or null. */
    chartInfo: (kind, name) => {
      const p = (kind === 'deadman' ? S.deadman : kind === 'sla' ? S.sla : S.outcomes).get(name);
      const u = p && p.chart;
      return u ? { points: u.data[0].length, xMin: u.scales.x.min, xMax: u.scales.x.max, history: p.data && p.data.t ? p.data.t.length : null, dataFrom: p.data && p.data.from_ms / 1000, refreshes: p.refreshes } : null;
    },
    /** The labels of the series of a rule's (or an SLA's) live uPlot chart, or null. */
    seriesOf: (kind, name) => {
      const p = (kind === 'deadman' ? S.deadman : kind === 'sla' ? S.sla : S.outcomes).get(name);
      return p && p.chart ? p.chart.series.slice(1).map((x) => x.label) : null;
    },
    connection: () => $('conn').dataset.state,
  };
  window.heartbeatConsole = probe;

  // ----- the API -----

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  let active = 0;
  const waiting = [];
  async function slot(f) {
    if (active >= FETCHES_AT_ONCE) await new Promise((r) => waiting.push(r));
    active++;
    try {
      return await f();
    } finally {
      active--;
      waiting.shift()?.();
    }
  }

  async function api(path) {
    return slot(async () => {
      for (let attempt = 0; ; attempt++) {
        const r = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
        if (r.status === 401) {
          showLogin();
          throw new HttpError(401, 'an access token is needed');
        }
        if (r.status === 429 && attempt < 3) {
          const after = Math.min(Number(r.headers.get('Retry-After')) || 1, 5);
          await new Promise((res) => setTimeout(res, after * 1000));
          continue;
        }
        if (!r.ok) {
          const body = await r.json().catch(() => null);
          throw new HttpError(r.status, (body && body.message) || `${path}: HTTP ${r.status}`);
        }
        return r.json();
      }
    });
  }

  function problem(text) {
    const p = $('problem');
    if (!text) {
      p.hidden = true;
      return;
    }
    setText(p, text);
    p.hidden = false;
  }

  // ----- state -----

  const S = {
    // The selector's ranges, or any duration the API takes in the address (`#range=90s`).
    range: (() => {
      const r = new URLSearchParams(location.hash.slice(1)).get('range');
      return r && (RANGES.includes(r) || /^[0-9]{1,6}(s|m|h|d)$/.test(r)) ? r : '6h';
    })(),
    snap: null,
    outcomes: new Map(), // rule -> panel
    deadman: new Map(),
    sla: new Map(),
    drill: null, // { rule, key }
    alertsKey: '',
    es: null,
    retry: 0,
    retryTimer: null,
  };

  const charts = new Map(); // panel -> uPlot, in order of last visibility

  // ----- connection -----

  function setConn(stateName, text) {
    const c = $('conn');
    c.dataset.state = stateName;
    setText($('conn-text'), text || stateName);
  }

  function connect() {
    clearTimeout(S.retryTimer);
    if (S.es) S.es.close();
    setConn('connecting');
    const es = new EventSource('/api/events');
    S.es = es;
    es.addEventListener('open', () => {
      S.retry = 0;
      setConn('live');
    });
    es.addEventListener('state', (e) => {
      const t0 = performance.now();
      let snap;
      try {
        snap = JSON.parse(e.data);
      } catch {
        problem('The watch sent an update that is not JSON.');
        return;
      }
      probe.snapshotBytes = e.data.length;
      setConn('live');
      if (probe.frozen) return;
      apply(snap);
      probe.lastEventMs = performance.now() - t0;
      probe.events++;
    });
    es.addEventListener('error', () => {
      if (es !== S.es) return;
      if (es.readyState === EventSource.CONNECTING) {
        setConn('reconnecting');
        return;
      }
      // Closed: refused (401, 404) or the server is gone. Ask /api/state why, then retry.
      setConn('reconnecting', 'reconnecting');
      es.close();
      api('/api/state')
        .then((snap) => apply(snap))
        .catch((err) => {
          if (err.status === 401) setConn('offline', 'signed out');
        })
        .finally(() => {
          if ($('login').hidden) {
            S.retry = Math.min(S.retry + 1, 5);
            S.retryTimer = setTimeout(connect, 1000 * 2 ** S.retry);
          }
        });
    });
  }

  // ----- login -----

  function showLogin() {
    if (!$('login').hidden) return;
    $('login').hidden = false;
    if (S.es) S.es.close();
    setConn('offline', 'signed out');
    $('token').focus();
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('token').value;
    setText($('login-error'), '');
    try {
      const r = await fetch('/api/login', { method: 'POST', body: new URLSearchParams({ token }), credentials: 'same-origin' });
      if (!r.ok) {
        const body = await r.json().catch(() => null);
        setText($('login-error'), `Sign-in failed: ${(body && body.message) || `HTTP ${r.status}`}`);
        return;
      }
    } catch (err) {
      setText($('login-error'), `Sign-in failed: ${err.message}`);
      return;
    }
    $('token').value = '';
    $('login').hidden = true;
    for (const p of allPanels()) p.stale = true;
    connect();
  });

  // ----- the snapshot -----

  function apply(snap) {
    const t0 = performance.now();
    S.snap = snap;
    problem(null);
    renderSummary(snap);
    renderAlerts(snap);
    syncOutcomes(snap.outcomes || []);
    syncDeadman(snap.deadman || []);
    syncSla(snap.sla || []);
    if (S.drill) refreshDrillIfClosed(snap);
    const took = performance.now() - t0;
    probe.applies++;
    probe.lastApplyMs = took;
    probe.maxApplyMs = Math.max(probe.maxApplyMs, took);
    if (probe.firstSnapshotMs === null) {
      probe.firstSnapshotMs = performance.now();
      document.body.dataset.ready = 'snapshot';
      // With no panel in view there is no chart to wait for: the first render is done.
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          if (probe.firstChartsMs === null && visible.size === 0) {
            probe.firstChartsMs = performance.now();
            document.body.dataset.ready = 'charts';
          }
        }),
      );
    }
  }

  function renderSummary(snap) {
    const list = $('summary-list');
    const count = (xs, f) => xs.filter(f).length;
    const outcomes = snap.outcomes || [];
    const dead = snap.deadman || [];
    const open = (snap.open_alerts || []).length;
    const items = [
      ['Open alerts', String(open), open ? 'bad' : 'ok'],
      ['Outcome rules', `${outcomes.length} (${count(outcomes, (o) => o.state === 'firing')} firing, ${count(outcomes, (o) => o.state === 'ok')} ok)`, ''],
      ['Dead-man rules', `${dead.length} (${count(dead, (d) => d.state === 'firing')} firing)`, ''],
      ['SLAs', `${(snap.sla || []).length} (${count(snap.sla || [], (s) => !s.met)} below objective)`, ''],
      ['Tick', duration(snap.tick_ms), ''],
      ['Updated', time(snap.now_ms), ''],
    ];
    if (list.children.length !== items.length) {
      list.replaceChildren(...items.map(() => el('li', null, el('span', { class: 'k' }), ' ', el('span', { class: 'v' }))));
    }
    items.forEach(([k, v, cls], i) => {
      const li = list.children[i];
      setText(li.firstChild, `${k}:`);
      setText(li.lastChild, v);
      li.className = cls;
    });
  }

  // ----- alerts -----

  function renderAlerts(snap) {
    const open = snap.open_alerts || [];
    const recent = (snap.recent_alerts || []).slice(0, 50);
    const key = JSON.stringify([open, recent.map((a) => [a.id, a.status, a.resolved_ms])]);
    if (key === S.alertsKey) return;
    const before = S.alertsKey;
    S.alertsKey = key;
    drawAlerts(open, recent);
    // /api/alerts adds the delivery state of recent alerts too; fetch it when the list changed.
    if (before !== '' || recent.length) {
      api('/api/alerts')
        .then((a) => {
          if (S.alertsKey !== key) return;
          const byId = new Map([...(a.open || []), ...(a.recent || [])].map((x) => [`${x.id}|${x.status}`, x]));
          const merge = (x) => {
            const y = byId.get(`${x.id}|${x.status}`);
            return y && y.delivery && !(x.delivery && x.delivery.length) ? { ...x, delivery: y.delivery } : x;
          };
          drawAlerts(open.map(merge), recent.map(merge));
        })
        .catch(() => {});
    }
  }

  function drawAlerts(open, recent) {
    const fill = (box, title, alerts, expanded) => {
      const kids = [el('h3', { text: title })];
      if (!alerts.length) kids.push(el('p', { class: 'empty', text: 'None.' }));
      else kids.push(el('ul', { class: 'alert-list' }, ...alerts.map((a) => el('li', null, alertCard(a, expanded)))));
      box.replaceChildren(...kids);
    };
    fill($('alerts-open'), `Open (${open.length})`, open, open.length <= 3);
    fill($('alerts-recent'), `Recent (${recent.length})`, recent, false);
    const now = Date.now();
    for (const a of [...open, ...recent]) {
      const k = `${a.id}|${a.status}`;
      if (!(k in probe.seen)) probe.seen[k] = now;
    }
  }

  function alertCard(a, expanded) {
    const id = `alert-${String(a.id).replace(/[^A-Za-z0-9_-]/g, '_')}-${a.status}`;
    const facts = el(
      'dl',
      { class: 'facts-grid' },
      ...dl([
        ['Status', a.status],
        ['Severity', a.severity],
        ['Classification', words(a.classification)],
        ['Since', time(a.since_ms)],
        a.resolved_ms ? ['Resolved', `${time(a.resolved_ms)} (after ${duration(a.resolved_ms - a.since_ms)})`] : null,
        a.service ? ['Service', a.service] : null,
        ['Signal', a.signal],
        a.conditions && a.conditions.length ? ['Conditions', a.conditions.join('; ')] : null,
      ]),
    );
    const body = [facts];
    if (a.details && a.details.length) body.push(el('h5', { text: 'Diagnosis' }), el('ul', null, ...a.details.map((d) => el('li', { text: d }))));
    if (a.tenants && a.tenants.length) body.push(contributors('Tenants carrying the drop', 'Tenant', a.tenants));
    if (a.attributes && a.attributes.length) body.push(contributors('Attribute values carrying the drop', 'Value', a.attributes));
    if (a.deploys && a.deploys.length) {
      body.push(
        el('h5', { text: 'Deploys before the start' }),
        el('ul', null, ...a.deploys.map((d) => el('li', { text: `${d.service}: ${d.from} → ${d.to} at ${time(d.at_ms)} (${duration(d.before_start_ms)} before the start)` }))),
      );
    }
    if (a.actions && a.actions.length) body.push(el('h5', { text: 'Suggested actions' }), el('ol', null, ...a.actions.map((x) => el('li', { text: x }))));
    const runbook = a.runbook_url && safeUrl(a.runbook_url);
    if (runbook) body.push(el('p', null, el('a', { href: runbook, rel: 'noopener noreferrer', target: '_blank', text: `Runbook for ${a.rule}` })));
    else if (a.runbook_url) body.push(el('p', { text: `Runbook: ${a.runbook_url}` }));
    if (a.sop) body.push(el('p', null, el('strong', { text: 'Procedure: ' }), a.sop));
    if (a.actions_taken && a.actions_taken.length) {
      body.push(
        el('h5', { text: 'Actions run' }),
        el(
          'ul',
          { class: 'actions-taken' },
          ...a.actions_taken.map((r) =>
            el(
              'li',
              { 'data-ok': r.ok ? 'true' : 'false' },
              el('span', { class: `badge ${r.skipped ? 'muted' : r.ok ? 'ok' : 'bad'}`, text: r.skipped ? 'skipped' : r.ok ? (r.dry_run ? 'dry run' : 'done') : 'failed' }),
              ` ${r.action} (${words(r.kind)}) at ${time(r.at_ms)}: ${r.skipped || r.summary}`,
            ),
          ),
        ),
      );
    }
    if (a.incident) {
      const url = a.incident.url && safeUrl(a.incident.url);
      body.push(el('p', null, 'Incident ', url ? el('a', { href: url, rel: 'noopener noreferrer', target: '_blank', text: a.incident.id }) : a.incident.id, ` (opened by ${a.incident.action})`));
    }
    if (a.delivery && a.delivery.length) {
      body.push(
        el('h5', { text: 'Delivery' }),
        table(
          ['Sink', 'Event', 'State', 'Attempts', 'When', 'Last error'],
          a.delivery.map((d) => [
            d.sink,
            d.event,
            { text: words(d.state), class: `badge ${d.state === 'delivered' ? 'ok' : d.state === 'given_up' ? 'bad' : 'warn'}` },
            String(d.attempts),
            d.delivered_ms ? `delivered ${time(d.delivered_ms)}` : d.next_attempt_ms ? `next try ${time(d.next_attempt_ms)}` : '–',
            d.last_error || '',
          ]),
          'delivery',
        ),
      );
    }
    const details = el('details', { open: expanded || undefined }, el('summary', null, 'Diagnosis, actions and delivery'), ...body);
    return el(
      'article',
      { class: `alert ${a.status}`, 'data-alert-id': a.id, 'data-rule': a.rule, 'data-status': a.status, 'aria-labelledby': id },
      el('h4', { id }, el('span', { class: `badge ${a.status === 'firing' ? 'bad' : 'ok'}`, text: a.status }), ` ${a.rule}: ${words(a.classification)}`),
      el('p', { class: 'alert-summary', text: a.summary }),
      details,
    );
  }

  function dl(rows) {
    const out = [];
    for (const r of rows) if (r) out.push(el('dt', { text: r[0] }), el('dd', { text: r[1] ?? '–' }));
    return out;
  }

  function contributors(title, what, xs) {
    return el(
      'div',
      null,
      el('h5', { text: title }),
      table(
        [what, 'Share of the drop', 'Share of traffic', 'Success ratio', 'Usual'],
        xs.map((c) => [c.value, pct(c.share_of_drop, 1), pct(c.share_of_traffic, 1), pct(c.success_ratio), pct(c.usual_success_ratio)]),
        'contributors',
      ),
    );
  }

  /** A table; a cell is a string or `{text, class}`. */
  function table(head, rows, cls) {
    return el(
      'table',
      { class: cls },
      el('thead', null, el('tr', null, ...head.map((h) => el('th', { scope: 'col', text: h })))),
      el(
        'tbody',
        null,
        ...rows.map((r) =>
          el(
            'tr',
            null,
            ...r.map((c, i) => {
              const cell = typeof c === 'object' && c !== null ? el('span', { class: c.class, text: c.text }) : c;
              return i === 0 ? el('th', { scope: 'row' }, cell) : el('td', null, cell);
            }),
          ),
        ),
      ),
    );
  }

  // ----- panels, lazily charted -----

  const visible = new Set();
  const io = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        const p = e.target.__panel;
        if (!p) continue;
        if (e.isIntersecting) {
          visible.add(p);
          if (charts.has(p)) {
            charts.delete(p); // most recently visible last
            charts.set(p, p.chart);
          }
          if (p.stale || !p.chart) refresh(p);
        } else {
          visible.delete(p);
        }
      }
    },
    { rootMargin: '300px 0px' },
  );

  function allPanels() {
    return [...S.outcomes.values(), ...S.deadman.values(), ...S.sla.values()];
  }

  /** Fetches the panel's data and draws it (once at a time per panel). */
  async function refresh(p) {
    if (p.loading) {
      p.again = true;
      return;
    }
    p.loading = true;
    p.stale = false;
    p.refreshes = (p.refreshes || 0) + 1;
    try {
      const data = await api(p.url());
      p.data = data;
      draw(p);
      p.error = null;
    } catch (err) {
      p.error = err;
      setText(p.note, err.status === 404 ? 'No history endpoint on this watch yet.' : `Could not load the chart: ${err.message}`);
    } finally {
      p.loading = false;
      if (p.again) {
        p.again = false;
        if (visible.has(p)) refresh(p);
        else p.stale = true;
      }
      if (probe.firstChartsMs === null && [...visible].every((v) => v.chart || v.error) && visible.size) {
        probe.firstChartsMs = performance.now();
        document.body.dataset.ready = 'charts';
      }
    }
  }

  function draw(p) {
    const { opts, data } = p.build(p.data, p.chartBox.clientWidth || 600);
    // A fixed time range (the selected range, not the data's) through a range function reading
    // p.xr: uPlot applies a static range array over any later setScale.
    const x = opts.scales && opts.scales.x;
    p.xr = x && x.fixed;
    if (p.xr) {
      delete x.fixed;
      x.range = (u, min, max) => p.xr || [min, max];
    }
    if (p.chart && p.chartShape === opts.series.map((s) => s.label).join('|')) {
      p.chart.__marks = opts.__marks;
      p.chart.setData(data, true);
    } else {
      if (p.chart) p.chart.destroy();
      p.chart = new uPlot(opts, data, p.chartBox);
      p.chart.__marks = opts.__marks;
      p.chartShape = opts.series.map((s) => s.label).join('|');
    }
    charts.delete(p);
    charts.set(p, p.chart);
    const labels = opts.series.slice(1).map((s) => s.label);
    setAttr(p.chartBox, 'data-series', labels.join(','));
    setAttr(p.chartBox, 'data-series-count', labels.length);
    setAttr(p.chartBox, 'data-points', data[0].length);
    p.describe?.(p.data);
    evict();
  }

  function evict() {
    for (const [p] of charts) {
      if (charts.size <= MAX_CHARTS) break;
      if (visible.has(p)) continue;
      p.chart.destroy();
      p.chart = null;
      p.chartShape = null;
      charts.delete(p);
    }
  }

  let resizeTimer;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [p, u] of charts) {
        const w = p.chartBox.clientWidth;
        if (w && Math.abs(w - u.width) > 4) u.setSize({ width: w, height: CHART_HEIGHT });
      }
    }, 150);
  }).observe(document.body);

  // Marks on a chart: firing periods and down periods shaded under the series, deploys as vertical
  // lines, the window in progress hatched and labelled.
  const marksPlugin = {
    hooks: {
      drawClear: (u) => {
        const m = u.__marks;
        if (!m) return;
        const { ctx, bbox } = u;
        ctx.save();
        for (const span of m.shade || []) {
          const x0 = Math.max(bbox.left, u.valToPos(span.from / 1000, 'x', true));
          const x1 = Math.min(bbox.left + bbox.width, u.valToPos((span.to ?? u.scales.x.max * 1000) / 1000, 'x', true));
          if (x1 <= x0) continue;
          ctx.fillStyle = span.color;
          ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
        }
        ctx.restore();
      },
      draw: (u) => {
        const m = u.__marks;
        if (!m) return;
        const { ctx, bbox } = u;
        const px = devicePixelRatio || 1;
        ctx.save();
        ctx.setLineDash([]);
        ctx.font = `${11 * px}px system-ui, sans-serif`;
        if (m.partial) {
          const x0 = u.valToPos(m.partial.from / 1000, 'x', true);
          const x1 = Math.min(bbox.left + bbox.width, u.valToPos(m.partial.to / 1000, 'x', true));
          if (x1 > x0) {
            ctx.strokeStyle = COLORS.partial;
            ctx.setLineDash([4 * px, 3 * px]);
            ctx.lineWidth = px;
            ctx.strokeRect(x0, bbox.top, x1 - x0, bbox.height);
            ctx.setLineDash([]);
            ctx.fillStyle = COLORS.partial;
            ctx.textAlign = 'right';
            ctx.fillText('partial', x1 - 3 * px, bbox.top + 12 * px);
          }
        }
        for (const [i, d] of (m.deploys || []).entries()) {
          const x = u.valToPos(d.at_ms / 1000, 'x', true);
          if (x < bbox.left || x > bbox.left + bbox.width) continue;
          ctx.strokeStyle = COLORS.deploy;
          ctx.lineWidth = 2 * px;
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          ctx.fillStyle = COLORS.deploy;
          ctx.textAlign = 'left';
          ctx.fillText(d.version, x + 3 * px, bbox.top + bbox.height - (4 + 13 * (i % 3)) * px);
        }
        ctx.restore();
      },
    },
  };

  const perMinute = (v, windowMs) => (v === null || v === undefined ? null : (v * 60000) / windowMs);

  // Time axis labels: the clock within a day, the date and clock beyond.
  const SHORT_CLOCK = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const SHORT_DAY = new Intl.DateTimeFormat('en-GB', { month: 'short', day: 'numeric' });
  const xAxis = () => ({
    space: 70,
    values: (u, splits) => {
      const span = (u.scales.x.max - u.scales.x.min) * 1000;
      return splits.map((v) => {
        const ms = v * 1000;
        if (span > 2 * 86400e3) return `${SHORT_DAY.format(ms)} ${SHORT_CLOCK.format(ms)}`;
        return span > 600e3 ? SHORT_CLOCK.format(ms) : CLOCK.format(ms);
      });
    },
  });

  function baseOpts(width, title, extra) {
    return {
      width,
      height: CHART_HEIGHT,
      title: undefined,
      plugins: [marksPlugin],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true } },
      ...extra,
    };
  }

  // ----- outcome rules -----

  function outcomeChart(h, width, snapPartial, noPartial) {
    const w = h.window_ms;
    const xs = h.t.map((ms) => ms / 1000);
    const n = xs.length;
    const partial = noPartial ? null : snapPartial || h.partial;
    const hasBand = (h.lo || []).some((v) => v !== null) && (h.hi || []).some((v) => v !== null);
    const hasExpected = (h.expected || []).some((v) => v !== null);
    const th = h.thresholds || {};
    const withPartial = partial && (!n || partial.start_ms > h.t[n - 1]);
    const x = withPartial ? [...xs, partial.start_ms / 1000] : xs;
    const pad = (arr) => (withPartial ? [...arr, null] : arr);
    const series = [{}];
    const data = [x];
    const add = (s, values) => {
      series.push(s);
      data.push(values);
    };
    add({ label: 'successes/min', stroke: COLORS.ok, width: 2, scale: 'rate' }, pad(h.successes.map((v) => perMinute(v, w))));
    add({ label: 'failures/min', stroke: COLORS.fail, width: 2, scale: 'rate' }, pad(h.failures.map((v) => perMinute(v, w))));
    const bands = [];
    if (hasBand) {
      add({ label: 'band high', stroke: 'rgba(84,174,255,0.6)', width: 1, scale: 'rate' }, pad(h.hi.map((v) => perMinute(v, w))));
      add({ label: 'band low', stroke: 'rgba(84,174,255,0.6)', width: 1, scale: 'rate' }, pad(h.lo.map((v) => perMinute(v, w))));
      bands.push({ series: [series.length - 2, series.length - 1], fill: COLORS.band });
    }
    if (hasExpected) add({ label: 'expected/min', stroke: COLORS.expected, width: 1, dash: [6, 4], scale: 'rate' }, pad(h.expected.map((v) => perMinute(v, w))));
    add(
      { label: 'success ratio', stroke: COLORS.ratio, width: 1, scale: 'ratio', value: (u, v) => pct(v) },
      pad(h.successes.map((s, i) => (s + h.failures[i] > 0 ? s / (s + h.failures[i]) : null))),
    );
    if (th.min_success_ratio !== null && th.min_success_ratio !== undefined) {
      add({ label: 'ratio floor', stroke: COLORS.floor, width: 1, dash: [3, 3], scale: 'ratio', points: { show: false }, value: (u, v) => pct(v) }, x.map(() => th.min_success_ratio));
    }
    if (th.min_rate_per_minute !== null && th.min_rate_per_minute !== undefined) {
      add({ label: 'rate floor/min', stroke: COLORS.floor, width: 1, dash: [8, 3], scale: 'rate', points: { show: false } }, x.map(() => th.min_rate_per_minute));
    }
    if (withPartial) {
      const last = (arr) => (n ? perMinute(arr[n - 1], w) : null);
      const pts = (so, lastClosed) => [...new Array(Math.max(n - 1, 0)).fill(null), ...(n ? [lastClosed] : []), perMinute(so, w)];
      add({ label: 'successes so far (partial)', stroke: COLORS.partial, width: 1, dash: [2, 3], scale: 'rate', points: { show: true, size: 7 } }, pts(partial.successes, last(h.successes)));
      add({ label: 'failures so far (partial)', stroke: COLORS.fail, width: 1, dash: [2, 3], scale: 'rate', points: { show: true, size: 7 } }, pts(partial.failures, last(h.failures)));
    }
    const endMs = Math.max(h.to_ms, withPartial ? partial.start_ms + w : 0);
    const opts = baseOpts(width, h.rule, {
      series,
      bands,
      scales: { x: { time: true, fixed: [h.from_ms / 1000, endMs / 1000] }, rate: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] }, ratio: { range: [0, 1] } },
      axes: [
        xAxis(),
        { scale: 'rate', label: 'per minute', size: 56 },
        { scale: 'ratio', side: 1, label: 'success ratio', grid: { show: false }, values: (u, vs) => vs.map((v) => `${Math.round(v * 100)}%`), size: 56 },
      ],
    });
    opts.__marks = {
      shade: (h.firing || []).map((f) => ({ from: f.from_ms, to: f.to_ms, color: COLORS.firing })),
      deploys: (h.deploys || []).map((d) => ({ at_ms: d.at_ms, version: d.version })),
      partial: withPartial ? { from: partial.start_ms, to: partial.start_ms + w } : null,
    };
    return { opts, data };
  }

  function outcomePanel(o) {
    const id = `rule-${S.outcomes.size}`;
    const name = el('button', { type: 'button', class: 'rule-link', 'aria-controls': 'drill', title: `Drill down into ${o.rule} by surface and tenant` }, o.rule);
    const badge = el('span', { class: 'badge' });
    const facts = el('p', { class: 'facts' });
    const partial = el('p', { class: 'partial' });
    const chartBox = el('div', { class: 'chart' });
    const marks = el('p', { class: 'marks muted' });
    const note = el('p', { class: 'note muted', 'aria-live': 'polite' });
    const root = el(
      'article',
      { class: 'panel outcome', 'data-rule': o.rule, 'aria-labelledby': id },
      el('header', null, el('h3', { id }, name), badge),
      facts,
      partial,
      el('figure', { class: 'chart-fig' }, chartBox, el('figcaption', { class: 'visually-hidden', text: `${o.rule}: successes and failures per minute, expected band, thresholds, deploys and firing periods` })),
      marks,
      note,
    );
    const p = {
      kind: 'outcome',
      rule: o.rule,
      root,
      badge,
      facts,
      partialLine: partial,
      chartBox,
      note,
      stale: true,
      url: () => `/api/history?rule=${encodeURIComponent(p.rule)}&range=${encodeURIComponent(S.range)}`,
      build: (h, width) => outcomeChart(h, width, p.view && p.view.partial),
      describe: (h) => {
        const parts = [];
        const deploys = h.deploys || [];
        const firing = h.firing || [];
        parts.push(`${h.t.length} windows of ${duration(h.window_ms)}`);
        if (deploys.length) parts.push(`deploys: ${deploys.map((d) => `${d.service} ${d.previous ? `${d.previous} → ` : ''}${d.version} at ${time(d.at_ms)}`).join(', ')}`);
        if (firing.length) parts.push(`firing: ${firing.map((f) => `${time(f.from_ms)}–${f.to_ms ? time(f.to_ms) : 'now'} (${words(f.classification)})`).join(', ')}`);
        setText(marks, parts.join(' · '));
        setAttr(chartBox, 'data-deploys', deploys.length);
        setAttr(chartBox, 'data-firing', firing.length);
        setText(note, '');
      },
    };
    name.addEventListener('click', () => openDrill(p.rule));
    root.__panel = p;
    io.observe(root);
    return p;
  }

  function syncOutcomes(list) {
    const box = $('outcome-panels');
    const names = new Set();
    let added = false;
    const frag = document.createDocumentFragment();
    for (const o of list) {
      names.add(o.rule);
      let p = S.outcomes.get(o.rule);
      if (!p) {
        p = outcomePanel(o);
        S.outcomes.set(o.rule, p);
        frag.append(p.root);
        added = true;
      }
      updateOutcome(p, o);
    }
    if (added) box.append(frag);
    box.classList.toggle('many', S.outcomes.size > 40);
    for (const [rule, p] of S.outcomes) {
      if (names.has(rule)) continue;
      io.unobserve(p.root);
      p.root.remove();
      p.chart?.destroy();
      charts.delete(p);
      visible.delete(p);
      S.outcomes.delete(rule);
    }
    applyFilter();
  }

  const STATE_CLASS = { ok: 'ok', firing: 'bad', pending: 'warn', warming: 'muted', no_data: 'warn', stopped: 'muted' };

  function updateOutcome(p, o) {
    const prev = p.view;
    p.view = o;
    setText(p.badge, words(o.state));
    p.badge.className = `badge ${STATE_CLASS[o.state] || 'muted'}`;
    setAttr(p.root, 'data-state', o.state);
    const cls = o.classification ? ` · ${words(o.classification)}` : '';
    setText(
      p.facts,
      `${o.outcome} · window ${duration(o.window_ms)} · last window${o.last_window_partial ? ' (began before the watch started: partial, not judged)' : ''}: ${num(o.successes, 0)} ok, ${num(o.failures, 0)} failed (${pct(o.success_ratio)}), ${num(o.rate_per_minute)}/min${o.seen ? '' : ' · never matched'}${cls}`,
    );
    if (o.partial) {
      setText(p.partialLine, `In progress (partial) since ${time(o.partial.start_ms)}: ${num(o.partial.successes, 0)} ok, ${num(o.partial.failures, 0)} failed so far`);
      p.partialLine.hidden = false;
    } else {
      p.partialLine.hidden = true;
    }
    // A window closed: the history has a new point. Otherwise only the partial point moved.
    const closedKey = (v) => (v ? `${v.partial ? v.partial.start_ms : ''}|${v.successes}|${v.failures}|${v.state}` : '');
    if (closedKey(prev) !== closedKey(o)) {
      p.stale = true;
      if (visible.has(p)) refresh(p);
    } else if (p.chart && p.data && o.partial && (!prev || !prev.partial || prev.partial.successes !== o.partial.successes || prev.partial.failures !== o.partial.failures)) {
      draw(p);
    }
  }

  function applyFilter() {
    const q = $('rule-filter').value.trim().toLowerCase();
    const onlyBad = $('only-bad').checked;
    let shown = 0;
    for (const p of S.outcomes.values()) {
      const v = p.view || {};
      const hit = (!q || p.rule.toLowerCase().includes(q) || String(v.outcome || '').toLowerCase().includes(q)) && (!onlyBad || (v.state !== 'ok' && v.state !== 'warming'));
      if (p.root.hidden === hit) p.root.hidden = !hit;
      if (hit) shown++;
    }
    setText($('rule-count'), `${shown} of ${S.outcomes.size} rules shown`);
  }
  $('rule-filter').addEventListener('input', applyFilter);
  $('only-bad').addEventListener('change', applyFilter);

  // ----- drill-down -----

  function groupChart(h, width, what) {
    const groups = (h.groups || []).slice(0, COLORS.groups.length);
    const xs = h.t.map((ms) => ms / 1000);
    const series = [{}];
    const data = [xs];
    groups.forEach((g, i) => {
      series.push({ label: g.key, stroke: COLORS.groups[i], width: 2, scale: 'ratio', value: (u, v) => pct(v) });
      data.push(g.successes.map((s, j) => (s + g.failures[j] > 0 ? s / (s + g.failures[j]) : null)));
    });
    const th = h.thresholds || {};
    if (th.min_success_ratio !== null && th.min_success_ratio !== undefined) {
      series.push({ label: 'ratio floor', stroke: COLORS.floor, width: 1, dash: [3, 3], scale: 'ratio', points: { show: false }, value: (u, v) => pct(v) });
      data.push(xs.map(() => th.min_success_ratio));
    }
    const opts = baseOpts(width, `${h.rule} by ${what}`, {
      series,
      scales: { x: { time: true, fixed: [h.from_ms / 1000, h.to_ms / 1000] }, ratio: { range: [0, 1] } },
      axes: [xAxis(), { scale: 'ratio', label: `success ratio by ${what}`, values: (u, vs) => vs.map((v) => `${Math.round(v * 100)}%`), size: 56 }],
    });
    opts.__marks = {
      shade: (h.firing || []).map((f) => ({ from: f.from_ms, to: f.to_ms, color: COLORS.firing })),
      deploys: (h.deploys || []).map((d) => ({ at_ms: d.at_ms, version: d.version })),
    };
    return { opts, data };
  }

  function drillPanel(by, chartBox, tableEl) {
    const p = {
      kind: 'drill',
      chartBox,
      note: $('drill-note'),
      stale: true,
      url: () => `/api/history?rule=${encodeURIComponent(S.drill.rule)}&range=${encodeURIComponent(S.range)}&by=${by}`,
      build: (h, width) => groupChart(h, width, by),
      describe: (h) => {
        const rows = (h.groups || []).map((g) => {
          const s = g.successes.reduce((a, b) => a + (b || 0), 0);
          const f = g.failures.reduce((a, b) => a + (b || 0), 0);
          return { g, s, f };
        });
        const tbody = tableEl.tBodies[0];
        tbody.replaceChildren(
          ...rows.map(({ g, s, f }) =>
            el(
              'tr',
              { 'data-key': g.key, class: g.share_of_drop > 0.05 ? 'hurt' : undefined },
              el(
                'th',
                { scope: 'row' },
                by === 'tenant' ? el('button', { type: 'button', class: 'rule-link', 'aria-controls': 'drill-one-fig', title: `Chart ${g.key}'s own successes and failures`, onclick: () => openTenant(g.key) }, g.key) : g.key,
              ),
              el('td', { text: pct(g.usual_ratio) }),
              el('td', { text: pct(g.today_ratio) }),
              el('td', { text: pct(g.share_of_drop, 1) }),
              el('td', { text: num(s, 0) }),
              el('td', { text: num(f, 0) }),
            ),
          ),
        );
        if (!rows.length) tbody.replaceChildren(el('tr', null, el('td', { colspan: 6, text: `No ${by} recorded for this rule in the range.` })));
        setAttr(tableEl, 'data-rule', S.drill.rule);
        setAttr(tableEl, 'data-loaded', 'true');
      },
    };
    return p;
  }

  const drillPanels = { surface: drillPanel('surface', $('drill-surface'), $('drill-surfaces')), tenant: drillPanel('tenant', $('drill-tenant'), $('drill-tenants')) };

  // One tenant's own windows (`/api/history?tenant=`), below the split charts.
  const onePanel = {
    kind: 'drill',
    chartBox: $('drill-one'),
    note: $('drill-note'),
    url: () => `/api/history?rule=${encodeURIComponent(S.drill.rule)}&range=${encodeURIComponent(S.range)}&tenant=${encodeURIComponent(S.drill.tenant)}`,
    build: (h, width) => outcomeChart(h, width, null, true),
    describe: (h) => setText($('drill-one-cap'), `Tenant ${h.tenant || S.drill.tenant}: successes and failures per minute`),
  };

  function openTenant(key) {
    if (!S.drill) return;
    S.drill.tenant = key;
    $('drill-one-fig').hidden = false;
    setText($('drill-one-cap'), `Tenant ${key}: loading…`);
    refresh(onePanel);
  }

  function closeTenant() {
    $('drill-one-fig').hidden = true;
    onePanel.chart?.destroy();
    onePanel.chart = null;
    onePanel.chartShape = null;
    charts.delete(onePanel);
  }

  function openDrill(rule) {
    const tenant = S.drill && S.drill.rule === rule ? S.drill.tenant : null;
    S.drill = { rule, key: '', tenant };
    if (tenant) refresh(onePanel);
    else closeTenant();
    const sec = $('drill');
    sec.hidden = false;
    setText($('drill-h'), `Drill-down: ${rule}`);
    setText($('drill-note'), `Success ratio of ${rule} by surface and by tenant over the last ${S.range}; tenants ranked by their share of the drop.`);
    for (const t of [$('drill-tenants'), $('drill-surfaces')]) {
      t.removeAttribute('data-loaded');
      t.tBodies[0].replaceChildren(el('tr', null, el('td', { colspan: 6, text: 'Loading…' })));
    }
    for (const p of Object.values(drillPanels)) refresh(p);
    sec.scrollIntoView({ block: 'start' });
    $('drill-h').setAttribute('tabindex', '-1');
    $('drill-h').focus({ preventScroll: true });
  }

  function refreshDrillIfClosed(snap) {
    const o = (snap.outcomes || []).find((x) => x.rule === S.drill.rule);
    if (!o) return;
    const key = `${o.partial ? o.partial.start_ms : ''}|${o.successes}|${o.failures}`;
    if (key !== S.drill.key) {
      const first = S.drill.key === '';
      S.drill.key = key;
      if (!first) for (const p of Object.values(drillPanels)) refresh(p);
      if (!first && S.drill.tenant) refresh(onePanel);
    }
  }

  $('drill-close').addEventListener('click', () => {
    $('drill').hidden = true;
    const rule = S.drill && S.drill.rule;
    S.drill = null;
    closeTenant();
    for (const p of Object.values(drillPanels)) {
      p.chart?.destroy();
      p.chart = null;
      p.chartShape = null;
      charts.delete(p);
    }
    const back = rule && S.outcomes.get(rule);
    back?.root.querySelector('.rule-link').focus();
  });

  // ----- dead-man rules -----

  function beatStatus(d, snap) {
    const alert = (snap.open_alerts || []).find((a) => a.rule === d.rule);
    if (d.classification === 'stopped_not_restarted') return ['stopped, not restarted', 'bad'];
    if (d.state === 'stopped' || d.status === 2) return ['stopped', 'muted'];
    if (d.status === 1) {
      const reason = d.reason || d.status_reason || (alert && alert.classification === 'failing' && alert.summary);
      return [`failing${reason ? `: ${reason}` : ''}`, 'bad'];
    }
    if (d.state === 'firing') return ['not beating', 'bad'];
    if (!d.seen) return ['never seen', 'warn'];
    if (d.state === 'warming') return ['beating (warming up)', 'muted'];
    return [d.state === 'pending' ? 'beating, too few' : 'beating', d.state === 'pending' ? 'warn' : 'ok'];
  }

  function deadmanChart(h, width) {
    const emitters = (h.emitters || []).slice(0, COLORS.groups.length);
    const xs = (h.t || (emitters[0] && emitters[0].t) || []).map((ms) => ms / 1000);
    const series = [{}];
    const data = [xs];
    emitters.forEach((e, i) => {
      const byT = new Map(e.t.map((t, j) => [t / 1000, e.beats[j]]));
      series.push({ label: e.emitter, stroke: COLORS.groups[i], width: 2, paths: uPlot.paths.stepped({ align: 1 }) });
      data.push(xs.map((x) => (byT.has(x) ? byT.get(x) : null)));
    });
    if (!h.t && emitters.length > 1) {
      // Emitters' windows may differ: merge their times.
      const all = [...new Set(emitters.flatMap((e) => e.t.map((t) => t / 1000)))].sort((a, b) => a - b);
      data[0] = all;
      emitters.forEach((e, i) => {
        const byT = new Map(e.t.map((t, j) => [t / 1000, e.beats[j]]));
        data[i + 1] = all.map((x) => (byT.has(x) ? byT.get(x) : null));
      });
    }
    series.push({ label: 'min beats', stroke: COLORS.floor, width: 1, dash: [3, 3], points: { show: false } });
    data.push(data[0].map(() => h.min_beats));
    const opts = baseOpts(width, h.rule, {
      series,
      scales: { x: { time: true, fixed: [h.from_ms / 1000, h.to_ms / 1000] }, y: { range: (u, min, max) => [0, Math.max(h.min_beats * 1.5, max * 1.1, 1)] } },
      axes: [xAxis(), { label: 'beats per window', size: 56 }],
    });
    opts.__marks = { shade: (h.firing || []).map((f) => ({ from: f.from_ms, to: f.to_ms, color: COLORS.firing })) };
    return { opts, data };
  }

  function syncDeadman(list) {
    const box = $('deadman-panels');
    const names = new Set(list.map((d) => d.rule));
    for (const [rule, p] of S.deadman) {
      if (names.has(rule)) continue;
      io.unobserve(p.root);
      p.root.remove();
      p.chart?.destroy();
      charts.delete(p);
      visible.delete(p);
      S.deadman.delete(rule);
    }
    for (const d of list) {
      let p = S.deadman.get(d.rule);
      if (!p) {
        const id = `deadman-${S.deadman.size}`;
        const badge = el('span', { class: 'badge' });
        const facts = el('p', { class: 'facts' });
        const chartBox = el('div', { class: 'chart' });
        const note = el('p', { class: 'note muted', 'aria-live': 'polite' });
        const root = el(
          'article',
          { class: 'panel deadman', 'data-rule': d.rule, 'aria-labelledby': id },
          el('header', null, el('h3', { id, text: d.rule }), badge),
          facts,
          el('figure', { class: 'chart-fig' }, chartBox, el('figcaption', { class: 'visually-hidden', text: `${d.rule}: beats per window for each emitter` })),
          note,
        );
        p = {
          kind: 'deadman',
          rule: d.rule,
          root,
          badge,
          facts,
          chartBox,
          note,
          stale: true,
          url: () => `/api/history?rule=${encodeURIComponent(p.rule)}&range=${encodeURIComponent(S.range)}`,
          build: deadmanChart,
          describe: () => setText(note, ''),
        };
        root.__panel = p;
        S.deadman.set(d.rule, p);
        box.append(root);
        io.observe(root);
      }
      const [status, cls] = beatStatus(d, S.snap);
      setText(p.badge, status);
      p.badge.className = `badge ${cls}`;
      setAttr(p.root, 'data-status', status);
      setText(
        p.facts,
        `${d.service}${d.emitter ? ` / ${d.emitter}` : ''} · last window ${num(d.beats, 0)} beats (min ${d.min_beats}) per ${duration(d.window_ms)} · last beat ${d.last_beat_age_ms === null || d.last_beat_age_ms === undefined ? 'never' : `${duration(d.last_beat_age_ms)} ago`} · state ${words(d.state)}${d.classification ? ` · alert: ${words(d.classification)}` : ''}`,
      );
      const key = `${d.beats}|${d.state}|${d.status}`;
      if (p.key !== key) {
        p.key = key;
        p.stale = true;
        if (visible.has(p)) refresh(p);
      }
    }
  }

  // ----- SLAs -----

  function burnChart(b, width) {
    const xs = b.t.map((ms) => ms / 1000);
    const opts = baseOpts(width, b.sla, {
      series: [{}, { label: 'error budget left', stroke: COLORS.ratio, width: 2, fill: 'rgba(130,80,223,0.08)', value: (u, v) => pct(v, 1) }, { label: 'budget exhausted', stroke: COLORS.fail, width: 1, dash: [3, 3], points: { show: false }, value: (u, v) => pct(v, 0) }],
      scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min * 1.1), Math.max(1, max)] } },
      axes: [xAxis(), { label: 'budget left', values: (u, vs) => vs.map((v) => `${Math.round(v * 100)}%`), size: 56 }],
    });
    opts.__marks = { shade: (b.down || []).map((d) => ({ from: d.from_ms, to: d.to_ms, color: COLORS.down })) };
    return { opts, data: [xs, b.budget_left, xs.map(() => 0)] };
  }

  function syncSla(list) {
    const box = $('sla-panels');
    for (const s of list) {
      let p = S.sla.get(s.name);
      if (!p) {
        const id = `sla-${S.sla.size}`;
        const badge = el('span', { class: 'badge' });
        const facts = el('dl', { class: 'facts-grid' });
        const chartBox = el('div', { class: 'chart' });
        const down = el('div', { class: 'down' });
        const note = el('p', { class: 'note muted', 'aria-live': 'polite' });
        const root = el(
          'article',
          { class: 'panel sla', 'data-sla': s.name, 'aria-labelledby': id },
          el('header', null, el('h3', { id, text: s.name }), badge),
          facts,
          el('figure', { class: 'chart-fig' }, chartBox, el('figcaption', { class: 'visually-hidden', text: `${s.name}: error budget left over the month (burn-down)` })),
          down,
          note,
        );
        p = {
          kind: 'sla',
          name: s.name,
          root,
          badge,
          facts,
          chartBox,
          note,
          stale: true,
          url: () => `/api/sla/burn?sla=${encodeURIComponent(p.name)}`,
          build: burnChart,
          describe: (b) => {
            const left = b.budget_left.length ? b.budget_left[b.budget_left.length - 1] : null;
            p.budgetLeft = left;
            renderSlaFacts(p);
            const periods = b.down || [];
            down.replaceChildren(
              el('h4', { text: `Down periods this month (${periods.length})` }),
              periods.length
                ? el('ul', null, ...periods.slice(-20).reverse().map((d) => el('li', { text: `${time(d.from_ms)} – ${d.to_ms ? time(d.to_ms) : 'now'} (${duration((d.to_ms || Date.now()) - d.from_ms)})` })))
                : el('p', { class: 'empty', text: 'None.' }),
            );
            setText(note, '');
          },
        };
        root.__panel = p;
        S.sla.set(s.name, p);
        box.append(root);
        io.observe(root);
      }
      p.view = s;
      renderSlaFacts(p);
      const key = `${s.observed}|${s.down}|${s.unknown}`;
      if (p.key !== key) {
        p.key = key;
        p.stale = true;
        if (visible.has(p) && !p.loading) refresh(p);
      }
    }
  }

  function renderSlaFacts(p) {
    const s = p.view;
    if (!s) return;
    setText(p.badge, s.down_now ? 'down now' : s.unknown_now ? 'unknown now' : s.met ? 'meeting objective' : 'below objective');
    p.badge.className = `badge ${s.down_now || !s.met ? 'bad' : s.unknown_now ? 'warn' : 'ok'}`;
    const rows = [
      ['Availability this month', `${pct(s.availability, 3)} (objective ${pct(s.objective, 3)})`],
      ['Known slots only', pct(s.availability_known, 3)],
      ['Error budget left', p.budgetLeft === undefined || p.budgetLeft === null ? '–' : pct(p.budgetLeft, 1)],
      ['Slots', `${s.up} up, ${s.down} down, ${s.unknown} unknown of ${s.observed} (${duration(s.slot_ms)} each)`],
    ];
    const key = JSON.stringify(rows);
    if (p.factsKey === key) return;
    p.factsKey = key;
    p.facts.replaceChildren(...dl(rows));
  }

  // ----- range -----

  function setRange(r) {
    if (r === S.range) return;
    S.range = r;
    history.replaceState(null, '', `#range=${r}`);
    for (const p of [...S.outcomes.values(), ...S.deadman.values()]) {
      p.stale = true;
      if (visible.has(p)) refresh(p);
    }
    if (S.drill) openDrill(S.drill.rule);
  }

  for (const input of document.querySelectorAll('input[name="range"]')) {
    input.checked = input.value === S.range;
    input.addEventListener('change', () => input.checked && setRange(input.value));
  }

  // ----- start -----

  if (typeof uPlot !== 'function') problem('The chart library did not load (/assets/vendor/uPlot.iife.min.js).');
  connect();
})();
