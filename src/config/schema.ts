/**
 * Zod schemas of scaleplane.yaml as written (snake_case, durations as strings) and the pure step
 * that resolves a parsed file into the `Config` every other module consumes.
 */
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { PRESET_NAMES, presetBehaviorDefaults } from '../policy/index.js';
import { hpaBehaviorIssues } from '../providers/kubernetes/hpa-behavior.js';
import { dns1123LabelIssue, dns1123SubdomainIssue } from '../providers/kubernetes/names.js';
import { parsePortRange } from '../providers/local/port-range.js';
import { parseSize as parseByteSize, parseDuration, parseSize } from './duration.js';
import { DEFAULT_LISTEN_HOST, formatListen, parseListen } from './listen.js';
import type {
  ActivationConfig,
  AlertSinkConfig,
  AlertsConfig,
  ApiConfig,
  BalancerAlgorithm,
  BalancerConfig,
  CloudflareConfig,
  Config,
  ControllerConfig,
  GroupConfig,
  HealthCheckConfig,
  HostPort,
  HttpCacheConfig,
  LeaseConfig,
  LimitsConfig,
  LocalProviderConfig,
  MetricConfig,
  NginxDriverConfig,
  OutlierConfig,
  PanicConfig,
  PredictiveConfig,
  ProviderConfig,
  RateConfig,
  ResourcesConfig,
  RouteConfig,
  ScalingConfig,
  StateConfig,
  TlsConfig,
  WrittenBehavior,
  WrittenDirection,
} from './types.js';
import { baseUrlProblem, natsUrlProblem, urlProblem } from './url.js';

/** SHORT_FORM_GROUP is the name of the single group a short-form file defines. */
export const SHORT_FORM_GROUP = 'web';

/** GROUP_NAME is the pattern group names follow (a DNS label, so they fit Kubernetes names too). */
export const GROUP_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** SHORT_FORM_KEYS are the top-level keys that only the short form accepts. */
export const SHORT_FORM_KEYS = ['command', 'scaling', 'port_env', 'env', 'cwd', 'health_path'] as const;

// ---------------------------------------------------------------------------------------------
// Building blocks

// Checks that must report alongside other problems run even when a sibling key failed, as long as
// the value is a mapping at all.
const whenMapping = {
  when: (payload: { value: unknown }) =>
    payload.value !== null && typeof payload.value === 'object' && !Array.isArray(payload.value),
};

/**
 * mapping is a YAML mapping with a fixed set of keys. Unknown keys are reported one by one, at
 * their own path, alongside any other problem in the same mapping (zod's strict objects report
 * them only as one issue on the parent and skip them when a sibling is invalid). `hints` explains
 * keys that are valid elsewhere.
 */
function mapping<Shape extends z.ZodRawShape>(shape: Shape, hints: Readonly<Record<string, string>> = {}) {
  const allowed = Object.keys(shape);
  return z.looseObject(shape).superRefine((value, ctx) => {
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(shape, key)) {
        // Own keys only: `valueOf` or `constructor` must not find Object.prototype's.
        const message = Object.hasOwn(hints, key) ? hints[key]! : unknownKeyMessage(key, allowed);
        ctx.addIssue({ code: 'custom', path: [key], message });
      }
    }
  }, whenMapping);
}

/** unknownKeyMessage names the key and, for a likely typo, the key that was probably meant. */
export function unknownKeyMessage(key: string, allowed: readonly string[], noun = 'key'): string {
  const suggestion = closeMatch(key, allowed);
  return suggestion === undefined ? `unknown ${noun}` : `unknown ${noun} (did you mean "${suggestion}"?)`;
}

/**
 * closeMatch is the one of `allowed` that `word` is likely a typo of (a few edits away, case
 * counting as an edit), else undefined.
 */
export function closeMatch(word: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of allowed) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** parsedBy adapts a throwing parser (parseDuration, parseListen) into a zod transform. */
function parsedBy<In, Out>(parse: (value: In) => Out) {
  return (value: In, ctx: z.RefinementCtx<In>): Out => {
    try {
      return parse(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  };
}

/**
 * MAX_TIMER_MS is the longest duration a timer-driven setting takes: Node.js timers hold at most
 * 2^31-1 ms (about 24.8 days), and a longer delay fires after 1 ms instead, so `interval: 30d`
 * polled or probed a thousand times a second.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * duration is a duration setting. By default it may drive a timer, so it is bounded by MAX_TIMER_MS;
 * `unbounded` is for durations only ever compared or added (cache lifetimes, forecast windows).
 */
function duration(bound: 'positive' | 'nonnegative', range: 'timer' | 'unbounded' = 'timer') {
  const positive =
    bound === 'positive' ? z.number().positive({ error: 'must be longer than 0' }) : z.number();
  return z
    .union([z.string(), z.number()], { error: 'expected a duration such as 30s, 1m30s or 250ms' })
    .transform(parsedBy(parseDuration))
    .pipe(
      range === 'unbounded'
        ? positive
        : positive.max(MAX_TIMER_MS, {
            error: `must be at most ${MAX_TIMER_MS} ms (about 24.8 days): a Node.js timer holds no longer wait, and fires a longer one at once`,
          }),
    );
}

/** DEFAULT_API_PORT is api.listen's port when the file sets none. */
const DEFAULT_API_PORT = 9090;

const listen = z
  .union([z.string(), z.number()], { error: 'expected a listen address such as 127.0.0.1:8080 or 8080' })
  .transform(parsedBy(parseListen));

const text = z.string().min(1, { error: 'must not be empty' });
/**
 * httpPath is a path Scaleplane sends or matches in a request line. Node refuses to send one with a
 * space, a control character or a character beyond U+00FF (ERR_UNESCAPED_CHARACTERS): a health path
 * `/health check` was called valid, then every probe threw and no instance became ready.
 */
const httpPath = z
  .string()
  .startsWith('/', { error: 'must start with "/"' })
  .regex(/^[\u0021-\u00ff]*$/, {
    error:
      'must not hold a space, a control character or a character beyond U+00FF, which no HTTP request line carries: percent-encode it (a space is %20)',
  });
const envName = z.string().regex(ENV_NAME, {
  error: 'must be an environment variable name (letters, digits and "_", not starting with a digit)',
});
const count = z.int().min(0);
const atLeastOne = z.int().min(1);

const envMap = z.record(
  envName,
  // YAML reads `WORKERS: 4` as a number; the environment only holds strings.
  z
    .union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' })
    .transform(String),
);

// ---------------------------------------------------------------------------------------------
// Sections

/** tlsSchema is a listener's `tls`: PEM certificate and key files (checked once resolved, see tlsIssues). */
const tlsSchema = mapping({ cert: text, key: text }).transform(
  (raw): TlsConfig => ({ cert: raw.cert, key: raw.key }),
);

const healthSchema = mapping({
  path: httpPath.default('/healthz'),
  interval: duration('positive').prefault('1s'),
  timeout: duration('positive').prefault('1s'),
  unhealthy_threshold: atLeastOne.default(2),
  healthy_threshold: atLeastOne.default(1),
  replace_after: duration('nonnegative').prefault('30s'),
}).transform(
  (raw): HealthCheckConfig => ({
    path: raw.path,
    interval: raw.interval,
    timeout: raw.timeout,
    unhealthyThreshold: raw.unhealthy_threshold,
    healthyThreshold: raw.healthy_threshold,
    replaceAfter: raw.replace_after,
  }),
);

const ALGORITHMS = [
  'least-connections',
  'round-robin',
  'p2c',
  'ewma',
  'consistent-hash',
] as const satisfies readonly BalancerAlgorithm[];

const size = z
  .union([z.string(), z.number()], { error: 'expected a size such as 16Ki or 100Mi' })
  .transform(parsedBy(parseSize));
const percent = z.number().min(0).max(100);

const outlierSchema = mapping({
  consecutive_5xx: count.default(5),
  consecutive_gateway_errors: count.default(3),
  base_ejection_time: duration('positive').prefault('30s'),
  max_ejection_time: duration('positive').prefault('300s'),
  max_ejection_percent: percent.default(50),
  panic_threshold: percent.default(50),
}).transform(
  (raw): OutlierConfig => ({
    consecutive5xx: raw.consecutive_5xx,
    consecutiveGatewayErrors: raw.consecutive_gateway_errors,
    baseEjectionTime: raw.base_ejection_time,
    maxEjectionTime: raw.max_ejection_time,
    maxEjectionPercent: raw.max_ejection_percent,
    panicThreshold: raw.panic_threshold,
  }),
);

const nginxSchema = mapping({
  include_file: text,
  test_command: text.default('nginx -t'),
  reload_command: text.default('nginx -s reload'),
  debounce: duration('nonnegative').prefault('500ms'),
  method: z.enum(['least_conn', 'random-two-least-conn', 'round-robin']).default('least_conn'),
  keepalive: atLeastOne.default(64),
  max_fails: count.default(3),
  fail_timeout: duration('positive').prefault('10s'),
  pid_file: text.optional(),
  location_include_file: text.optional(),
}).transform(
  (raw): NginxDriverConfig => ({
    includeFile: raw.include_file,
    testCommand: raw.test_command,
    reloadCommand: raw.reload_command,
    debounce: raw.debounce,
    method: raw.method,
    keepalive: raw.keepalive,
    maxFails: raw.max_fails,
    failTimeout: raw.fail_timeout,
    ...(raw.pid_file === undefined ? {} : { pidFile: raw.pid_file }),
    ...(raw.location_include_file === undefined ? {} : { locationIncludeFile: raw.location_include_file }),
  }),
);

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** httpCacheSchema is `balancer.cache` and `routes[].cache`: the HTTP response cache of a route. */
export const httpCacheSchema = mapping({
  storage: z.enum(['memory', 'redis']).default('memory'),
  redis_url: z
    .string()
    .regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' })
    .optional(),
  key_prefix: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]{1,64}$/, { error: 'letters, digits, "_", ":", "." and "-"' })
    .default('scaleplane:http:'),
  max_entries: atLeastOne.default(10_000),
  max_bytes: size.prefault('64Mi'),
  max_object_size: size.prefault('1Mi'),
  default_ttl: duration('nonnegative', 'unbounded').prefault('0s'),
  stale_while_revalidate: duration('nonnegative', 'unbounded').prefault('0s'),
  stale_if_error: duration('nonnegative', 'unbounded').prefault('0s'),
  keep_stale: duration('nonnegative', 'unbounded').prefault('1m'),
  convert_head: z.boolean().default(true),
  tag_header: z.string().regex(HEADER_NAME, { error: 'must be a header name' }).default('Cache-Tag'),
  hit_for_miss: duration('nonnegative', 'unbounded').prefault('2m'),
  lock_timeout: duration('positive').optional(),
})
  .superRefine((raw, ctx) => {
    if (raw.storage === 'redis' && raw.redis_url === undefined)
      ctx.addIssue({ code: 'custom', path: ['redis_url'], message: 'required for storage redis' });
  }, whenMapping)
  .transform(
    (raw): HttpCacheConfig => ({
      storage: raw.storage,
      ...(raw.redis_url === undefined ? {} : { redisUrl: raw.redis_url }),
      keyPrefix: raw.key_prefix,
      maxEntries: raw.max_entries,
      maxBytes: raw.max_bytes,
      maxObjectSize: raw.max_object_size,
      defaultTtl: raw.default_ttl,
      staleWhileRevalidate: raw.stale_while_revalidate,
      staleIfError: raw.stale_if_error,
      keepStale: raw.keep_stale,
      convertHead: raw.convert_head,
      tagHeader: raw.tag_header,
      hitForMiss: raw.hit_for_miss,
      ...(raw.lock_timeout === undefined ? {} : { lockTimeout: raw.lock_timeout }),
    }),
  );

