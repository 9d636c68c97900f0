// The public status page (issue 13): renders /status.json (the summary format of hosted status
// pages) as an overall banner, one row per component with 90 daily uptime bars, and the current and
// past incidents. Plain ES2020 under a strict Content Security Policy; every value reaches the DOM
// through textContent or an attribute.
//
// Live: when the watch's event stream is open to this visitor (a watch without an access token),
// each evaluation tick re-reads /status.json (at most once a second); when it is not (401), the
// page re-reads /status.json once a minute instead, like hosted status pages do.
'use strict';

(() => {
  const FALLBACK_REFRESH_MS = 60000;
  const MIN_GAP_MS = 1000;
  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else e.setAttribute(k, String(v));
    }
    for (const kid of kids) if (kid !== undefined && kid !== null) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return e;
  }

  const STATUS_TEXT = {
    operational: 'Operational',
    degraded_performance: 'Degraded performance',
    partial_outage: 'Partial outage',
    major_outage: 'Major outage',
  };

  function when(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
  }

  function lasted(fromIso, toIso) {
    const ms = new Date(toIso) - new Date(fromIso);
    if (!(ms >= 0)) return '';
    const s = Math.round(ms / 1000);
    if (s < 120) return `${s} s`;
    const m = Math.round(s / 60);
    if (m < 120) return `${m} min`;
    return `${Math.round(m / 6) / 10} h`;
  }

  const pct = (u) => `${(u * 100).toFixed(3).replace(/\.?0+$/, '')}%`;

  function uptimeClass(u) {
    if (u === null || u === undefined) return 'bar';
    if (u >= 0.999) return 'bar u-full';
    if (u >= 0.99) return 'bar u-high';
    if (u >= 0.95) return 'bar u-mid';
    if (u >= 0.8) return 'bar u-low';
    return 'bar u-bad';
  }

  function component(c) {
    const days = Array.isArray(c.uptime_90d) ? c.uptime_90d : [];
    const known = days.filter((d) => d.uptime !== null && d.uptime !== undefined);
    const mean = known.length ? known.reduce((a, d) => a + d.uptime, 0) / known.length : null;
    const worst = known.reduce((w, d) => (w === null || d.uptime < w.uptime ? d : w), null);
    const summary = mean === null
      ? `${c.name}: no uptime recorded in the last 90 days`
      : `${c.name}: ${pct(mean)} uptime over ${known.length} day${known.length === 1 ? '' : 's'} with data${worst && worst.uptime < 1 ? `; lowest ${pct(worst.uptime)} on ${worst.date}` : ''}`;
    const bars = el(
      'div',
      { class: 'bars', role: 'img', 'aria-label': summary },
      ...days.map((d) => el('span', { class: uptimeClass(d.uptime), title: `${d.date}: ${d.uptime === null || d.uptime === undefined ? 'no data' : `${pct(d.uptime)} up`}`, 'data-date': d.date })),
    );
    const headId = `component-${String(c.id).replace(/[^A-Za-z0-9_-]/g, '_')}`;
    return el(
      'li',
      { class: 'component', 'data-id': c.id, 'data-status': c.status, 'aria-labelledby': headId },
      el(
        'div',
        { class: 'component-head' },
        el('h3', { id: headId, text: c.name }),
        el('span', { class: 'state', 'data-status': c.status, text: STATUS_TEXT[c.status] || c.status }),
      ),
      bars,
      el('div', { class: 'bar-foot', 'aria-hidden': 'true' }, el('span', { text: '90 days ago' }), el('span', { text: mean === null ? 'no data' : `${pct(mean)} uptime` }), el('span', { text: 'Today' })),
    );
  }

  function incident(i, names) {
    const affected = (i.components || []).map((id) => names.get(id) || id);
    const resolved = i.status === 'resolved';
    return el(
      'li',
      { class: 'incident', 'data-id': i.id, 'data-status': i.status },
      el('h3', { text: i.name }),
      el('p', { text: resolved ? `Resolved. From ${when(i.created_at)} to ${when(i.resolved_at)} (${lasted(i.created_at, i.resolved_at)}).` : `Investigating since ${when(i.created_at)}.` }),
      affected.length ? el('p', { text: `Affected: ${affected.join(', ')}` }) : null,
    );
  }

  function render(s) {
    const name = (s.page && s.page.name) || 'Service';
    $('page-name').textContent = `${name} status`;
    document.title = `${name} status`;
    $('updated').textContent = when(s.page && s.page.updated_at);
    const indicator = (s.status && s.status.indicator) || 'unknown';
    $('overall').dataset.indicator = indicator;
    $('overall-text').textContent = (s.status && s.status.description) || 'Status unknown';
    const comps = Array.isArray(s.components) ? s.components : [];
    $('component-list').replaceChildren(...(comps.length ? comps.map(component) : [el('li', { class: 'component empty', text: 'No component is published.' })]));
    const names = new Map(comps.map((c) => [c.id, c.name]));
    const incidents = Array.isArray(s.incidents) ? s.incidents : [];
    const current = incidents.filter((i) => i.status !== 'resolved');
    const past = incidents.filter((i) => i.status === 'resolved').sort((a, b) => String(b.created_at).localeCompare(String(a.created_at))).slice(0, 30);
    $('current-list').replaceChildren(...(current.length ? current.map((i) => incident(i, names)) : [el('li', { class: 'empty', text: 'No incident in progress.' })]));
    $('past-list').replaceChildren(...(past.length ? past.map((i) => incident(i, names)) : [el('li', { class: 'empty', text: 'No past incident in the last 90 days.' })]));
    document.body.dataset.ready = 'true';
  }

  let last = 0;
  let timer = null;
  let inFlight = false;
  async function load() {
    if (inFlight) return;
    inFlight = true;
    last = Date.now();
    try {
      const r = await fetch('/status.json', { headers: { Accept: 'application/json' }, cache: 'no-store' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      render(await r.json());
      $('problem').hidden = true;
    } catch (e) {
      $('problem').textContent = `The status could not be read (${e.message}); retrying.`;
      $('problem').hidden = false;
    } finally {
      inFlight = false;
    }
  }

  /** Re-reads the status, at most once per MIN_GAP_MS. */
  function soon() {
    if (timer) return;
    const wait = Math.max(0, last + MIN_GAP_MS - Date.now());
    timer = setTimeout(() => {
      timer = null;
      load();
    }, wait);
  }

  function fallback() {
    setTimeout(() => {
      load();
      fallback();
    }, FALLBACK_REFRESH_MS);
  }

  load();
  if (typeof EventSource === 'function') {
    const es = new EventSource('/api/events');
    es.addEventListener('state', soon);
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) fallback();
    });
  } else {
    fallback();
  }
})();
