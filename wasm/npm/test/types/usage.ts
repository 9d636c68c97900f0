// The package's types as a user's TypeScript sees them, checked by `tsc --noEmit --strict`
// (scripts/test-wasm.sh; test/types.test.mjs): every call of the README, resolved through the
// package's `exports` map (a self-reference to @heartbeat/web), the .wasm subpath included.
import { init, retryAfterMs, HeartbeatError } from '@heartbeat/web';
import type { Beat, Heartbeat, HeartbeatErrorCode, InitOptions, Outcome, TenantOutcome, Recorder } from '@heartbeat/web';
import wasmUrl from '@heartbeat/web/heartbeat_wasm_bg.wasm';

declare const socket: { readyState: number };
declare function deliver(text: string): Promise<{ id: string }>;

const options: InitOptions = {
  endpoint: 'https://otel.example.com:4318',
  serviceName: 'web-messenger',
  serviceVersion: '2.3.0',
  headers: { 'X-Ingest-Key': 'k' },
  attributes: { 'deployment.environment': 'prod' },
  exportIntervalMs: 10000,
  tenantLimit: 100,
  hashTenants: { salt: 'k3-7f2a-messenger' },
  onError: (e: HeartbeatError) => {
    const code: HeartbeatErrorCode = e.code;
    console.debug(code, e.message, e.cause);
  },
  debug: false,
  wasm: wasmUrl,
};

export async function main(): Promise<void> {
  // init() never rejects: a disabled client when something went wrong.
  const hb: Heartbeat = await init(options);
  if (!hb.enabled) console.debug(hb.error?.code);
  const send: Outcome = hb.outcome('message.send', { attributes: { surface: 'web_messenger' }, reasons: ['timeout', 'rejected'], tenantLimit: 10 });
  send.success();
  send.failure('timeout');
  send.failure();
  send.record(false, 'rejected');
  const acme: TenantOutcome = send.tenant('acme');
  acme.success();
  acme.record(true);
  const sent: { id: string } = await send.observe(deliver('hi'), 'rejected');
  const viaTenant: { id: string } = await acme.observe(deliver('hi'), (e) => (e instanceof HeartbeatError ? e.code : undefined));
  const recorders: Recorder[] = [send, acme];
  console.debug(sent.id, viaTenant.id, recorders.length);
  const beat: Beat = hb.heartbeat('web-messenger', { cadenceMs: 10000, usable: () => socket.readyState === 1 });
  beat.fail('socket_closed');
  beat.recover();
  const count: number = beat.count;
  beat.stop();
  const flushed: boolean = await hb.flush();
  const stopped: boolean = await hb.shutdown();
  const wait: number | undefined = retryAfterMs('120');
  console.debug(count, flushed, stopped, wait);
}

// Mistakes the types must catch.
// @ts-expect-error serviceName is required
void init({ endpoint: 'https://otel.example.com' });
// @ts-expect-error a count is a number, not a bigint
const big: bigint = ({} as Beat).count;
// @ts-expect-error a reason is a string
({} as Outcome).failure(42);
// @ts-expect-error record takes a boolean
({} as Outcome).record('yes');
// @ts-expect-error fail takes a string reason
({} as Beat).fail(1);
// @ts-expect-error the .wasm subpath is a URL string
const n: number = wasmUrl;
console.debug(big, n);
