// Types of @heartbeat/web. Every count is a plain number: no BigInt crosses the API.

/** What went wrong, as a stable code, in every HeartbeatError. */
export type HeartbeatErrorCode =
  /** init() options are missing or malformed. */
  | 'invalid_options'
  /** outcome() was given a bad name, attribute, reason or tenant limit. */
  | 'invalid_outcome'
  /** heartbeat() was given a bad name or option, or the name is already running. */
  | 'invalid_heartbeat'
  /** A recording call got a non-string reason or tenant (it was still counted). */
  | 'invalid_argument'
  /**
   * The WebAssembly module could not be fetched or compiled; a CSP block names the directive
   * (`connect-src`, or `script-src 'wasm-unsafe-eval'`). init() resolved to a disabled client.
   */
  | 'load_failed'
  /**
   * An export failed (network, CORS, a CSP `connect-src` block, 429, 5xx): retried with
   * backoff, nothing lost; or the offline buffer could not be written.
   */
  | 'export_failed'
  /**
   * The collector refused a batch with a non-retryable status (400, 401, 403, 413...), or the
   * offline buffer was full: that batch is dropped.
   */
  | 'export_rejected'
  /** A heartbeat's usable() callback threw: no beat on that tick. */
  | 'gate_failed'
  /** An unexpected failure inside Heartbeat; recording stops if the module itself failed. */
  | 'internal';

/** The one error type Heartbeat reports (to `onError`). It is never thrown into the page. */
export class HeartbeatError extends Error {
  readonly name: 'HeartbeatError';
  readonly code: HeartbeatErrorCode;
  readonly cause?: unknown;
}

export interface InitOptions {
  /**
   * The OTLP/HTTP collector, e.g. `"https://otel.example.com:4318"`: `/v1/metrics` is appended
   * unless the URL has a path. Must be an absolute http(s) URL, allowed by your CSP `connect-src`.
   */
  endpoint: string;
  /** The `service.name` resource attribute, e.g. `"web-messenger"`. */
  serviceName: string;
  /** The `service.version` resource attribute: the deployed version of the widget. */
  serviceVersion?: string;
  /** Extra request headers, e.g. an ingest key. Each one needs the collector's CORS allow-list. */
  headers?: Record<string, string>;
  /** Extra resource attributes on every batch, e.g. `{ "deployment.environment": "prod" }`. */
  attributes?: Record<string, string>;
  /** How often a batch is sent (ms, default 10000, from 100). Idle pages send nothing. */
  exportIntervalMs?: number;
  /** Default distinct tenants per outcome before the `_overflow` series (default 1000). */
  tenantLimit?: number;
  /**
   * Hashes tenant ids before they leave the page: `heartbeat.tenant` carries `"h-"` and 16 hex
   * digits of a SipHash-2-4 keyed from `salt` (1 to 255 bytes of UTF-8), the value the native
   * SDK and `heartbeat-watch tenant-hash --salt` give for the same id. Invalid ids still count in
   * `_overflow`. A salt in a page is public: this keeps ids and e-mails out of telemetry
   * backends, it does not stop someone who can guess ids (see docs/browser.md). A bad salt
   * rejects init() with `invalid_options`.
   */
  hashTenants?: { salt: string };
  /** Called with every error, instead of anything being thrown (init() included). */
  onError?: (error: HeartbeatError) => void;
  /** Logs every error with console.error. */
  debug?: boolean;
  /**
   * Where to load the `.wasm` from (default: next to this module, via `import.meta.url`): a URL,
   * a `Response`, bytes, or a compiled `WebAssembly.Module`.
   */
  wasm?: string | URL | Request | Response | BufferSource | WebAssembly.Module;
}

export interface OutcomeOptions {
  /** Fixed attributes on every series of this outcome, e.g. `{ surface: "web_messenger" }`. */
  attributes?: Record<string, string>;
  /** The failure reasons (snake_case, at most 32); `unspecified` and `other` always exist. */
  reasons?: string[];
  /** Distinct tenants for this outcome before the `_overflow` series. */
  tenantLimit?: number;
}