const cloudflareSchema = mapping({
  zone_id: z.string().regex(/^[A-Za-z0-9]{1,64}$/, { error: 'must be a Cloudflare zone id' }),
  token_env: envName.default('CLOUDFLARE_API_TOKEN'),
  token_file: z.string().min(1).optional(),
  api_base: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .default('https://api.cloudflare.com/client/v4'),
  base_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
}).transform(
  (raw): CloudflareConfig => ({
    zoneId: raw.zone_id,
    tokenEnv: raw.token_env,
    ...(raw.token_file === undefined ? {} : { tokenFile: raw.token_file }),
    apiBase: raw.api_base.replace(/\/+$/, ''),
    ...(raw.base_url === undefined ? {} : { baseUrl: raw.base_url.replace(/\/+$/, '') }),
  }),
);

const HASH_KEY = /^(ip|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[^\s;=,]+)$/;

/** INPUT_DEFAULT is the metadata key of a default applied in code, shown in the JSON Schema (json-schema.ts). */
export const INPUT_DEFAULT = 'inputDefault';

/**
 * connectTimeoutIssue says why a written `connect_timeout` contradicts `request_timeout`, undefined
 * when it does not. The request timer runs from the first connect, so a connect_timeout at or above
 * request_timeout never fires: a backend whose connection never opens costs the client a 504 at
 * request_timeout instead of a retry on another instance (which a connect failure gets whatever
 * the method). Only a written one: a short request_timeout alone (`5s`) is common and meant, and
 * the balancer's default connect timeout follows it (`defaultConnectTimeout`: 10 s, or a third of
 * request_timeout when shorter).
 */
export function connectTimeoutIssue(requestMs: number, connectMs: number | undefined): string | undefined {
  // Either may be a value its own key already refused (`soon`): that issue says all there is to say.
  if (typeof connectMs !== 'number' || typeof requestMs !== 'number' || connectMs < requestMs)
    return undefined;
  return `connect_timeout (${connectMs} ms) must be below request_timeout (${requestMs} ms): request_timeout cuts the request first, with a 504 instead of a retry on another instance; lower connect_timeout or raise request_timeout`;
}

/**
 * perTryTimeoutIssue says why a written `per_try_timeout` contradicts `request_timeout`, undefined
 * when it does not: the request timer runs across every try, so a per-try timeout at or above it
 * never fires and a hung backend still costs the whole request_timeout and a 504, never a retry.
 */
export function perTryTimeoutIssue(requestMs: number, perTryMs: number | undefined): string | undefined {
  if (typeof perTryMs !== 'number' || typeof requestMs !== 'number' || perTryMs < requestMs) return undefined;
  return `per_try_timeout (${perTryMs} ms) must be below request_timeout (${requestMs} ms): request_timeout cuts the request first, with a 504 instead of a retry on another instance; lower per_try_timeout or raise request_timeout`;
}

/** balancerSchema is the `balancer` section. */
export const balancerSchema = mapping({
  listen: listen.prefault('127.0.0.1:8080'),
  tls: tlsSchema.optional(),
  http2: z.boolean().optional(),
  algorithm: z.enum(ALGORITHMS).default('ewma'),
  health: healthSchema.prefault({}),
  request_timeout: duration('positive').prefault('60s'),
  drain_timeout: duration('nonnegative').prefault('30s'),
  warmup_timeout: duration('nonnegative').prefault('10s'),
  hash_key: z.string().regex(HASH_KEY, { error: 'must be ip, header:NAME or cookie:NAME' }).default('ip'),
  outlier: outlierSchema.prefault({}),
  retry_budget: mapping({
    percent: percent.default(20),
    min_per_second: z.number().min(0).default(10),
  }).prefault({}),
  slow_start: duration('nonnegative').prefault('0s'),
  upstream_keepalive_timeout: duration('positive').prefault('4s'),
  // NGINX's keepalive_timeout default: above the idle timeout of the load balancers put in front
  // (AWS ALB 60 s), which must never send on a connection the balancer is closing.
  client_keepalive_timeout: duration('positive').prefault('75s'),
  // Not defaulted here: the balancer derives it from request_timeout (`defaultConnectTimeout`), and
  // connectTimeoutIssue sees only a written one. The JSON Schema shows the default for the default
  // request_timeout (inputDefault, see json-schema.ts).
  connect_timeout: duration('positive')
    .optional()
    .meta({
      [INPUT_DEFAULT]: '10s',
      description:
        'default: 10s, or a third of request_timeout when that is shorter; must be below request_timeout',
    }),
  // Off unless written: only the operator knows how long a healthy answer may take (Envoy has no
  // per-try timeout by default either; its route timeout bounds every try).
  per_try_timeout: duration('positive').optional().meta({
    description:
      'each try without response headers by then is cut (504) and, if safe, retried elsewhere; default: off; must be below request_timeout',
  }),
  // NGINX's proxy_read_timeout default, which is what closes an idle upgraded connection there.
  websocket_idle_timeout: duration('nonnegative').prefault('60s').meta({
    description:
      'an open WebSocket tunnel over which neither side sent anything for this long is closed; 0 = never',
  }),
  headers_timeout: duration('positive').prefault('10s'),
  max_request_body: size.prefault('100Mi'),
  // Node.js reads a maxHeaderSize of 0 as its own default (16Ki): `0` must not quietly mean that.
  max_header_size: size
    .pipe(
      z.number().positive({ error: 'must be more than 0 bytes (Node.js would read 0 as its default, 16Ki)' }),
    )
    .prefault('16Ki'),
  workers: count.default(1),
  nginx: nginxSchema.optional(),
  cache: httpCacheSchema.optional(),
  cloudflare: cloudflareSchema.optional(),
})
  .superRefine((raw, ctx) => {
    if (raw.http2 === true && raw.tls === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['http2'],
        message: 'needs tls: HTTP/2 is offered by ALPN on the TLS listener (cleartext h2c is not supported)',
      });
    const connect = connectTimeoutIssue(raw.request_timeout, raw.connect_timeout);
    if (connect !== undefined) ctx.addIssue({ code: 'custom', path: ['connect_timeout'], message: connect });
    const perTry = perTryTimeoutIssue(raw.request_timeout, raw.per_try_timeout);
    if (perTry !== undefined) ctx.addIssue({ code: 'custom', path: ['per_try_timeout'], message: perTry });
  }, whenMapping)
  .transform(
    (raw): BalancerConfig => ({
      listen: raw.listen,
      ...(raw.tls === undefined ? {} : { tls: raw.tls }),
      ...(raw.http2 === undefined ? {} : { http2: raw.http2 }),
      algorithm: raw.algorithm,
      health: raw.health,
      requestTimeout: raw.request_timeout,
      drainTimeout: raw.drain_timeout,
      warmupTimeout: raw.warmup_timeout,
      hashKey: raw.hash_key,
      outlier: raw.outlier,
      retryBudget: { percent: raw.retry_budget.percent, minPerSecond: raw.retry_budget.min_per_second },
      slowStart: raw.slow_start,
      upstreamKeepAliveTimeout: raw.upstream_keepalive_timeout,
      clientKeepAliveTimeout: raw.client_keepalive_timeout,
      ...(raw.connect_timeout === undefined ? {} : { connectTimeout: raw.connect_timeout }),
      ...(raw.per_try_timeout === undefined ? {} : { perTryTimeout: raw.per_try_timeout }),
      websocketIdleTimeout: raw.websocket_idle_timeout,
      headersTimeout: raw.headers_timeout,
      maxRequestBody: raw.max_request_body,
      maxHeaderSize: raw.max_header_size,
      workers: raw.workers,
      ...(raw.nginx === undefined ? {} : { nginx: raw.nginx }),
      ...(raw.cache === undefined ? {} : { cache: raw.cache }),
      ...(raw.cloudflare === undefined ? {} : { cloudflare: raw.cloudflare }),
    }),
  );

