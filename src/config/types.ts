/**
 * The resolved, validated configuration every other module consumes.
 * YAML keys are snake_case and durations are strings ("30s"); here everything is camelCase,
 * durations are milliseconds and paths are absolute.
 */

/** HostPort is a parsed `host:port` listen address (`[::1]:8080` for IPv6). */
export interface HostPort {
  host: string;
  port: number;
}

/** BalancerAlgorithm names the built-in backend pickers. */
export type BalancerAlgorithm = 'round-robin' | 'least-connections' | 'p2c' | 'ewma' | 'consistent-hash';

/** TlsConfig serves a listener over HTTPS (TLS); both are PEM files, resolved against the config's folder. */
export interface TlsConfig {
  /** Certificate chain (PEM). */
  cert: string;
  /** Private key of the certificate (PEM, unencrypted). */
  key: string;
}

/** HealthCheckConfig is an active HTTP health check against each instance. */
export interface HealthCheckConfig {
  /** @defaultValue '/healthz' */
  path: string;
  /** @defaultValue 1000 (ms) */
  interval: number;
  /** @defaultValue 1000 (ms) */
  timeout: number;
  /** Consecutive failures that take an instance out of rotation. @defaultValue 2 */
  unhealthyThreshold: number;
  /** Consecutive successes that bring it back. @defaultValue 1 */
  healthyThreshold: number;
  /**
   * An instance failing its checks this long is replaced by its provider (new one ready first);
   * 0 = never. Not while the group is in panic. @defaultValue 30000 (ms)
   */
  replaceAfter?: number;
}

/** BalancerConfig configures the built-in HTTP load balancer. */
export interface BalancerConfig {
  /** @defaultValue 127.0.0.1:8080 */
  listen: HostPort;
  /** Serve clients over HTTPS; absent: plain HTTP. Backends are always plain HTTP. */
  tls?: TlsConfig;
  /**
   * Offer HTTP/2 to clients on the TLS listener (ALPN `h2`, else HTTP/1.1); backends stay HTTP/1.1.
   * `true` needs `tls` (no cleartext h2c). @defaultValue true with `tls`
   */
  http2?: boolean;
  /** Default chosen by bench/balancer/algorithms.ts; see README. @defaultValue 'ewma' */
  algorithm: BalancerAlgorithm;
  health: HealthCheckConfig;
  /** Whole-request timeout towards a backend. @defaultValue 60000 (ms) */
  requestTimeout: number;
  /** Longest wait for in-flight requests of a removed instance. @defaultValue 30000 (ms) */
  drainTimeout: number;
  /**
   * Longest `start` keeps the balancer's port closed while the groups come up (instances adopted
   * after a restart pass their health check, new ones start); past it, the port opens anyway.
   * 0 = open at once. @defaultValue 10000 (ms)
   */
  warmupTimeout?: number;
  /** What consistent-hash hashes on: `ip`, `header:NAME` or `cookie:NAME`. @defaultValue 'ip' */
  hashKey: string;
  /** Passive outlier detection on proxied traffic. */
  outlier: OutlierConfig;
  /** Retry budget: retries allowed = minPerSecond × window + percent of requests in the window. */
  retryBudget: RetryBudgetConfig;
  /** Weight of a freshly added instance ramps from 10% to 100% over this window; 0 = off. @defaultValue 0 */
  slowStart: number;
  /** Idle keep-alive sockets to backends close after this; keep it below the backends' own. @defaultValue 4000 (ms) */
  upstreamKeepAliveTimeout: number;
  /**
   * Idle HTTP/1.1 client connections close after this (NGINX's `keepalive_timeout`). Keep it above
   * the idle timeout of any load balancer in front (AWS ALB: 60 s), or that balancer races the
   * close and answers its client 502. @defaultValue 75000 (ms)
   */
  clientKeepAliveTimeout?: number;
  /**
   * Longest a connection to a backend may take to open; past it the request, which the backend never
   * saw, is retried on another instance whatever its method (NGINX's proxy_connect_timeout, Envoy's
   * connect_timeout). Must be below `requestTimeout`, which would otherwise cut the request first.
   * @defaultValue 10000 (ms), or a third of `requestTimeout` when that is shorter, so that each of
   * a request's attempts (one and at most 2 retries) has its connect within the request's time
   */
  connectTimeout?: number;
  /**
   * Longest one try may take to get response headers from a backend (Envoy's
   * `retry_policy.per_try_timeout`; NGINX's `proxy_read_timeout` with `proxy_next_upstream timeout`),
   * from its start, or from the end of the client's body when that was still arriving. Past it the
   * try is cut, counted as an upstream timeout, and retried on another instance only when a reset
   * would be (a bodiless idempotent request or one with an Idempotency-Key), within the retry budget
   * and limit; otherwise the client gets a 504. Response bodies already streaming are not timed.
   * Must be below `requestTimeout`, which bounds all tries together. @defaultValue off
   */
  perTryTimeout?: number;
  /**
   * An open WebSocket tunnel over which neither the client nor the backend sent anything for this
   * long is closed, both its connections (NGINX's `proxy_read_timeout`, which times an upgraded
   * connection). 0 = never. @defaultValue 60000 (ms)
   */
  websocketIdleTimeout?: number;
  /**
   * Longest a client may take to send its request headers; slower (slowloris) gets 408 and is
   * closed. The whole request must arrive within `requestTimeout`. @defaultValue 10000 (ms)
   */
  headersTimeout?: number;
  /** Largest request body; a bigger one gets 413. @defaultValue 104857600 (100Mi) */
  maxRequestBody: number;
  /** Largest request or response header block; beyond it: 431 to the client, 502 from a backend. @defaultValue 16384 */
  maxHeaderSize: number;
  /** Data-path processes (node:cluster workers); 1 = in the controller's process, 0 = one per core. @defaultValue 1 */
  workers: number;
  /** Drive a real NGINX instead of (or as well as) the built-in data path. */
  nginx?: NginxDriverConfig;
  /** HTTP response cache of the default route (no `routes`: everything to the first group). */
  cache?: HttpCacheConfig;
  /** Purge a Cloudflare zone too on `POST /api/scalability/cache/purge`. */
  cloudflare?: CloudflareConfig;
}