export interface HeartbeatOptions {
  /** Milliseconds between beats (default 10000, from 100 to 86400000). */
  cadenceMs?: number;
  /** Whether the messenger is usable right now (e.g. its connection is up); no beat when false. */
  usable?: () => boolean;
}

/** The failure reason of a rejected promise: a fixed reason, or one read from the error. */
export type ReasonOf = string | ((error: unknown) => string | undefined);

/** What Outcome and TenantOutcome record with. Every method is cheap and never throws. */
export interface Recorder {
  /** Records one success. */
  success(): void;
  /** Records one failure; a reason outside the declared set counts as `"other"`. */
  failure(reason?: string): void;
  /** Records a success when `ok` is true, else a failure with `reason`. */
  record(ok: boolean, reason?: string): void;
  /**
   * Records how `promise` settles (resolved: a success; rejected: a failure with `reason`, or
   * `reason(error)`, else `"unspecified"`) and returns a promise that settles the same way.
   */
  observe<T>(promise: PromiseLike<T> | T, reason?: ReasonOf): Promise<Awaited<T>>;
}

/** A customer job, counted as success or failure. */
export class Outcome implements Recorder {
  success(): void;
  failure(reason?: string): void;
  record(ok: boolean, reason?: string): void;
  observe<T>(promise: PromiseLike<T> | T, reason?: ReasonOf): Promise<Awaited<T>>;
  /** This outcome for one customer: the drill-down series (bounded by the tenant limit). */
  tenant(id: string): TenantOutcome;
}

/** One customer's view of an Outcome. */
export class TenantOutcome implements Recorder {
  success(): void;
  failure(reason?: string): void;
  record(ok: boolean, reason?: string): void;
  observe<T>(promise: PromiseLike<T> | T, reason?: ReasonOf): Promise<Awaited<T>>;
}

/**
 * A running heartbeat: `heartbeat.beats`, and its state as the native SDK's
 * `heartbeat.emitter.status` gauge (0 beating, 1 failing with `heartbeat.reason`, 2 stopped).
 */
export class Beat {
  /** Beats this handle counted (a restarted name keeps counting on the wire). */
  readonly count: number;
  /**
   * Reports the heartbeat failing (status 1 with `reason`, snake_case, default
   * `"gate_failed"`); beats are held until recover(). A `usable()` that returns false does
   * the same with `"gate_failed"`, until it returns true.
   */
  fail(reason?: string): void;
  /** Ends a fail(): beating again (status 0) while the page is usable. */
  recover(): void;
  /** Stops beating: the count so far is still reported, with status 2 (stopped on purpose). */
  stop(): void;
}

/** A started Heartbeat client, or a disabled one when init() failed. */
export class Heartbeat {
  /**
   * False when init() failed (see `onError`), after shutdown() or after an internal failure:
   * every call then records nothing.
   */
  readonly enabled: boolean;
  /** Why init() returned a disabled client (also given to `onError`); undefined otherwise. */
  readonly error?: HeartbeatError;
  /** Declares an outcome (the same declaration returns the same series). */
  outcome(name: string, options?: OutcomeOptions): Outcome;
  /** Starts a heartbeat that beats while the page is visible and `usable()`. */
  heartbeat(name?: string, options?: HeartbeatOptions): Beat;
  /**
   * Sends everything recorded so far, and the offline buffer's batches; resolves to true once
   * the collector accepted what this page recorded.
   */
  flush(): Promise<boolean>;
  /** Stops heartbeats and timers, flushes, and frees the module's memory. */
  shutdown(): Promise<boolean>;
}

/**
 * Loads the WebAssembly module and starts Heartbeat. Never rejects: when the options are
 * missing or malformed or the module cannot load, it calls `onError` with a HeartbeatError
 * (`invalid_options`, `load_failed`) and resolves to a disabled client (`enabled` false).
 */
export function init(options: InitOptions): Promise<Heartbeat>;

/** Milliseconds to wait for a `Retry-After` header value (seconds or an HTTP date). */
export function retryAfterMs(value: string | null | undefined, now?: number): number | undefined;