/**
 * routeCovers says whether every request `inner` matches is matched by `outer` too, as the balancer
 * matches: a host exactly or `*.suffix` by suffix (no host: any), the path by string prefix.
 */
export function routeCovers(outer: RouteConfig, inner: RouteConfig): boolean {
  if (!(inner.pathPrefix ?? '/').startsWith(outer.pathPrefix ?? '/')) return false;
  if (outer.host === undefined) return true;
  if (inner.host === undefined) return false;
  if (!outer.host.startsWith('*.')) return inner.host === outer.host;
  const suffix = outer.host.slice(1);
  return (inner.host.startsWith('*.') ? inner.host.slice(1) : inner.host).endsWith(suffix);
}

/** routesSchema is the top-level `routes` list: host and/or path prefix → group. */
export const routesSchema = z.array(
  mapping({
    host: z
      .string()
      .regex(/^(\*\.)?[A-Za-z0-9.-]+$/, { error: 'must be a host name, optionally starting with *.' })
      .optional(),
    path_prefix: httpPath.optional(),
    group: z.string(),
    algorithm: z.enum(ALGORITHMS).optional(),
    cache: httpCacheSchema.optional(),
  }).transform(
    (raw): RouteConfig => ({
      group: raw.group,
      ...(raw.host === undefined ? {} : { host: raw.host.toLowerCase() }),
      ...(raw.path_prefix === undefined ? {} : { pathPrefix: raw.path_prefix }),
      ...(raw.algorithm === undefined ? {} : { algorithm: raw.algorithm }),
      ...(raw.cache === undefined ? {} : { cache: raw.cache }),
    }),
  ),
);

/** apiSchema is the `api` section. */
export const apiSchema = mapping({
  listen: listen.prefault(`${DEFAULT_LISTEN_HOST}:${DEFAULT_API_PORT}`),
  tls: tlsSchema.optional(),
  token_file: z.string().min(1).optional(),
  auth_failures_per_minute: atLeastOne.default(10),
  scale_requests_per_minute: atLeastOne.default(60),
  public_metrics: z.boolean().default(false),
  max_streams_per_token: atLeastOne.default(10),
  max_streams: atLeastOne.default(100),
}).transform(
  (raw): ApiConfig => ({
    listen: raw.listen,
    ...(raw.tls === undefined ? {} : { tls: raw.tls }),
    ...(raw.token_file === undefined ? {} : { tokenFile: raw.token_file }),
    authFailuresPerMinute: raw.auth_failures_per_minute,
    scaleRequestsPerMinute: raw.scale_requests_per_minute,
    publicMetrics: raw.public_metrics,
    maxStreamsPerToken: raw.max_streams_per_token,
    maxStreams: raw.max_streams,
  }),
);

const storeName = z
  .string()
  .regex(/^[a-z_][a-z0-9_:-]{0,62}$/, { error: 'lowercase letters, digits, "_", ":" and "-"' })
  .default('scaleplane');

const leaseSchema = mapping({
  backend: z.enum(['redis', 'postgres']),
  url: text,
  ttl: duration('positive').prefault('6s'),
  name: storeName,
}).transform((raw): LeaseConfig => ({ backend: raw.backend, url: raw.url, ttl: raw.ttl, name: raw.name }));

const stateSchema = mapping({
  backend: z.enum(['file', 'redis', 'postgres']),
  url: text.optional(),
  path: text.optional(),
  name: storeName,
  log_dir: text.optional(),
})
  .superRefine((raw, ctx) => {
    if (raw.backend !== 'file' && raw.url === undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: `required for backend ${raw.backend}` });
  }, whenMapping)
  .transform(
    (raw): StateConfig => ({
      backend: raw.backend,
      name: raw.name,
      ...(raw.url === undefined ? {} : { url: raw.url }),
      ...(raw.path === undefined ? {} : { path: raw.path }),
      ...(raw.log_dir === undefined ? {} : { logDir: raw.log_dir }),
    }),
  );

// A sink is a one-key mapping `kind: options`, like a metric. URLs and DSNs are secrets: each can
// come from an environment variable instead (`url_env`, `dsn_env`), read when Scaleplane starts.
const alertHttpShape = {
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  url_env: envName.optional(),
  retries: count.default(3),
  timeout: duration('positive').prefault('5s'),
};
const needsUrl = (raw: { url?: string | undefined; url_env?: string | undefined }, ctx: z.RefinementCtx) => {
  if ((raw.url === undefined) === (raw.url_env === undefined))
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'set exactly one of url and url_env' });
};
const alertSinkKinds = {
  webhook: mapping({ ...alertHttpShape, headers: z.record(z.string(), z.string()).default({}) }).superRefine(
    needsUrl,
    whenMapping,
  ),
  slack: mapping({ ...alertHttpShape, channel: text.optional() }).superRefine(needsUrl, whenMapping),
  sentry: mapping({
    dsn_env: envName.default('SENTRY_DSN'),
    environment: text.default('production'),
    send_resolved: z.boolean().default(true),
  }),
};
const alertSinkSchema = z
  .looseObject({
    webhook: alertSinkKinds.webhook.optional(),
    slack: alertSinkKinds.slack.optional(),
    sentry: alertSinkKinds.sentry.optional(),
  })
  .superRefine((value, ctx) => {
    const keys = Object.keys(value);
    for (const key of keys)
      if (!Object.hasOwn(alertSinkKinds, key))
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'unknown sink (known: webhook, slack, sentry)',
        });
    if (keys.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: 'each sink is one key naming its kind, such as "webhook: { url: … }"',
      });
  })
  .transform((raw): AlertSinkConfig => {
    const http = (r: {
      url?: string | undefined;
      url_env?: string | undefined;
      retries: number;
      timeout: number;
    }) => ({
      ...(r.url === undefined ? {} : { url: r.url }),
      ...(r.url_env === undefined ? {} : { urlEnv: r.url_env }),
      retries: r.retries,
      timeout: r.timeout,
    });
    if (raw.webhook) return { type: 'webhook', ...http(raw.webhook), headers: raw.webhook.headers };
    if (raw.slack)
      return {
        type: 'slack',
        ...http(raw.slack),
        ...(raw.slack.channel === undefined ? {} : { channel: raw.slack.channel }),
      };
    const sentry = raw.sentry!;
    return {
      type: 'sentry',
      dsnEnv: sentry.dsn_env,
      environment: sentry.environment,
      sendResolved: sentry.send_resolved,
    };
  });

/** alertsSchema is the `alerts` section: where alerts go, and how often at most. */
export const alertsSchema = mapping({
  sinks: z.array(alertSinkSchema).default([]),
  rate_limit: atLeastOne.default(30),
  repeat_interval: duration('nonnegative', 'unbounded').prefault('4h'),
  keep_firing_for: duration('nonnegative').prefault('0s'),
}).transform(
  (raw): AlertsConfig => ({
    sinks: raw.sinks,
    rateLimit: raw.rate_limit,
    repeatInterval: raw.repeat_interval,
    keepFiringFor: raw.keep_firing_for,
  }),
);

/** limitsSchema is the top-level `limits` section: caps on what scaling may do, by hand or by policy. */
export const limitsSchema = mapping({
  max_instances_total: atLeastOne.optional(),
  max_step: atLeastOne.optional(),
}).transform(
  (raw): LimitsConfig => ({
    ...(raw.max_instances_total === undefined ? {} : { maxInstancesTotal: raw.max_instances_total }),
    ...(raw.max_step === undefined ? {} : { maxStep: raw.max_step }),
  }),
);

/**
 * MAX_JOURNAL_SIZE is the largest `controller.journal_size`. The bound is the file state store's:
 * it rewrites the whole state file, journal included, on every decision (atomic replace), and
 * measured with ~210-byte entries that costs 4.6 ms at 1,000 entries, 31 ms (a 2 MiB file) at
 * 10,000 and 375 ms (20 MiB) at 100,000 per decision, which a burst of health events (one entry per
 * instance transition) turns into seconds of writing. Redis and PostgreSQL trim in the store and
 * read the journal whole only at start.
 */
export const MAX_JOURNAL_SIZE = 10_000;