/** HttpCacheConfig is an HTTP response cache in front of a route's group (RFC 9111, shared cache). */
export interface HttpCacheConfig {
  /** `memory`: per process, bounded; `redis`: shared by every process. @defaultValue 'memory' */
  storage: 'memory' | 'redis';
  /** Redis URL, required for `redis` storage. */
  redisUrl?: string;
  /** Prefix of every Redis key. @defaultValue 'scaleplane:http:' */
  keyPrefix: string;
  /** Most keys a memory store holds. @defaultValue 10000 */
  maxEntries: number;
  /** Most bytes a memory store holds. @defaultValue 67108864 (64Mi) */
  maxBytes: number;
  /** Largest response body stored; bigger ones pass through. @defaultValue 1048576 (1Mi) */
  maxObjectSize: number;
  /** Lifetime of a response without explicit freshness; 0 = not stored (no heuristic freshness). @defaultValue 0 */
  defaultTtl: number;
  /** stale-while-revalidate window when a response names none (ms). @defaultValue 0 */
  staleWhileRevalidate: number;
  /** stale-if-error window when a response names none (ms). @defaultValue 0 */
  staleIfError: number;
  /** How long a stale response is kept, to revalidate it or for a client's max-stale (ms). @defaultValue 60000 */
  keepStale: number;
  /**
   * A HEAD miss is fetched from the backend as a GET and stored, so later GETs hit (NGINX's
   * proxy_cache_convert_head); off, HEAD misses pass through as HEAD. @defaultValue true
   */
  convertHead: boolean;
  /** Response header whose values tag a response for purge by tag. @defaultValue 'Cache-Tag' */
  tagHeader: string;
  /**
   * How long a key whose response was uncacheable (private, no-store, Set-Cookie, too big, no
   * freshness, Vary: *) skips request coalescing: its requests go to the backend at once, in
   * parallel (Varnish's hit-for-miss); a cacheable response ends it sooner; 0 = off (ms).
   * @defaultValue 120000
   */
  hitForMiss: number;
  /**
   * Longest a request waits for another request's fill of its key (NGINX's proxy_cache_lock_timeout),
   * through every refill after failed ones; past it the request goes to the backend itself and
   * its answer is not stored (ms). @defaultValue the balancer's `requestTimeout`
   */
  lockTimeout?: number;
}

/** CloudflareConfig lets a purge call purge the same URLs, prefixes and tags at Cloudflare's edge. */
export interface CloudflareConfig {
  zoneId: string;
  /** Environment variable holding the API token. @defaultValue 'CLOUDFLARE_API_TOKEN' */
  tokenEnv: string;
  /** File holding the API token (wins over `tokenEnv`); absolute. */
  tokenFile?: string;
  /** API base. @defaultValue 'https://api.cloudflare.com/client/v4' */
  apiBase: string;
  /** Turns purge paths (`/a`) into the absolute URLs Cloudflare wants, e.g. `https://www.example.com`. */
  baseUrl?: string;
}

