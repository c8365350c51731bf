import type http from 'node:http';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { Balancer } from '../../../src/balancer/index.js';
import type { BalancerConfig, HttpCacheConfig } from '../../../src/config/types.js';
import { createMetrics, type ScaleplaneMetrics } from '../../../src/metrics/index.js';
import { config, ready, startBackend, type TestBackend } from '../helpers.js';

/** cacheConfig is an HTTP cache config with the schema's defaults, memory storage. */
export function cacheConfig(overrides: Partial<HttpCacheConfig> = {}): HttpCacheConfig {
  return {
    storage: 'memory',
    keyPrefix: 'scaleplane:http:',
    maxEntries: 1000,
    maxBytes: 16 * 1024 * 1024,
    maxObjectSize: 1024 * 1024,
    defaultTtl: 0,
    staleWhileRevalidate: 0,
    staleIfError: 0,
    keepStale: 60_000,
    convertHead: true,
    tagHeader: 'Cache-Tag',
    hitForMiss: 120_000,
    ...overrides,
  };
}

/** Clock is a settable wall clock starting on a whole second, so Date headers it writes carry no fraction. */
export interface Clock {
  now: number;
  advance(ms: number): void;
  /** An HTTP Date header value for the current time. */
  date(): string;
}

/** clock makes a Clock at the current whole second. */
export function clock(): Clock {
  const c: Clock = {
    now: Math.floor(Date.now() / 1000) * 1000,
    advance(ms) {
      c.now += ms;
    },
    date: () => new Date(c.now).toUTCString(),
  };
  return c;
}

/** Cached is a listening balancer with a cache on its default route, and its one backend. */
export interface Cached {
  balancer: Balancer;
  metrics: ScaleplaneMetrics;
  port: number;
  backend: TestBackend;
  /** Requests the backend received, newest last, with their headers. */
  seen: http.IncomingHttpHeaders[];
}

/**
 * startCached runs a backend with `handler` behind a balancer whose default route caches with
 * `cache`; the cache reads `clk` when given (else the real clock).
 */
export async function startCached(
  t: TestContext,
  handler: http.RequestListener,
  cache: Partial<HttpCacheConfig> = {},
  options: { clock?: Clock; balancer?: Partial<BalancerConfig> } = {},
): Promise<Cached> {
  const seen: http.IncomingHttpHeaders[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(req.headers);
    handler(req, res);
  });
  const metrics = createMetrics({ defaultMetrics: false });
  const clk = options.clock;
  const balancer = new Balancer({
    config: config({ ...options.balancer, cache: cacheConfig(cache) }),
    metrics,
    ...(clk === undefined ? {} : { cacheClock: () => clk.now }),
  });
  t.after(async () => {
    await balancer.close();
    // The Redis store's purge counter and log never expire (they are the store's): a test's prefix
    // is removed once its balancer is closed, or each run left them behind.
    if (cache.storage === 'redis' && cache.keyPrefix) await removeKeys(cache.keyPrefix);
  });
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const { port } = await balancer.listen();
  return { balancer, metrics, port, backend, seen };
}

/**
 * removeKeys deletes every key under `prefix` in the real Redis at 6379 (not through a proxy a test
 * may have put in front of it and closed).
 */
export async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis('redis://127.0.0.1:6379');
  try {
    // The prefix is the test's own (a UUID in it): no glob character to escape in practice.
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<
      string[]
    >)
      keys.push(...batch);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

/** VersionedBackend is a backend holding one document that a POST changes. */
export interface VersionedBackend {
  backend: TestBackend;
  /** The document's body as a GET answers it now: `v1`, then `v2` after the first POST, … */
  current(): string;
}

/**
 * startVersionedBackend runs a backend whose every POST changes the document (answered `saved`) and
 * whose GETs answer its current version, cacheable for `maxAge` seconds: a copy from before a POST
 * shows as the old version.
 */
export async function startVersionedBackend(t: TestContext, maxAge: number): Promise<VersionedBackend> {
  let version = 1;
  const backend = await startBackend(t, (req, res) => {
    if (req.method === 'POST') {
      version++;
      res.end('saved');
      return;
    }
    res.writeHead(200, { 'Cache-Control': `max-age=${maxAge}` });
    res.end(`v${version}`);
  });
  return { backend, current: () => `v${version}` };
}

/** cacheCount reads one result of scaleplane_http_cache_requests_total. */
export async function cacheCount(
  metrics: ScaleplaneMetrics,
  result: string,
  cache = 'default',
): Promise<number> {
  const metric = metrics.registry.getSingleMetric('scaleplane_http_cache_requests_total');
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.find((v) => v.labels.cache === cache && v.labels.result === result)?.value ?? 0;
}

/** metricValue reads a single-label (`cache`) counter or gauge. */
export async function metricValue(
  metrics: ScaleplaneMetrics,
  name: string,
  cache = 'default',
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.find((v) => v.labels.cache === cache)?.value ?? 0;
}