/** controllerSchema is the `controller` section. */
export const controllerSchema = mapping({
  interval: duration('positive').prefault('15s'),
  journal_size: atLeastOne
    .max(
      MAX_JOURNAL_SIZE,
      `at most ${MAX_JOURNAL_SIZE} decisions (the file state store rewrites them all on each one)`,
    )
    .default(1000),
  lease: leaseSchema.optional(),
  state: stateSchema.optional(),
}).transform(
  (raw): ControllerConfig => ({
    interval: raw.interval,
    journalSize: raw.journal_size,
    ...(raw.lease === undefined ? {} : { lease: raw.lease }),
    ...(raw.state === undefined ? {} : { state: raw.state }),
  }),
);

const cpuMetricSchema = mapping({
  target: z.number().positive(),
}).transform((raw): MetricConfig => ({ type: 'cpu', target: raw.target }));

const target = z.number().positive();

/** serverAddress is another server's `host:port` (a sentinel, a cluster node): no bare port, no port 0. */
const serverAddress = z.union([z.string(), z.number()]).transform((value, ctx): HostPort => {
  const text = String(value).trim();
  let address: HostPort | undefined;
  try {
    address = /^\d+$/.test(text) ? undefined : parseListen(text);
  } catch {}
  if (address === undefined || address.port === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is not host:port (such as 10.0.0.5:26379 or [::1]:26379)`,
    });
    return z.NEVER;
  }
  return address;
});

// HPA's Resource metric for memory: `target` is Utilization (percent of the limit), `average_value`
// AverageValue (bytes per instance). Whether the group has a limit is checked with the group.
const memoryMetricSchema = mapping({
  target: target.optional(),
  average_value: size.pipe(z.number().positive({ error: 'must be more than 0 bytes' })).optional(),
})
  .superRefine((raw, ctx) => {
    if ((raw.target === undefined) === (raw.average_value === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message:
          "give either target (percent of each instance's memory limit, such as 80) or average_value (bytes per instance, such as 256Mi)",
      });
    }
  }, whenMapping)
  .transform(
    (raw): MetricConfig =>
      raw.average_value === undefined
        ? { type: 'memory', target: raw.target!, targetType: 'Utilization' }
        : { type: 'memory', target: raw.average_value, targetType: 'AverageValue' },
  );

/** PROMETHEUS_MAX_TIMEOUT_MS bounds a prometheus metric's `timeout`: Prometheus' default --query.timeout. */
const PROMETHEUS_MAX_TIMEOUT_MS = 120_000;

const METRIC_KINDS = {
  cpu: cpuMetricSchema,
  memory: memoryMetricSchema,
  prometheus: mapping({
    target,
    query: text,
    url: text.default('http://127.0.0.1:9090'),
    on_warnings: z.enum(['missing', 'use'], { error: 'must be missing or use' }).default('missing'),
    // Sent as the query's `timeout`: Prometheus gives up itself, not after we stopped waiting.
    timeout: duration('positive')
      .pipe(
        z.number().max(PROMETHEUS_MAX_TIMEOUT_MS, {
          error:
            "must be at most 2m: Prometheus' own default --query.timeout, and a read that slow leaves the metric stale for several control loop ticks",
        }),
      )
      .prefault('5s'),
    bearer_token_file: text.optional(),
    ca_file: text.optional(),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, { error: 'must be a header name' }),
        z.string().regex(/^[^\r\n\0]*$/, { error: 'must be one line' }),
      )
      .optional(),
  })
    .superRefine((raw, ctx) => {
      // Checked here rather than at the first read: fetch can reach nothing else, and the source
      // decodes the user and password (sent as HTTP Basic auth) from it.
      const url = urlProblem(raw.url, ['http:', 'https:']) ?? baseUrlProblem(raw.url, 'api/v1/query');
      if (url) ctx.addIssue({ code: 'custom', path: ['url'], message: url });
      // One Authorization header: which of two a proxy reads is its own choice.
      const basic = /^https?:\/\/[^/?#]*@/i.test(raw.url);
      const authHeader = Object.keys(raw.headers ?? {}).find(
        (name) => name.toLowerCase() === 'authorization',
      );
      if (raw.bearer_token_file !== undefined && (basic || authHeader !== undefined))
        ctx.addIssue({
          code: 'custom',
          path: ['bearer_token_file'],
          message: `give one way to authenticate: bearer_token_file, ${basic ? 'or user:password in url' : `or headers.${authHeader}`}`,
        });
      if (raw.ca_file !== undefined && !/^https:/i.test(raw.url))
        ctx.addIssue({ code: 'custom', path: ['ca_file'], message: 'needs an https url' });
    }, whenMapping)
    .transform(
      (raw): MetricConfig => ({
        type: 'prometheus',
        target: raw.target,
        query: raw.query,
        url: raw.url,
        onWarnings: raw.on_warnings,
        timeout: raw.timeout,
        ...(raw.bearer_token_file === undefined ? {} : { bearerTokenFile: raw.bearer_token_file }),
        ...(raw.ca_file === undefined ? {} : { caFile: raw.ca_file }),
        ...(raw.headers === undefined ? {} : { headers: raw.headers }),
      }),
    ),
  rabbitmq: mapping({
    target,
    queue: text,
    url: text.default('amqp://127.0.0.1'),
    mode: z.enum(['length', 'rate'], { error: 'must be length or rate' }).default('length'),
    management_url: text.optional(),
  })
    .superRefine((raw, ctx) => {
      // mode: length over AMQP only (no management_url) needs nothing more of url here.
      if (raw.mode !== 'rate' && raw.management_url === undefined) return;
      // The management API (mode: rate; mode: length with management_url, which then counts
      // unacknowledged messages too) reads the vhost (and, without management_url, host and
      // credentials) from url.
      const url = urlProblem(raw.url, ['amqp:', 'amqps:']);
      if (url) ctx.addIssue({ code: 'custom', path: ['url'], message: url });
      const management = raw.management_url && urlProblem(raw.management_url, ['http:', 'https:']);
      if (management) ctx.addIssue({ code: 'custom', path: ['management_url'], message: management });
    })
    .transform(
      (raw): MetricConfig => ({
        type: 'rabbitmq',
        target: raw.target,
        queue: raw.queue,
        url: raw.url,
        mode: raw.mode,
        ...(raw.management_url === undefined ? {} : { managementUrl: raw.management_url }),
      }),
    ),
  redis: mapping({
    target,
    key: text,
    url: text.default('redis://127.0.0.1:6379'),
    group: text.optional(),
    sentinel: mapping({
      name: text,
      sentinels: z.array(serverAddress).min(1, { error: 'list at least one sentinel (host:port)' }),
    }).optional(),
    cluster: z.array(serverAddress).min(1, { error: 'list at least one node (host:port)' }).optional(),
  })
    .superRefine((raw, ctx) => {
      if (raw.sentinel !== undefined && raw.cluster !== undefined)
        ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'give sentinel or cluster, not both' });
    }, whenMapping)
    .transform(
      (raw): MetricConfig => ({
        type: 'redis',
        target: raw.target,
        key: raw.key,
        url: raw.url,
        ...(raw.group === undefined ? {} : { group: raw.group }),
        ...(raw.sentinel === undefined ? {} : { sentinel: raw.sentinel }),
        ...(raw.cluster === undefined ? {} : { cluster: raw.cluster }),
      }),
    ),
  nats: mapping({
    target,
    stream: text,
    consumer: text,
    filter_subject: text.optional(),
    inbox_prefix: text.optional(),
    url: text.default('nats://127.0.0.1:4222'),
  })
    .superRefine((raw, ctx) => {
      const url = natsUrlProblem(raw.url);
      if (url) ctx.addIssue({ code: 'custom', path: ['url'], message: url });
      // The client refuses such a prefix only when the source first connects, failing every read.
      const tokens = raw.inbox_prefix?.split('.') ?? [];
      if (tokens.some((t) => t === '' || t === '*' || t === '>' || /\s/.test(t)))
        ctx.addIssue({
          code: 'custom',
          path: ['inbox_prefix'],
          message: 'a subject prefix: dot-separated tokens, none empty, none a wildcard (* or >)',
        });
    }, whenMapping)
    .transform(
      (raw): MetricConfig => ({
        type: 'nats',
        target: raw.target,
        stream: raw.stream,
        consumer: raw.consumer,
        ...(raw.filter_subject === undefined ? {} : { filterSubject: raw.filter_subject }),
        ...(raw.inbox_prefix === undefined ? {} : { inboxPrefix: raw.inbox_prefix }),
        url: raw.url,
      }),
    ),
  inflight: mapping({ target }).transform((raw): MetricConfig => ({ type: 'inflight', target: raw.target })),
  rps: mapping({ target }).transform((raw): MetricConfig => ({ type: 'rps', target: raw.target })),
  latency: mapping({ target, percentile: z.number().gt(0).lt(100).default(95) }).transform(
    (raw): MetricConfig => ({ type: 'latency', target: raw.target, percentile: raw.percentile }),
  ),
};

// A metric is a one-key mapping `kind: options`, so a new kind is one more entry in METRIC_KINDS.
const metricSchema = z
  .looseObject({
    cpu: METRIC_KINDS.cpu.optional(),
    memory: METRIC_KINDS.memory.optional(),
    prometheus: METRIC_KINDS.prometheus.optional(),
    rabbitmq: METRIC_KINDS.rabbitmq.optional(),
    redis: METRIC_KINDS.redis.optional(),
    nats: METRIC_KINDS.nats.optional(),
    inflight: METRIC_KINDS.inflight.optional(),
    rps: METRIC_KINDS.rps.optional(),
    latency: METRIC_KINDS.latency.optional(),
  })
  .superRefine((value, ctx) => {
    // Kubernetes' and KEDA's manifests name a metric's kind in `type:`; three issues about unknown
    // kinds `type` and `target` told such a user less than the one form to write instead.
    const typed = typeof value.type === 'string' ? value.type.toLowerCase() : undefined;
    if (typed !== undefined && Object.hasOwn(METRIC_KINDS, typed)) {
      const { type, ...rest } = value;
      const fields = Object.entries(rest).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
      ctx.addIssue({
        code: 'custom',
        message: `the kind is the key: write "${typed}: { ${fields.join(', ')} }" instead of "type: ${type}"`,
      });
      return;
    }
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(METRIC_KINDS, key)) {
        const kinds = Object.keys(METRIC_KINDS);
        const meant = closeMatch(key, kinds);
        const hint = meant === undefined ? '' : `did you mean "${meant}"? `;
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `unknown metric kind (${hint}known: ${kinds.join(', ')})`,
        });
      }
    }
    if (Object.keys(value).length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `each metric is one key naming its kind, such as "cpu: { target: 80 }"`,
      });
    }
  })
  // The check above leaves exactly one known kind; join new kinds with `??`.
  .transform(
    (raw): MetricConfig =>
      (raw.cpu ??
        raw.memory ??
        raw.prometheus ??
        raw.rabbitmq ??
        raw.redis ??
        raw.nats ??
        raw.inflight ??
        raw.rps ??
        raw.latency)!,
  );

const tolerance = z.number().min(0).lt(1);

const ratePolicySchema = mapping({
  type: z.enum(['Pods', 'Percent']),
  value: z.number().positive(),
  period: duration('positive'),
}).transform((raw) => ({ type: raw.type, value: raw.value, period: raw.period }));

// HPA's behavior per direction; windows and tolerance default from the chosen policy.
const direction = mapping({
  stabilization_window: duration('nonnegative').optional(),
  tolerance: tolerance.optional(),
  select_policy: z.enum(['Max', 'Min', 'Disabled']).optional(),
  policies: z.array(ratePolicySchema).optional(),
});

/** writtenOf is one direction as written (the keys set, ms), undefined when it sets nothing. */
function writtenOf(raw: z.output<typeof direction>): WrittenDirection | undefined {
  const written: WrittenDirection = {
    ...(raw.stabilization_window !== undefined && { stabilizationWindow: raw.stabilization_window }),
    ...(raw.tolerance !== undefined && { tolerance: raw.tolerance }),
    ...(raw.select_policy !== undefined && { selectPolicy: raw.select_policy }),
    ...(raw.policies !== undefined && { policies: raw.policies }),
  };
  return Object.keys(written).length === 0 ? undefined : written;
}

function rateOf(raw: z.output<typeof direction>): RateConfig | undefined {
  if (raw.select_policy === undefined && raw.policies === undefined) return undefined;
  return { selectPolicy: raw.select_policy ?? 'Max', policies: raw.policies ?? [] };
}

// A feature is `true` (defaults), `false` (off, even when the policy has it) or its settings.
function feature<Shape extends z.ZodRawShape, Out>(
  shape: Shape,
  resolve: (raw: z.output<z.ZodObject<Shape>>) => Out,
) {
  return z
    .union([z.boolean(), mapping(shape)], { error: 'expected true, false or a mapping' })
    .transform((raw): Out | null =>
      raw === false ? null : resolve((raw === true ? mapping(shape).parse({}) : raw) as never),
    );
}

const panicSchema = feature(
  {
    window: duration('positive').prefault('6s'),
    threshold: z.number().positive().default(2),
    stable_window: duration('positive').prefault('60s'),
    saturation_factor: z.number().min(0).default(2),
  },
  (raw): PanicConfig => ({
    window: raw.window,
    threshold: raw.threshold,
    stableWindow: raw.stable_window,
    saturationFactor: raw.saturation_factor,
  }),
);

const predictiveSchema = feature(
  {
    // Empty only with violation_cost: the learnt forecast alone.
    seasons: z.array(duration('positive', 'unbounded')).prefault(['1d', '7d']),
    bucket: duration('positive', 'unbounded').prefault('1m'),
    horizon: duration('positive', 'unbounded').prefault('75s'),
    smoothing: duration('nonnegative', 'unbounded').prefault('0s'),
    trend_window: duration('positive', 'unbounded').prefault('30m'),
    deviations: z.number().min(0).default(0),
    deviation_window: duration('positive', 'unbounded').prefault('1h'),
    level_window: duration('positive', 'unbounded').prefault('3m'),
    utilization: z.number().positive().optional(),
    violation_cost: z.number().min(0).optional(),
    smoothers: z.array(z.number().gt(0).max(1)).min(1).optional(),
    error_half_life: duration('positive', 'unbounded').optional(),
    ridge: z.number().min(0).optional(),
    noise_lags: z.number().int().min(1).max(24).optional(),
  },
  (raw): PredictiveConfig => ({
    seasons: raw.seasons,
    bucket: raw.bucket,
    horizon: raw.horizon,
    smoothing: raw.smoothing,
    trendWindow: raw.trend_window,
    deviations: raw.deviations,
    deviationWindow: raw.deviation_window,
    levelWindow: raw.level_window,
    ...(raw.utilization === undefined ? {} : { utilization: raw.utilization }),
    ...(raw.violation_cost === undefined ? {} : { violationCost: raw.violation_cost }),
    ...(raw.smoothers === undefined ? {} : { smoothers: raw.smoothers }),
    ...(raw.error_half_life === undefined ? {} : { errorHalfLife: raw.error_half_life }),
    ...(raw.ridge === undefined ? {} : { ridge: raw.ridge }),
    ...(raw.noise_lags === undefined ? {} : { noiseLags: raw.noise_lags }),
  }),
);

const activationSchema = feature(
  { threshold: z.number().min(0).default(0), cooldown: duration('nonnegative').prefault('300s') },
  (raw): ActivationConfig => ({ threshold: raw.threshold, cooldown: raw.cooldown }),
);

/** scalingSchema is a group's `scaling` section. */
export const scalingSchema = mapping({
  policy: z.enum(PRESET_NAMES).optional(),
  startup: duration('nonnegative').optional(),
  metrics: z
    .array(metricSchema)
    .min(1, { error: 'list at least one metric, such as "- cpu: { target: 80 }"' }),
  tolerance: tolerance.optional(),
  metric_window: duration('positive').prefault('30s'),
  behavior: mapping({
    scale_down: direction.prefault({}),
    scale_up: direction.prefault({}),
  }).prefault({}),
  panic: panicSchema.optional(),
  predictive: predictiveSchema.optional(),
  activation: activationSchema.optional(),
}).transform((raw): ScalingConfig => {
  const preset = presetBehaviorDefaults(raw.policy);
  const up = raw.behavior.scale_up;
  const down = raw.behavior.scale_down;
  const upRate = rateOf(up);
  const downRate = rateOf(down);
  const both = raw.tolerance ?? 0.1;
  const upWritten = writtenOf(up);
  const downWritten = writtenOf(down);
  const upTolerance = up.tolerance ?? raw.tolerance ?? preset.scaleUpTolerance;
  const downTolerance = down.tolerance ?? raw.tolerance ?? preset.scaleDownTolerance;
  return {
    metrics: raw.metrics,
    tolerance: both,
    scaleDownStabilization: down.stabilization_window ?? preset.scaleDownStabilization,
    scaleUpStabilization: up.stabilization_window ?? preset.scaleUpStabilization,
    metricWindow: raw.metric_window,
    // Per-direction only where it differs from `tolerance`, so the common case reads as before.
    ...(upTolerance === both ? {} : { scaleUpTolerance: upTolerance }),
    ...(downTolerance === both ? {} : { scaleDownTolerance: downTolerance }),
    ...(raw.policy === undefined ? {} : { policy: raw.policy }),
    ...(raw.startup === undefined ? {} : { startup: raw.startup }),
    ...(upRate === undefined ? {} : { scaleUpRate: upRate }),
    ...(downRate === undefined ? {} : { scaleDownRate: downRate }),
    ...([...Object.values(up), ...Object.values(down)].some((v) => v !== undefined) && { behaviorSet: true }),
    ...((upWritten !== undefined || downWritten !== undefined) && {
      behaviorWritten: {
        ...(upWritten && { scaleUp: upWritten }),
        ...(downWritten && { scaleDown: downWritten }),
      },
    }),
    ...(raw.panic === undefined ? {} : { panic: raw.panic }),
    ...(raw.predictive === undefined ? {} : { predictive: raw.predictive }),
    ...(raw.activation === undefined ? {} : { activation: raw.activation }),
  };
});

// ---------------------------------------------------------------------------------------------
// Groups

/** GroupDraft is a parsed group before it is resolved against the file's folder and the balancer. */
export interface GroupDraft extends Omit<GroupConfig, 'name' | 'healthPath' | 'provider'> {
  healthPath: string | undefined;
  provider:
    | Exclude<ProviderConfig, LocalProviderConfig>
    | (Omit<LocalProviderConfig, 'cwd'> & { cwd: string | undefined });
}

/** ConfigDraft is a parsed file, either form, before `resolveConfig`. */
export interface ConfigDraft {
  api: ApiConfig;
  balancer: BalancerConfig;
  routes: RouteConfig[];
  controller: ControllerConfig;
  groups: Record<string, GroupDraft>;
  alerts?: AlertsConfig;
  limits?: LimitsConfig;
}

interface InstanceCounts {
  min: unknown;
  max: unknown;
  initial: unknown;
}

/**
 * instanceBoundsIssues checks min ≤ initial ≤ max, with max defaulted as the transform will. Values
 * are `unknown` because the check also runs when a sibling key failed, so that every problem is
 * reported at once; it skips what is not an integer.
 */
export function instanceBoundsIssues(counts: InstanceCounts): { key: 'max' | 'initial'; message: string }[] {
  const { min, max, initial } = counts;
  if (!isInt(min)) return [];
  if (isInt(max) && max < min) return [{ key: 'max', message: `must be >= min_instances (${min})` }];
  const upper = max === undefined ? defaultMaxInstances(min) : max;
  if (!isInt(initial) || !isInt(upper) || (initial >= min && initial <= upper)) return [];
  const defaulted = max === undefined ? ', max_instances defaulted' : '';
  return [
    { key: 'initial', message: `must be within min_instances..max_instances (${min}..${upper}${defaulted})` },
  ];
}

/** isInt is a count that passed its own check: `1e20` or `-1` gets its own error, not a second one on max. */
function isInt(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** defaultMaxInstances is max_instances when omitted: min_instances, but at least one instance. */
function defaultMaxInstances(min: number): number {
  return Math.max(min, 1);
}

const PROVIDERS = ['local', 'kubernetes', 'aws'] as const;

const localProviderShape = {
  provider: z
    .enum(PROVIDERS, {
      error: (issue) => {
        const meant = typeof issue.input === 'string' ? closeMatch(issue.input, PROVIDERS) : undefined;
        const hint = meant === undefined ? '' : `did you mean "${meant}"? `;
        return `unknown provider ${JSON.stringify(issue.input)} (${hint}known: ${PROVIDERS.join(', ')})`;
      },
    })
    .default('local'),
  command: text.optional(),
  port_env: envName.default('PORT'),
  cwd: text.optional(),
  env: envMap.default({}),
  host: text.default('127.0.0.1'),
  // Ports below the kernel's ephemeral range: no bind(0) or outgoing connection takes one between
  // the check and the instance's bind (see providers/local/port-range.ts).
  port_range: z
    .string({ error: 'expected a port range such as 20000-29999' })
    .transform(parsedBy(parsePortRange))
    .optional(),
  start_timeout: duration('positive').prefault('30s'),
  stop_timeout: duration('nonnegative').prefault('10s'),
  // A Deployment's minReadySeconds: ready this long before a roll or a replacement counts on it.
  min_ready: duration('nonnegative').prefault('0s'),
  crash_loop: mapping({
    limit: atLeastOne.default(5),
    window: duration('positive').prefault('60s'),
  }).prefault({}),
  // The local provider's LOG_LINES_PER_SECOND: a chatty instance must not flood our log.
  log_lines_per_second: atLeastOne.default(100),
};

const port = z.int().min(1).max(65535);

/** PROVIDER_KEYS lists the keys only one provider accepts, so a key of another one is an error. */
const PROVIDER_KEYS: Record<(typeof PROVIDERS)[number], readonly string[]> = {
  local: [
    'command',
    'port_env',
    'cwd',
    'env',
    'host',
    'port_range',
    'start_timeout',
    'stop_timeout',
    'min_ready',
    'crash_loop',
    'log_lines_per_second',
  ],
  kubernetes: [
    'namespace',
    'name',
    'kind',
    'port',
    'container',
    'mode',
    'kubeconfig',
    'context',
    'scale_timeout',
    'cpu_initialization_period',
    'initial_readiness_delay',
  ],
  aws: [
    'auto_scaling_group',
    'region',
    'endpoint',
    'port',
    'instance_warmup',
    'min_healthy_percentage',
    'poll_interval',
    'monitoring',
    'scale_timeout',
    'termination_hook',
  ],
};

const engineShape = {
  namespace: text.optional(),
  name: text.optional(),
  kind: z.enum(['Deployment', 'StatefulSet']).optional(),
  port: port.optional(),
  container: text.optional(),
  mode: z.enum(['controller', 'hpa']).optional(),
  kubeconfig: text.optional(),
  context: text.optional(),
  // The HPA's CPU start-up periods (kube-controller-manager's
  // --horizontal-pod-autoscaler-cpu-initialization-period and -initial-readiness-delay), per group.
  cpu_initialization_period: duration('nonnegative').optional(),
  initial_readiness_delay: duration('nonnegative').optional(),
  auto_scaling_group: text.optional(),
  region: text.optional(),
  endpoint: z.url().optional(),
  instance_warmup: duration('nonnegative').optional(),
  min_healthy_percentage: percent.optional(),
  monitoring: z.enum(['detailed', 'basic'], { error: 'must be detailed or basic' }).optional(),
  poll_interval: duration('positive').optional(),
  scale_timeout: duration('positive').optional(),
  termination_hook: text.optional(),
  resources: mapping({
    cpu: z.number().positive().optional(),
    memory: z
      .union([z.string(), z.number()], { error: 'expected a size such as 256Mi' })
      .transform(parsedBy(parseByteSize))
      .optional(),
    instance_type: text.optional(),
  }).optional(),
};

/**
 * portEnvIssue refuses an `env` entry for the variable `port_env` names: each instance gets its own
 * port there, which replaced the entry without a word (`env: { PORT: 3000 }` never reached the app).
 */
function portEnvIssue(
  raw: { env: Readonly<Record<string, string>>; port_env: string },
  ctx: z.RefinementCtx,
): void {
  if (!Object.hasOwn(raw.env, raw.port_env)) return;
  ctx.addIssue({
    code: 'custom',
    path: ['env', raw.port_env],
    message: `set per instance to its own port (port_env: ${raw.port_env}), which replaces this value: remove it, or give port_env another variable`,
  });
}

/** groupSchema is one entry of `groups`. */
export const groupSchema = mapping({
  ...localProviderShape,
  ...engineShape,
  min_instances: count.default(1),
  max_instances: atLeastOne.optional(),
  initial_instances: count.optional(),
  health_path: httpPath.optional(),
  role: z.enum(['service', 'worker']).default('service'),
  scaling: scalingSchema.optional(),
})
  .superRefine((raw, ctx) => {
    if (raw.role === 'worker' && raw.health_path !== undefined)
      ctx.addIssue({ code: 'custom', path: ['health_path'], message: 'a worker group has no health path' });
    const counts = { min: raw.min_instances, max: raw.max_instances, initial: raw.initial_instances };
    for (const issue of instanceBoundsIssues(counts)) {
      ctx.addIssue({ code: 'custom', path: [`${issue.key}_instances`], message: issue.message });
    }
    // Defaulting max to min would silently turn autoscaling off.
    if (raw.scaling !== undefined && raw.max_instances === undefined) {
      ctx.addIssue({ code: 'custom', path: ['max_instances'], message: 'required when scaling is set' });
    }
    const kind = (raw as { provider?: (typeof PROVIDERS)[number] }).provider ?? 'local';
    if (kind === 'local') portEnvIssue(raw, ctx);
    memoryMetricIssues(raw.scaling, kind, raw.resources?.memory, ctx);
    if (kind === 'kubernetes' && (raw as { mode?: string }).mode === 'hpa') {
      // In mode: hpa Kubernetes reads CPU, with the periods of its controller manager's flags.
      for (const [key, flag] of [
        ['cpu_initialization_period', 'cpu-initialization-period'],
        ['initial_readiness_delay', 'initial-readiness-delay'],
      ] as const)
        if (raw[key] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `has no effect in mode: hpa, where the HPA reads CPU itself: set kube-controller-manager's --horizontal-pod-autoscaler-${flag} instead, or use mode: controller`,
          });
      hpaMetricIssues(raw.scaling, ctx);
      const written = (raw.scaling as { behaviorWritten?: WrittenBehavior } | undefined)?.behaviorWritten;
      for (const issue of hpaBehaviorIssues(written ?? {}))
        ctx.addIssue({
          code: 'custom',
          path: ['scaling', 'behavior', ...issue.path],
          message: issue.message,
        });
    }
    if (!PROVIDERS.includes(kind)) return;
    const required = { local: 'command', kubernetes: 'name', aws: 'auto_scaling_group' }[kind];
    if ((raw as Record<string, unknown>)[required] === undefined)
      ctx.addIssue({ code: 'custom', path: [required], message: `required for provider ${kind}` });
    if (kind === 'kubernetes') {
      // They go into the API paths: the API server would answer a broken one with a 404 naming no rule.
      const { namespace, name } = raw as { namespace?: unknown; name?: unknown };
      const issues = [
        [
          'namespace',
          typeof namespace === 'string' && namespace !== '' ? dns1123LabelIssue(namespace) : undefined,
        ],
        ['name', typeof name === 'string' && name !== '' ? dns1123SubdomainIssue(name) : undefined],
      ] as const;
      for (const [key, message] of issues)
        if (message !== undefined) ctx.addIssue({ code: 'custom', path: [key], message });
    }
    // A key several other providers share (scale_timeout) is one issue naming them all.
    const owners = new Map<string, string[]>();
    for (const [other, keys] of Object.entries(PROVIDER_KEYS)) {
      for (const key of keys) {
        if (other === kind || PROVIDER_KEYS[kind].includes(key)) continue;
        if (
          Object.hasOwn(raw, key) &&
          (raw as Record<string, unknown>)[key] !== undefined &&
          !(other === 'local' && LOCAL_DEFAULTED.has(key))
        )
          owners.set(key, [...(owners.get(key) ?? []), other]);
      }
    }
    for (const [key, others] of owners)
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `belongs to provider ${others.join(' or ')}, not ${kind}`,
      });
  }, whenMapping)
  .transform((raw): GroupDraft => {
    const maxInstances = raw.max_instances ?? defaultMaxInstances(raw.min_instances);
    return {
      minInstances: raw.min_instances,
      maxInstances,
      initialInstances: raw.initial_instances ?? raw.min_instances,
      healthPath: raw.health_path,
      role: raw.role,
      provider: providerDraft(raw),
      ...(raw.resources === undefined ? {} : { resources: resourcesConfig(raw.resources) }),
      ...(raw.scaling === undefined ? {} : { scaling: raw.scaling }),
    };
  });