/** OutlierConfig ejects instances that fail real traffic (Envoy's outlier detection). */
export interface OutlierConfig {
  /** Consecutive 5xx answers that eject an instance; 0 = off. @defaultValue 5 */
  consecutive5xx: number;
  /** Consecutive connect failures / resets that eject an instance; 0 = off. @defaultValue 3 */
  consecutiveGatewayErrors: number;
  /** First ejection time; the n-th ejection lasts n × this. @defaultValue 30000 (ms) */
  baseEjectionTime: number;
  /** Longest ejection. @defaultValue 300000 (ms) */
  maxEjectionTime: number;
  /** Largest share of a group ejected at once (at least one instance may be). @defaultValue 50 */
  maxEjectionPercent: number;
  /** Below this percent of usable instances the group panics and uses all of them. @defaultValue 50 */
  panicThreshold: number;
}

/** RetryBudgetConfig caps retries so they cannot storm an overloaded group. */
export interface RetryBudgetConfig {
  /** Retries allowed as a percent of requests over the last 10 s. @defaultValue 20 */
  percent: number;
  /** Retries per second always allowed, whatever the traffic. @defaultValue 10 */
  minPerSecond: number;
}

/** NginxDriverConfig renders upstreams for a real NGINX and reloads it. */
export interface NginxDriverConfig {
  /** File NGINX includes (inside its `http {}`), rewritten on every membership change. */
  includeFile: string;
  /** Command that validates the config. @defaultValue 'nginx -t' */
  testCommand: string;
  /** Command that reloads NGINX gracefully. @defaultValue 'nginx -s reload' */
  reloadCommand: string;
  /** Changes within this window are rendered and reloaded once. @defaultValue 500 (ms) */
  debounce: number;
  /** `least_conn` or `random two least_conn` in each upstream. @defaultValue 'least_conn' */
  method: 'least_conn' | 'random-two-least-conn' | 'round-robin';
  /** Idle keep-alive connections per worker per upstream. @defaultValue 64 */
  keepalive: number;
  /** NGINX passive health: failures within fail_timeout that mark a server down. @defaultValue 3 */
  maxFails: number;
  /** @defaultValue 10000 (ms) */
  failTimeout: number;
  /**
   * The running master's pid file (NGINX's `pid` directive). Set, a reload counts only once the
   * master started new workers (none: it refused the config), and a scale-in stops an instance only
   * after the workers that ran before that reload have finished their requests and exited.
   * Absent, the driver asks NGINX (`test_command` with `-T`, then `-V`) at its first sync, or takes
   * the file a `kill -HUP $(cat FILE)` reload_command signals.
   */
  pidFile?: string;
  /**
   * File the driver writes the NGINX timeouts nearest the balancer's into (`proxy_connect_timeout`
   * from `connect_timeout`, `proxy_read_timeout` and others from `request_timeout`, see
   * renderLocationTimeouts) and the built-in balancer's retry rules (`proxy_next_upstream_tries`,
   * `proxy_next_upstream`), for nginx.conf to include in each `location` that proxies to a group.
   * Absent, none is written and NGINX keeps its own timeouts and retries.
   */
  locationIncludeFile?: string;
}

/** RouteConfig sends requests matching a host and/or path prefix to a group. */
export interface RouteConfig {
  /** Exact host (port ignored), case-insensitive; `*.example.com` matches subdomains. Absent: any. */
  host?: string;
  /** Path prefix; absent: `/`. */
  pathPrefix?: string;
  group: string;
  /** Overrides `balancer.algorithm` for this route's group. */
  algorithm?: BalancerAlgorithm;
  /** HTTP response cache for this route. */
  cache?: HttpCacheConfig;
}

