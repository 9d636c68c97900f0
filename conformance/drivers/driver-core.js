// The emitter protocol (docs/conformance.md) on an @heartbeat/web client, shared by the node
// driver (wasm-node.mjs) and the page the Chromium driver loads (wasm-chromium.mjs). Plain ES,
// no node or DOM imports: it runs in both.

/** init() options from the suite's environment variables (the browser build has no OTEL_* of its own). */
export function options(env) {
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  const limit = Number(env.HEARTBEAT_CONFORMANCE_TENANT_LIMIT);
  const o = {
    endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: env.OTEL_SERVICE_NAME || 'conformance-web',
  };
  if (Number.isInteger(interval) && interval > 0) o.exportIntervalMs = Math.max(100, interval);
  if (Number.isInteger(limit) && limit > 0) o.tenantLimit = limit;
  return o;
}

/** What the browser build offers (the `hello` line), under `name`. */
export function hello(name, extra) {
  return {
    hello: {
      name,
      heartbeat: true,
      browser: true,
      protocols: ['http/json'],
      temporalities: ['delta'],
      gzip: false,
      env: false,
      kill: 'signal',
      beat_times: true,
      ...extra,
    },
  };
}

/**
 * A command handler for client `hb`; `page` has `hide()` and `show()` when there is a page.
 * Every command resolves to a reply object; none throws.
 */
export function driver(hb, page) {
  const outcomes = new Map();
  const beats = new Map();
  const times = new Map();
  const key = (name, attributes) => name + '\u001f' + JSON.stringify(Object.entries(attributes || {}).sort());
  const declare = (name, attributes, reasons) => {
    const handle = hb.outcome(name, { attributes: attributes || {}, reasons: reasons || [] });
    outcomes.set(key(name, attributes), handle);
    return handle;
  };
  return async function handle(cmd) {
    try {
      switch (cmd.cmd) {
        case 'declare':
          declare(cmd.outcome, cmd.attributes, cmd.reasons);
          return { ok: true };
        case 'record': {
          const o = outcomes.get(key(cmd.outcome, cmd.attributes)) || declare(cmd.outcome, cmd.attributes, []);
          const target = cmd.tenant != null ? o.tenant(cmd.tenant) : o;
          for (let i = 0; i < (cmd.count ?? 1); i++) {
            if (cmd.result === 'success') target.success();
            else target.failure(cmd.reason ?? undefined);
          }
          return { ok: true };
        }
        case 'beat': {
          // The browser build has no jitter option: a page load is its own jitter. usable() runs
          // at every tick, just before the beat: its time is the beat's, on the page's clock.
          const list = [];
          times.set(cmd.emitter, list);
          const usable = () => {
            list.push(performance.timeOrigin + performance.now());
            return true;
          };
          beats.set(cmd.emitter, hb.heartbeat(cmd.emitter, { cadenceMs: cmd.cadence_ms, usable }));
          return { ok: true };
        }
        case 'beat_times': {
          const list = times.get(cmd.emitter);
          if (!list) return { ok: false, error: `no heartbeat named ${cmd.emitter} was started` };
          return { ok: true, value: list.slice() };
        }
        case 'beat_stop': {
          const b = beats.get(cmd.emitter);
          if (!b) return { ok: false, error: `no heartbeat named ${cmd.emitter}` };
          b.stop();
          beats.delete(cmd.emitter);
          return { ok: true };
        }
        case 'flush':
          return { ok: true, value: await hb.flush() };
        case 'shutdown':
          return { ok: true, value: await hb.shutdown() };
        case 'hide':
        case 'show':
          if (!page) return { ok: false, error: 'no page to hide or show under node' };
          page[cmd.cmd]();
          return { ok: true };
        default:
          return { ok: false, error: `unknown command ${cmd.cmd}` };
      }
    } catch (e) {
      return { ok: false, error: String((e && e.message) || e) };
    }
  };
}