/**
 * hpaMetricIssues checks a `mode: hpa` group's metrics against the HPA Scaleplane writes for it: one
 * Resource metric, cpu Utilization, at the `cpu` metric's target. Before, the first metric's target
 * went into it whatever its kind: `latency: { target: 200 }` wrote cpu 200 %, `[rps 20, cpu 60]`
 * cpu 20 %, while `validate` and `status` said the group scaled on latency or rps.
 */
function hpaMetricIssues(scaling: unknown, ctx: z.RefinementCtx): void {
  const metrics = (scaling as { metrics?: unknown } | undefined)?.metrics;
  if (!Array.isArray(metrics)) return;
  metrics.forEach((metric: { type?: string } | undefined, index) => {
    if (metric?.type === undefined || metric.type === 'cpu') return;
    ctx.addIssue({
      code: 'custom',
      path: ['scaling', 'metrics', index, metric.type],
      message: `mode: hpa writes an HPA on cpu utilization only; scale on cpu, or set mode: controller to scale on ${metric.type}`,
    });
  });
}

/**
 * memoryMetricIssues checks a group's `memory` metrics against the group: they are read from local
 * processes and from Kubernetes pods (metrics-server) only, at most one per group, and a local
 * group's `target` (percent) needs `resources.memory` to be a percent of (a pod's is of its requests). `scaling` may be raw input when it failed to parse: then it has no `type` to check.
 */