/** ApiConfig configures the control API. */
export interface ApiConfig {
  /** @defaultValue 127.0.0.1:9090 */
  listen: HostPort;
  /** Serve the API (and dashboard, /metrics) over HTTPS; absent: plain HTTP. */
  tls?: TlsConfig;
  /**
   * File of API tokens, one per line: `NAME ROLE TOKEN` (ROLE is `read` or `admin`; `#` starts a
   * comment). Absolute, resolved against the config file's folder.
   */
  tokenFile?: string;
  /** Failed authentications per client address per minute before 429. @defaultValue 10 */
  authFailuresPerMinute: number;
  /** Scale and resize calls per token per minute before 429. @defaultValue 60 */
  scaleRequestsPerMinute: number;
  /** `/metrics` answers without a token (for scrapers that cannot send one); else it wants a read or admin token. @defaultValue false */
  publicMetrics: boolean;
  /** Live streams (`/api/scalability/stream`) one token may hold open at once before 429. @defaultValue 10 */
  maxStreamsPerToken: number;
  /** Live streams open at once over all tokens before 429. @defaultValue 100 */
  maxStreams: number;
}

/**
 * CpuMetricConfig scales on average CPU per instance, in percent of the instance's CPU size
 * (`resources.cpu` or the last resize), or of one core when it has none.
 */
export interface CpuMetricConfig {
  type: 'cpu';
  /** Target average CPU percent per instance (100 = its whole CPU size, or one full core without one). */
  target: number;
}

/**
 * MemoryMetricConfig scales a local group on its instances' memory, as HPA's Resource metric for
 * memory: the working set of each instance's cgroup, else the RSS of its process group.
 */
export interface MemoryMetricConfig {
  type: 'memory';
  /** Percent of each instance's memory limit (`Utilization`), or bytes per instance (`AverageValue`). */
  target: number;
  /** HPA's target types: `target: 80` is `Utilization`, `average_value: 256Mi` is `AverageValue`. */
  targetType: 'Utilization' | 'AverageValue';
}

/** PrometheusMetricConfig scales on a PromQL instant query: its sum / target = instances. */
export interface PrometheusMetricConfig {
  type: 'prometheus';
  /** Per-instance share of the query's value. */
  target: number;
  query: string;
  /** @defaultValue 'http://127.0.0.1:9090' */
  url: string;
  /** An answer with `warnings` (possibly partial data) is `missing` or its value is `use`d. @defaultValue 'missing' */
  onWarnings: 'missing' | 'use';
  /**
   * How long Prometheus may evaluate the query, ms: its `timeout` parameter (the HTTP request waits
   * a second longer). @defaultValue 5000
   */
  timeout: number;
  /** `Authorization: Bearer <the file's content>`, read on every query (absolute once resolved). */
  bearerTokenFile?: string;
  /** PEM of the CA(s) an https Prometheus's certificate is checked against (absolute once resolved). */
  caFile?: string;
  /** More request headers, such as `X-Scope-OrgID`. */
  headers?: Record<string, string>;
}

/**
 * RabbitMqMetricConfig scales on a queue's depth (`length`: messages / target = instances) or on
 * its publish rate (`rate`: messages/s / target = instances, from the management HTTP API).
 */
export interface RabbitMqMetricConfig {
  type: 'rabbitmq';
  /** Messages per instance (`length`) or messages/s per instance (`rate`). */
  target: number;
  /** @defaultValue 'amqp://127.0.0.1' */
  url: string;
  queue: string;
  /** @defaultValue 'length' */
  mode: 'length' | 'rate';
  /**
   * The management API's base URL. `rate`: @defaultValue derived from `url` (port 15672).
   * `length`: when set, the depth is read there as ready + unacknowledged messages (KEDA's
   * QueueLength over HTTP); without it, over AMQP, as ready messages only.
   */
  managementUrl?: string;
}

/** RedisMetricConfig scales on a list's or stream's length (or a stream consumer group's backlog). */
export interface RedisMetricConfig {
  type: 'redis';
  /** Items per instance. */
  target: number;
  /** @defaultValue 'redis://127.0.0.1:6379' */
  url: string;
  key: string;
  /** Stream consumer group: its lag + pending instead of the stream's length. */
  group?: string;
  /** Find the master through Redis Sentinel (`url` then gives only credentials, database and TLS). */
  sentinel?: { name: string; sentinels: HostPort[] };
  /** Redis Cluster seed nodes (`url` then gives only credentials and TLS). */
  cluster?: HostPort[];
}

/** NatsMetricConfig scales on a JetStream consumer's pending + unacknowledged messages. */
export interface NatsMetricConfig {
  type: 'nats';
  /** Messages per instance. */
  target: number;
  /** @defaultValue 'nats://127.0.0.1:4222' */
  url: string;
  stream: string;
  consumer: string;
  /** The consumer's filter subject: a consumer not made yet reads as the stream's messages on it. */
  filterSubject?: string;
  /**
   * The subject prefix the connection takes JetStream replies on, for a user allowed to subscribe
   * only there (as the queue backend's `nats.inboxPrefix`). @defaultValue '_INBOX'
   */
  inboxPrefix?: string;
}

