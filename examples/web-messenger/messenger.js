// The messenger widget, instrumented with @heartbeat/web (served from /heartbeat/ by serve.mjs;
// an app would `import { init } from '@heartbeat/web'`).
import { init } from '/heartbeat/index.js';

const TENANT = 'acme'; // the host company: the drill-down series
const $ = (id) => document.getElementById(id);
const stats = { sent: 0, failed: 0, errors: 0 };
const show = () => ($('stats').textContent = `sent ${stats.sent} · failed ${stats.failed} · heartbeat ${beat ? beat.count : 0} beats · sdk errors ${stats.errors}`);

const collector = new URL(location.href).searchParams.get('collector');
let beat;
const hb = await init({
  endpoint: collector,
  serviceName: 'web-messenger',
  serviceVersion: '2.3.0',
  attributes: { 'deployment.environment': 'local' },
  exportIntervalMs: 2000,
  onError: (e) => {
    stats.errors++;
    console.warn('heartbeat:', e.code, e.message);
  },
});
// init() never rejects: a bad option or a blocked module gives a disabled client (its calls do
// nothing) with the reason, also reported to onError.
if (!hb.enabled) $('stats').textContent = `heartbeat disabled: ${hb.error?.message}`;

const send = hb.outcome('message.send', { attributes: { surface: 'web_messenger' }, reasons: ['timeout', 'rejected'] });
const acme = send.tenant(TENANT);
beat = hb.heartbeat('web-messenger', { cadenceMs: 1000, usable: () => $('online').checked });

/** A pretend backend: slow now and then, refusing now and then, down when "disconnected". */
function deliver(text) {
  return new Promise((resolve, reject) => {
    if (!$('online').checked) return setTimeout(() => reject(new Error('timeout')), 300);
    const roll = Math.random();
    setTimeout(() => (roll < 0.1 ? reject(new Error('rejected')) : resolve(text)), 100 + Math.random() * 300);
  });
}

function add(text, cls) {
  const p = document.createElement('p');
  p.className = `msg ${cls}`;
  p.textContent = text;
  $('log').append(p);
  $('log').scrollTop = $('log').scrollHeight;
  return p;
}

$('send').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  $('text').value = '';
  const bubble = add(text, 'me');
  try {
    await deliver(text);
    acme?.success(); // one customer job done, counted for the tenant
    stats.sent++;
    setTimeout(() => add(`Thanks! We got "${text}".`, 'them'), 400);
  } catch (e) {
    acme?.failure(e.message); // "timeout" or "rejected": declared reasons
    stats.failed++;
    bubble.classList.add('failed');
  }
  show();
});

setInterval(show, 500);
show();
window.messenger = { send: (text) => ($('text').value = text, $('send').requestSubmit()), stats, hb };