function memoryMetricIssues(
  scaling: unknown,
  provider: string,
  memoryLimit: number | undefined,
  ctx: z.RefinementCtx,
): void {
  const metrics = (scaling as { metrics?: unknown } | undefined)?.metrics;
  if (!Array.isArray(metrics)) return;
  let seen = false;
  metrics.forEach((metric: { type?: string; targetType?: string } | undefined, index) => {
    if (metric?.type !== 'memory') return;
    const path = ['scaling', 'metrics', index, 'memory'];
    if (seen) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: 'one memory metric per group: keep target or average_value',
      });
    }
    seen = true;
    if (provider !== 'local' && provider !== 'kubernetes') {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `memory is measured on local instances' processes and on Kubernetes pods (metrics-server), not on provider ${provider}`,
      });
      // A Kubernetes group's target is a percent of its pods' memory requests, read with their usage.
    } else if (provider === 'local' && metric.targetType === 'Utilization' && memoryLimit === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'target'],
        message:
          "a memory target is a percent of each instance's memory limit, and this group has none: set resources.memory (such as 512Mi), or scale on average_value (such as 256Mi) instead",
      });
    }
  });
}

type LocalProviderRaw = z.output<z.ZodObject<typeof localProviderShape>>;
type EngineRaw = z.output<z.ZodObject<typeof engineShape>>;