/** BalancerMetricConfig scales on the balancer's requests in flight or per second, per instance. */
export interface BalancerMetricConfig {
  type: 'inflight' | 'rps';
  target: number;
}

/** LatencyMetricConfig scales on a percentile of the group's latency through the balancer, in ms. */
export interface LatencyMetricConfig {
  type: 'latency';
  /** Milliseconds. */
  target: number;
  /** @defaultValue 95 */
  percentile: number;
}

/** MetricConfig is one scaling signal. */
export type MetricConfig =
  | CpuMetricConfig
  | MemoryMetricConfig
  | PrometheusMetricConfig
  | RabbitMqMetricConfig
  | RedisMetricConfig
  | NatsMetricConfig
  | BalancerMetricConfig
  | LatencyMetricConfig;

/** ScalingConfig is the autoscaling policy of one group. */
export interface ScalingConfig {
  metrics: MetricConfig[];
  /** Relative deviation from target that causes no scaling (HPA's 0.1). @defaultValue 0.1 */
  tolerance: number;
  /** Scale-down stabilization window (HPA default 300 s). @defaultValue 300000 (ms) */
  scaleDownStabilization: number;
  /** Scale-up stabilization window (HPA default 0). @defaultValue 0 (ms) */
  scaleUpStabilization: number;
  /** Window over which CPU is averaged. @defaultValue 30000 (ms) */
  metricWindow: number;
  /** Named policy the group starts from; absent: HPA behavior, warm-up aware, no panic. */
  policy?: ScalingPolicyName;
  /**
   * How long an instance takes from start to ready, ms: with `controller.interval`, a policy's
   * forecast horizon. Absent: learnt from the instances the controller starts (the median of the
   * last 9), an AWS group's `instance_warmup` or 10 s until one is observed.
   */
  startup?: number;
  /** Per-direction tolerance. @defaultValue `tolerance` */
  scaleUpTolerance?: number;
  /** @defaultValue `tolerance` */
  scaleDownTolerance?: number;
  /** HPA rate policies up; absent: +100 % or +4 per 15 s, the larger. */
  scaleUpRate?: RateConfig;
  /** HPA rate policies down; absent: −100 % per 15 s. */
  scaleDownRate?: RateConfig;
  /**
   * True when `behavior` sets anything: as in Kubernetes, an HPA with a behavior runs the
   * documented rules, one without (the `hpa` and `keda` policies) the controller's older path.
   */
  behaviorSet?: boolean;
  /**
   * `behavior` as written, only the keys set (ms): what `mode: hpa` writes into the HPA's
   * `spec.behavior`, leaving Kubernetes' own defaults for the rest. Absent when nothing is set.
   */
  behaviorWritten?: WrittenBehavior;
  /** Knative KPA panic mode; absent: the policy's (off unless `policy` has it); null: off. */
  panic?: PanicConfig | null;
  /** Seasonal forecast provisioned ahead; absent: the policy's; null: off. */
  predictive?: PredictiveConfig | null;
  /** KEDA scale to zero; absent: the policy's; null: off. */
  activation?: ActivationConfig | null;
}

/** ScalingPolicyName is a named policy (`scaleplane simulate --policy`). */
export type ScalingPolicyName =
  | 'default'
  | 'hpa'
  | 'hpa-behavior'
  | 'kpa'
  | 'keda'
  | 'step'
  | 'simple'
  | 'predictive';

/** WrittenBehavior is `scaling.behavior` as written: a direction only when it sets something. */
export interface WrittenBehavior {
  scaleUp?: WrittenDirection;
  scaleDown?: WrittenDirection;
}

/** WrittenDirection is one direction of `scaling.behavior`, only the keys written (ms). */
export interface WrittenDirection {
  stabilizationWindow?: number;
  tolerance?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: { type: 'Pods' | 'Percent'; value: number; period: number }[];
}

/** RateConfig is HPA's `behavior.scaleUp|scaleDown` policies and selectPolicy. */
export interface RateConfig {
  /** @defaultValue 'Max' */
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  /** `period` in ms. */
  policies: { type: 'Pods' | 'Percent'; value: number; period: number }[];
}

