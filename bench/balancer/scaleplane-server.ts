// Scaleplane's balancer in front of the two bench backends, as `scaleplane up` would run it. With
// TLS_CERT and TLS_KEY (PEM files): `balancer.tls`, so HTTP/2 by ALPN (the default with tls). With
// CACHE=memory: `balancer.cache` in memory, every answer stored for a minute (`default_ttl`; the
// bench backends name no freshness), so all but the first request of a URL are HITs.
import { Balancer } from '../../src/balancer/index.js';
import type { BalancerAlgorithm } from '../../src/config/types.js';
import { createMetrics } from '../../src/metrics/index.js';

const backends = process.env.BACKENDS!.split(',');
const tls =
  process.env.TLS_CERT && process.env.TLS_KEY
    ? { cert: process.env.TLS_CERT, key: process.env.TLS_KEY }
    : undefined;
const balancer = new Balancer({
  config: {
    listen: { host: '127.0.0.1', port: Number(process.env.PORT) },
    ...(tls ? { tls } : {}),
    algorithm: (process.env.ALGORITHM ?? 'ewma') as BalancerAlgorithm,
    health: { path: '/healthz', interval: 5000, timeout: 1000, unhealthyThreshold: 2, healthyThreshold: 1 },
    requestTimeout: 60_000,
    drainTimeout: 5000,
    hashKey: 'ip',
    outlier: {
      consecutive5xx: 5,
      consecutiveGatewayErrors: 3,
      baseEjectionTime: 30_000,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 50,
      panicThreshold: 50,
    },
    retryBudget: { percent: 20, minPerSecond: 10 },
    slowStart: 0,
    upstreamKeepAliveTimeout: 4000,
    maxRequestBody: 100 * 1024 * 1024,
    maxHeaderSize: 16 * 1024,
    workers: Number(process.env.WORKERS ?? 1),
    ...(process.env.CACHE === 'memory'
      ? {
          cache: {
            storage: 'memory' as const,
            keyPrefix: 'scaleplane:http:',
            maxEntries: 10_000,
            maxBytes: 64 * 1024 * 1024,
            maxObjectSize: 1024 * 1024,
            defaultTtl: 60_000,
            staleWhileRevalidate: 0,
            staleIfError: 0,
            keepStale: 60_000,
            convertHead: true,
            tagHeader: 'Cache-Tag',
            hitForMiss: 120_000,
          },
        }
      : {}),
  },
  metrics: createMetrics({ defaultMetrics: false }),
});
balancer.setGroup(
  'web',
  backends.map((address, i) => ({ id: `b${i}`, address, state: 'ready' as const })),
);
await balancer.listen();
process.send?.('ready');
process.on('SIGTERM', () => {
  balancer.close().then(() => process.exit(0));
});