/** Keys the local shape defaults; they are not "set" on other providers' groups. */
const LOCAL_DEFAULTED = new Set([
  'port_env',
  'env',
  'host',
  'start_timeout',
  'stop_timeout',
  'min_ready',
  'crash_loop',
  'log_lines_per_second',
]);

function resourcesConfig(raw: NonNullable<EngineRaw['resources']>): ResourcesConfig {
  return {
    ...(raw.cpu === undefined ? {} : { cpu: raw.cpu }),
    ...(raw.memory === undefined ? {} : { memory: raw.memory }),
    ...(raw.instance_type === undefined ? {} : { instanceType: raw.instance_type }),
  };
}

function providerDraft(raw: LocalProviderRaw & EngineRaw): GroupDraft['provider'] {
  if (raw.provider === 'kubernetes') {
    return {
      provider: 'kubernetes',
      namespace: raw.namespace ?? 'default',
      name: raw.name ?? '',
      kind: raw.kind ?? 'Deployment',
      port: raw.port ?? 80,
      mode: raw.mode ?? 'controller',
      ...(raw.container === undefined ? {} : { container: raw.container }),
      ...(raw.kubeconfig === undefined ? {} : { kubeconfig: raw.kubeconfig }),
      ...(raw.context === undefined ? {} : { context: raw.context }),
      ...(raw.scale_timeout === undefined ? {} : { scaleTimeout: raw.scale_timeout }),
      // kube-controller-manager's defaults (metrics/pod-usage.ts HPA_CPU_READINESS): 5 min and 30 s.
      cpuInitializationPeriod: raw.cpu_initialization_period ?? 300_000,
      initialReadinessDelay: raw.initial_readiness_delay ?? 30_000,
    };
  }
  if (raw.provider === 'aws') {
    return {
      provider: 'aws',
      autoScalingGroup: raw.auto_scaling_group ?? '',
      port: raw.port ?? 80,
      instanceWarmup: raw.instance_warmup ?? 60_000,
      minHealthyPercentage: raw.min_healthy_percentage ?? 90,
      pollInterval: raw.poll_interval ?? 5_000,
      ...(raw.region === undefined ? {} : { region: raw.region }),
      ...(raw.endpoint === undefined ? {} : { endpoint: raw.endpoint }),
      ...(raw.monitoring === undefined ? {} : { monitoring: raw.monitoring }),
      ...(raw.scale_timeout === undefined ? {} : { scaleTimeout: raw.scale_timeout }),
      ...(raw.termination_hook === undefined ? {} : { terminationHook: raw.termination_hook }),
    };
  }
  return localProvider(raw);
}

function localProvider(raw: LocalProviderRaw): GroupDraft['provider'] {
  return {
    provider: 'local',
    command: raw.command ?? '',
    cwd: raw.cwd,
    portEnv: raw.port_env,
    env: raw.env,
    host: raw.host,
    ...(raw.port_range === undefined ? {} : { portRange: raw.port_range }),
    startTimeout: raw.start_timeout,
    stopTimeout: raw.stop_timeout,
    minReady: raw.min_ready,
    crashLoopLimit: raw.crash_loop.limit,
    crashLoopWindow: raw.crash_loop.window,
    logLinesPerSecond: raw.log_lines_per_second,
  };
}

// ---------------------------------------------------------------------------------------------
// Files

const sections = {
  api: apiSchema.prefault({}),
  balancer: balancerSchema.prefault({}),
  controller: controllerSchema.prefault({}),
  alerts: alertsSchema.optional(),
  limits: limitsSchema.optional(),
};

const groupsSchema = z
  .record(
    z.string().regex(GROUP_NAME, {
      error:
        'group names are lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit',
    }),
    groupSchema,
    {
      error: (issue) =>
        issue.input === undefined
          ? 'define at least one group, or write the short form with a top-level command'
          : undefined,
    },
  )
  .refine((groups) => Object.keys(groups).length > 0, { error: 'define at least one group' });

const SHORT_FORM_ONLY = 'belongs to the short form; with groups, set it inside a group';

/**
 * TOP_LEVEL_LISTEN_HINTS answer a top-level `listen`, as an NGINX user writes first: the file has
 * two listeners, and the bare `unknown key` did not say where either is set. (A top-level `port` is
 * left alone: in the short form it is a group key, `port` of a Kubernetes or AWS engine.)
 */
const TOP_LEVEL_LISTEN_HINTS: Readonly<Record<string, string>> = {
  listen:
    'unknown key: set balancer.listen (where clients connect, default 127.0.0.1:8080) and api.listen (the control API, default 127.0.0.1:9090), e.g. balancer: { listen: 127.0.0.1:18080 }',
};

/**
 * listenersClash is the issue of an API and a balancer given one address: `up` would fail with
 * EADDRINUSE on its own API, which reads like another program holding the port. Port 0 picks a free
 * port each; a wildcard host (0.0.0.0, ::) takes the port on every address.
 */
function listenersClash(
  raw: { api: { listen: HostPort }; balancer: { listen: HostPort } },
  ctx: z.RefinementCtx,
): void {
  const api = raw.api.listen;
  const balancer = raw.balancer.listen;
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  if (api.port === 0 || api.port !== balancer.port) return;
  if (api.host !== balancer.host && !wildcard(api.host) && !wildcard(balancer.host)) return;
  // Blamed on api.listen unless it holds its default, which a file setting only balancer.listen
  // (to 9090) leaves it: the issue named api.listen at line 1, a key the file does not have.
  const apiDefault = api.host === DEFAULT_LISTEN_HOST && api.port === DEFAULT_API_PORT;
  const [at, other, address] = apiDefault
    ? (['balancer', 'api.listen', formatListen(api)] as const)
    : (['api', 'balancer.listen', formatListen(balancer)] as const);
  ctx.addIssue({
    code: 'custom',
    path: [at, 'listen'],
    message: `port ${api.port} is ${other}'s too (${address}): give the API and the balancer different ports`,
  });
}