/** PanicConfig is KPA's panic mode (all ms). */
export interface PanicConfig {
  /** @defaultValue 6000 */
  window: number;
  /** Panic when panic-window demand / ready reaches this. @defaultValue 2 */
  threshold: number;
  /** @defaultValue 60000 */
  stableWindow: number;
  /** Scale-up factor while the metric sits at its ceiling; 0 = off. @defaultValue 2 */
  saturationFactor: number;
}

/** PredictiveConfig is the seasonal forecast (all durations ms). */
export interface PredictiveConfig {
  /** @defaultValue [1d, 7d] */
  seasons: number[];
  /** @defaultValue 60000 */
  bucket: number;
  /** Instance start-up time + decision interval. @defaultValue 75000 */
  horizon: number;
  /** @defaultValue 0 */
  smoothing: number;
  /** @defaultValue 1800000 */
  trendWindow: number;
  /** Headroom in standard deviations of load noise. @defaultValue 0 */
  deviations: number;
  /** @defaultValue 3600000 */
  deviationWindow: number;
  /** @defaultValue 180000 */
  levelWindow: number;
  /** Utilization the forecast provisions for; absent: the metric's target. */
  utilization?: number;
  /** Price of overload for the learnt next-bucket forecast; absent: no learnt forecast. */
  violationCost?: number;
  /** EWMA factors the learnt forecast chooses among. @defaultValue [1, 0.5, 0.25, 0.1] */
  smoothers?: number[];
  /** Half-life of the learnt forecast's error memory. @defaultValue 86400000 */
  errorHalfLife?: number;
  /** Combine the smoothers by least squares with this ridge; absent: the best one alone. */
  ridge?: number;
  /** The noise follows the last this many squared errors; absent: one learnt constant. */
  noiseLags?: number;
}

/** ActivationConfig is KEDA's scale to zero. */
export interface ActivationConfig {
  /** Active while a metric exceeds this. @defaultValue 0 */
  threshold: number;
  /** Inactivity before scaling to zero, ms. @defaultValue 300000 */
  cooldown: number;
}

/** PortRange is a range of TCP ports, both ends included (`port_range: 20000-29999`). */
export interface PortRange {
  low: number;
  high: number;
}

/** LocalProviderConfig runs instances as child processes on this machine. */
export interface LocalProviderConfig {
  provider: 'local';
  /** Shell command started once per instance. */
  command: string;
  /** Working directory: the config file's folder unless set. */
  cwd: string;
  /** Environment variable that carries the instance's port. @defaultValue 'PORT' */
  portEnv: string;
  /** Extra environment for every instance. @defaultValue {} */
  env: Record<string, string>;
  /** Host the instances listen on and the balancer connects to. @defaultValue '127.0.0.1' */
  host: string;
  /**
   * Ports instances are given, a random free one each (checked by a bind on `host`). Outside the
   * kernel's ephemeral range (ip_local_port_range) no bind(0) or outgoing connection takes a port
   * between the check and the instance's bind. @defaultValue defaultPortRange: 20000-29999, or
   * another range outside ip_local_port_range; bind(0) when none fits
   */
  portRange?: PortRange;
  /** Longest wait for a new instance's health path to answer. @defaultValue 30000 (ms) */
  startTimeout: number;
  /** SIGTERM → SIGKILL grace period. @defaultValue 10000 (ms) */
  stopTimeout: number;
  /**
   * How long a new instance must stay ready before a rolling resize or a replacement counts it
   * available and stops an old one (a Deployment's minReadySeconds). It serves meanwhile.
   * @defaultValue 0 (ms)
   */
  minReady?: number;
  /** Crashes within `crashLoopWindow` that mark the group as crash-looping. @defaultValue 5 */
  crashLoopLimit: number;
  /** @defaultValue 60000 (ms) */
  crashLoopWindow: number;
  /**
   * Output lines per second, per instance, forwarded to Scaleplane's log (bursts of 10 s worth);
   * the rest are counted in one line per 10 s and kept in the instance's log file.
   * @defaultValue 100
   */
  logLinesPerSecond?: number;
}

/** KubernetesProviderConfig scales a Deployment or StatefulSet through its `scale` subresource. */
export interface KubernetesProviderConfig {
  provider: 'kubernetes';
  /** @defaultValue 'default' */
  namespace: string;
  /** Name of the Deployment or StatefulSet. */
  name: string;
  /** @defaultValue 'Deployment' */
  kind: 'Deployment' | 'StatefulSet';
  /** Container port the balancer connects to on each Ready pod's IP. @defaultValue 80 */
  port: number;
  /** Container whose `resources` a resize patches. @defaultValue the first container */
  container?: string;
  /** `controller`: Scaleplane scales; `hpa`: Scaleplane writes an autoscaling/v2 HPA and lets Kubernetes scale. @defaultValue 'controller' */
  mode: 'controller' | 'hpa';
  /** Kubeconfig file. @defaultValue $KUBECONFIG, ~/.kube/config, or the in-cluster service account */
  kubeconfig?: string;
  /** Longest wait for a scale (scaleTo) or a resize's rollout, ms. @defaultValue 600000 (10 min) */
  scaleTimeout?: number;
  /** Kubeconfig context. @defaultValue its current-context */
  context?: string;
  /**
   * While a pod is this young (since its start), its CPU counts only once sampled a full metrics
   * window after it became Ready, as the HPA's `--horizontal-pod-autoscaler-cpu-initialization-period`:
   * start-up CPU (JIT, cache warming) is no load. ms. @defaultValue 300000 (5 min)
   */
  cpuInitializationPeriod?: number;
  /**
   * Past that period, a not-Ready pod's CPU still counts unless it never became Ready within this
   * of its start, as the HPA's `--horizontal-pod-autoscaler-initial-readiness-delay`. ms.
   * @defaultValue 30000 (30 s)
   */
  initialReadinessDelay?: number;
}

/** AwsProviderConfig scales an EC2 Auto Scaling group. */
export interface AwsProviderConfig {
  provider: 'aws';
  /** Auto Scaling group name. */
  autoScalingGroup: string;
  /** @defaultValue the SDK's chain (AWS_REGION, profile) */
  region?: string;
  /** Endpoint override for both Auto Scaling and EC2 (tests, VPC endpoints). */
  endpoint?: string;
  /** Port the balancer connects to on each instance's private IP. @defaultValue 80 */
  port: number;
  /** An instance counts as in service this long after it is InService. @defaultValue 60000 (ms) */
  instanceWarmup: number;
  /** Instance refresh floor; raised as needed so min_instances stay in service. @defaultValue 90 */
  minHealthyPercentage: number;
  /** How often membership is polled. @defaultValue 5000 (ms) */
  pollInterval: number;
  /**
   * The instances' EC2 monitoring, which sets the CloudWatch period a `cpu` metric reads:
   * `detailed` 60 s, `basic` 300 s. @defaultValue 'detailed'
   */
  monitoring?: 'detailed' | 'basic';
  /** Longest wait for a scale, a replacement or a resize, ms. @defaultValue 1800000 (30 min) */
  scaleTimeout?: number;
  /**
   * Name of the group's EC2_INSTANCE_TERMINATING lifecycle hook: an instance the group terminates
   * (instance refresh, its own scale-in) waits in `Terminating:Wait` until Scaleplane drained it
   * and sent CompleteLifecycleAction. @defaultValue none (no drain before such terminations)
   */
  terminationHook?: string;
}

/** ProviderConfig is a group's engine and the fields that engine needs. */
export type ProviderConfig = LocalProviderConfig | KubernetesProviderConfig | AwsProviderConfig;

/** ResourcesConfig is the size of each instance (vertical scaling): `resources: {cpu: 0.5, memory: 256Mi}`. */
export interface ResourcesConfig {
  /** Cores. */
  cpu?: number;
  /** Bytes. */
  memory?: number;
  /** AWS instance type. */
  instanceType?: string;
}

/** GroupConfig is one group of interchangeable instances. */
export interface GroupConfig {
  name: string;
  /** @defaultValue 1 */
  minInstances: number;
  /** Required when `scaling` is set. @defaultValue max(minInstances, 1) */
  maxInstances: number;
  /** Instances to start with. @defaultValue minInstances */
  initialInstances: number;
  /** Health path probed for readiness and by the balancer. @defaultValue balancer.health.path */
  healthPath: string;
  /**
   * `service` instances serve HTTP behind the balancer; `worker` instances (queue consumers) take no
   * traffic and are ready once running. @defaultValue 'service'
   */
  role: 'service' | 'worker';
  provider: ProviderConfig;
  /** Size of each instance; absent: whatever the engine gives. */
  resources?: ResourcesConfig;
  /** Absent: the group is scaled only by hand. */
  scaling?: ScalingConfig;
}