/** fullFormSchema is a whole file with `groups`. */
export const fullFormSchema = mapping(
  { ...sections, routes: routesSchema.default([]), groups: groupsSchema },
  { ...Object.fromEntries(SHORT_FORM_KEYS.map((key) => [key, SHORT_FORM_ONLY])), ...TOP_LEVEL_LISTEN_HINTS },
)
  .superRefine((raw, ctx) => {
    listenersClash(raw, ctx);
    const total = raw.limits?.maxInstancesTotal;
    const initial = Object.values(raw.groups).reduce((sum, group) => sum + group.initialInstances, 0);
    if (total !== undefined && initial > total)
      ctx.addIssue({
        code: 'custom',
        path: ['limits', 'max_instances_total'],
        message: `the groups start with ${initial} instances (initial_instances, else min_instances); raise it or lower them`,
      });
    if (raw.balancer.cache !== undefined && raw.routes.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['balancer', 'cache'],
        message: 'caches the default route, which routes replace: give each route its own cache instead',
      });
    raw.routes.forEach((route, index) => {
      if (!Object.hasOwn(raw.groups, route.group)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'group'],
          message: `no group "${route.group}"`,
        });
      }
      // First match wins: a route behind one that takes all its requests was accepted and never used.
      const earlier = raw.routes.findIndex((other, at) => at < index && routeCovers(other, route));
      if (earlier !== -1)
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index],
          message: `never used: routes.${earlier} comes first and takes every request this one matches (the first match wins); put the narrower route first`,
        });
    });
  })
  .transform(
    (raw): ConfigDraft => ({
      api: raw.api,
      balancer: raw.balancer,
      routes: raw.routes,
      controller: raw.controller,
      groups: raw.groups,
      ...(raw.alerts === undefined ? {} : { alerts: raw.alerts }),
      ...(raw.limits === undefined ? {} : { limits: raw.limits }),
    }),
  );

const shortScalingSchema = mapping({
  min_instances: count.default(1),
  max_instances: atLeastOne,
  threshold: z.number().positive(),
}).superRefine((raw, ctx) => {
  for (const issue of instanceBoundsIssues({
    min: raw.min_instances,
    max: raw.max_instances,
    initial: undefined,
  })) {
    ctx.addIssue({ code: 'custom', path: [`${issue.key}_instances`], message: issue.message });
  }
}, whenMapping);

/**
 * shortFormSchema is a whole file describing one group `web` at the top level:
 * `command` plus optional `scaling: {min_instances, max_instances, threshold}` (CPU percent).
 */
export const shortFormSchema = mapping(
  {
    ...sections,
    command: text,
    port_env: localProviderShape.port_env,
    env: localProviderShape.env,
    cwd: localProviderShape.cwd,
    health_path: httpPath.optional(),
    scaling: shortScalingSchema.optional(),
  },
  shortFormHints(),
)
  .superRefine((raw, ctx) => {
    listenersClash(raw, ctx);
    portEnvIssue(raw, ctx);
  })
  .transform((raw): ConfigDraft => {
    const scaling = raw.scaling;
    // Parse the implied full-form group so that its defaults live in one place.
    const group = groupSchema.parse({
      command: raw.command,
      port_env: raw.port_env,
      env: raw.env,
      cwd: raw.cwd,
      health_path: raw.health_path,
      ...(scaling === undefined
        ? { min_instances: 1, max_instances: 1 }
        : {
            min_instances: scaling.min_instances,
            max_instances: scaling.max_instances,
            scaling: { metrics: [{ cpu: { target: scaling.threshold } }] },
          }),
    });
    return {
      api: raw.api,
      balancer: raw.balancer,
      routes: [],
      controller: raw.controller,
      groups: { [SHORT_FORM_GROUP]: group },
      ...(raw.alerts === undefined ? {} : { alerts: raw.alerts }),
      ...(raw.limits === undefined ? {} : { limits: raw.limits }),
    };
  });

function shortFormHints(): Record<string, string> {
  const hints: Record<string, string> = {};
  for (const key of Object.keys(groupSchema.in.shape)) {
    hints[key] = 'needs the full form: put the group under groups.<name>';
  }
  for (const key of Object.keys(shortScalingSchema.shape)) {
    hints[key] = 'belongs under scaling';
  }
  // Routes pick among named groups, and the short form has only its one implied group.
  hints.routes = 'needs the full form: routes send requests to groups, so put the group under groups.<name>';
  return { ...hints, ...TOP_LEVEL_LISTEN_HINTS };
}

/** ConfigForm says which of the two file shapes a document uses. */
export type ConfigForm = 'full' | 'short';

/**
 * detectForm tells the short form (a top-level `command` or `scaling`, no `groups`) from the full
 * form. Anything else is read as the full form, so its errors speak of `groups`.
 */
export function detectForm(raw: unknown): ConfigForm {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'full';
  if (Object.hasOwn(raw, 'groups')) return 'full';
  return SHORT_FORM_KEYS.some((key) => Object.hasOwn(raw, key)) ? 'short' : 'full';
}

/** schemaFor returns the schema for the form `raw` is written in. */
export function schemaFor(raw: unknown): typeof fullFormSchema | typeof shortFormSchema {
  return detectForm(raw) === 'short' ? shortFormSchema : fullFormSchema;
}

/** ResolveOptions carries what a draft is resolved against. */
export interface ResolveOptions {
  /** Folder relative `cwd`s are resolved against, normally the config file's folder. */
  baseDir: string;
  /** Absolute path of the config file, if any. */
  source?: string;
}

/**
 * resolveConfig finishes a draft: each group gets its name, an absolute `cwd` (the config file's
 * folder unless set) and `balancer.health.path` as its health path unless set.
 */
export function resolveConfig(draft: ConfigDraft, options: ResolveOptions): Config {
  const groups: Record<string, GroupConfig> = {};
  for (const [name, group] of Object.entries(draft.groups)) {
    groups[name] = {
      name,
      minInstances: group.minInstances,
      maxInstances: group.maxInstances,
      initialInstances: group.initialInstances,
      // A worker is ready once it runs: no path to probe.
      healthPath: group.role === 'worker' ? '' : (group.healthPath ?? draft.balancer.health.path),
      role: group.role,
      provider:
        group.provider.provider === 'local'
          ? { ...group.provider, cwd: resolveCwd(options.baseDir, group.provider.cwd) }
          : group.provider,
      ...(group.resources === undefined ? {} : { resources: group.resources }),
      ...(group.scaling === undefined ? {} : { scaling: resolveScaling(options.baseDir, group.scaling) }),
    };
  }
  const api =
    draft.api.tls === undefined
      ? draft.api
      : { ...draft.api, tls: resolveTls(options.baseDir, draft.api.tls) };
  return {
    api:
      api.tokenFile === undefined ? api : { ...api, tokenFile: resolveCwd(options.baseDir, api.tokenFile) },
    balancer: resolveBalancer(options.baseDir, draft.balancer),
    routes: draft.routes,
    controller: draft.controller,
    groups,
    ...(draft.alerts === undefined ? {} : { alerts: draft.alerts }),
    ...(draft.limits === undefined ? {} : { limits: draft.limits }),
    ...(options.source === undefined ? {} : { source: options.source }),
  };
}

/** resolveBalancer resolves the balancer's file paths (TLS files, Cloudflare token file). */
function resolveBalancer(baseDir: string, balancer: BalancerConfig): BalancerConfig {
  const cloudflare = balancer.cloudflare;
  return {
    ...balancer,
    ...(balancer.tls === undefined ? {} : { tls: resolveTls(baseDir, balancer.tls) }),
    ...(cloudflare?.tokenFile === undefined
      ? {}
      : { cloudflare: { ...cloudflare, tokenFile: resolveCwd(baseDir, cloudflare.tokenFile) } }),
  };
}

/** resolveScaling resolves the file paths of a group's metrics (a Prometheus token and CA). */
function resolveScaling(baseDir: string, scaling: ScalingConfig): ScalingConfig {
  const metrics = scaling.metrics.map((metric): MetricConfig => {
    if (metric.type !== 'prometheus') return metric;
    return {
      ...metric,
      ...(metric.bearerTokenFile === undefined
        ? {}
        : { bearerTokenFile: resolveCwd(baseDir, metric.bearerTokenFile) }),
      ...(metric.caFile === undefined ? {} : { caFile: resolveCwd(baseDir, metric.caFile) }),
    };
  });
  return { ...scaling, metrics };
}

function resolveTls(baseDir: string, tls: TlsConfig): TlsConfig {
  return { cert: resolveCwd(baseDir, tls.cert), key: resolveCwd(baseDir, tls.key) };
}

function resolveCwd(baseDir: string, cwd: string | undefined): string {
  if (cwd === undefined) return resolve(baseDir);
  return isAbsolute(cwd) ? cwd : resolve(baseDir, cwd);
}