/** ControllerConfig configures the control loop. */
export interface ControllerConfig {
  /** How often metrics → policy → provider runs. @defaultValue 15000 (ms) */
  interval: number;
  /** Decisions kept in memory for the events API. @defaultValue 1000 */
  journalSize: number;
  /** Leader lease: several `scaleplane up` share the groups and one of them leads. Absent: always lead. */
  lease?: LeaseConfig;
  /**
   * Where desired counts, the journal and (local) instances are kept. Absent: the lease's store when
   * a lease is set, else nothing is persisted (local instances stop with the controller).
   */
  state?: StateConfig;
}

/** LeaseConfig is the leader lease of an HA controller. */
export interface LeaseConfig {
  backend: 'redis' | 'postgres';
  /** `redis://…` or `postgres://…`. */
  url: string;
  /** Lease lifetime; renewed every ttl/6, the leader stops acting 2/3 ttl after its last renewal was sent. @defaultValue 6000 (ms) */
  ttl: number;
  /** Key prefix (Redis) or table name (PostgreSQL). @defaultValue 'scaleplane' */
  name: string;
}

/** StateConfig is the store of controller state; shared stores let a successor adopt instances. */
export interface StateConfig {
  backend: 'file' | 'redis' | 'postgres';
  /** Required for redis/postgres. */
  url?: string;
  /** File path (file backend). @defaultValue `.scaleplane-state.json` next to the config */
  path?: string;
  /** Key prefix (Redis) or table name (PostgreSQL). @defaultValue 'scaleplane' */
  name: string;
  /**
   * Folder of local instances' log files (`scaleplane-<id>.log`), which outlive the controller.
   * @defaultValue the state file's folder (file backend); else a private one, created 0700:
   * `$STATE_DIRECTORY/logs` under systemd, else `$XDG_STATE_HOME/scaleplane/logs`, else
   * `~/.local/state/scaleplane/logs` (never the shared /tmp)
   */
  logDir?: string;
}

/**
 * LimitsConfig caps what scaling may do. A manual scale beyond a cap is refused (409, nothing
 * changed); the autoscaler is clamped to the total and journals `TotalInstancesLimit`.
 */
export interface LimitsConfig {
  /** Largest sum of desired instances over every group. Absent: no cap beyond each group's max. */
  maxInstancesTotal?: number;
  /** Largest change of one group's desired count in one API call. Absent: no cap. */
  maxStep?: number;
}

/** Config is a whole, validated Scaleplane configuration. */
export interface Config {
  api: ApiConfig;
  balancer: BalancerConfig;
  /** Host/path routes to groups, first match wins. Empty: everything goes to the first group. @defaultValue [] */
  routes: RouteConfig[];
  controller: ControllerConfig;
  groups: Record<string, GroupConfig>;
  /** Where alerts go; absent: alerts are only logged. */
  alerts?: AlertsConfig;
  /** Caps on scaling across groups; absent: only each group's min/max. */
  limits?: LimitsConfig;
  /** Absolute path of the file this came from, if any. */
  source?: string;
}

/** AlertHttpSinkConfig is what webhook-style sinks share. */
export interface AlertHttpSinkConfig {
  /** Receiver URL (or `urlEnv`, read at start). */
  url?: string;
  /** Environment variable holding the URL, for secret URLs such as Slack's. */
  urlEnv?: string;
  /** Attempts after the first, with exponential backoff. @defaultValue 3 */
  retries: number;
  /** Per-attempt timeout. @defaultValue 5000 (ms) */
  timeout: number;
}

/** AlertSinkConfig is one destination of alerts. */
export type AlertSinkConfig =
  | ({ type: 'webhook'; headers: Record<string, string> } & AlertHttpSinkConfig)
  | ({ type: 'slack'; channel?: string } & AlertHttpSinkConfig)
  | {
      type: 'sentry';
      /** Environment variable holding the DSN. @defaultValue 'SENTRY_DSN' */
      dsnEnv: string;
      /** @defaultValue 'production' */
      environment: string;
      /** @defaultValue true */
      sendResolved: boolean;
    };

/** AlertsConfig is the `alerts` section. */
export interface AlertsConfig {
  /** @defaultValue [] */
  sinks: AlertSinkConfig[];
  /** Firing notifications per minute across all alerts. @defaultValue 30 */
  rateLimit: number;
  /** A still-firing alert is sent again after this long; 0 = never. @defaultValue 14400000 (4 h) */
  repeatInterval: number;
  /** An alert keeps firing this long after its condition cleared (flap damping); 0 = resolve at once. @defaultValue 0 */
  keepFiringFor: number;
}
