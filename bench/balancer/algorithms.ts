// bench/balancer/algorithms: which algorithm serves an autoscaled group best? Three backends, one of
// them slow (a cold instance just added, or a noisy neighbour), 16 concurrent keep-alive clients;
// per algorithm the client-side p50/p99/mean latency and the slow instance's share. A response
// that is not a 200 from one of the three (a 502, a timeout's 504) or a request that fails is
// counted apart, in `failed`, and left out of the latencies and shares: fast failures once passed
// as fast answers.
//
//   node --import tsx bench/balancer/algorithms.ts [requests per algorithm, default 3000]
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Balancer } from '../../src/balancer/index.js';
import type { BalancerAlgorithm } from '../../src/config/types.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config } from '../../test/balancer/helpers.js';

const total = Number(process.argv[2] ?? 3000);
const concurrency = 16;

async function backend(name: string, delayMs: number): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((_req, res) => setTimeout(() => res.end(name), delayMs));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const backends = [await backend('fast1', 2), await backend('fast2', 2), await backend('slow', 20)];
const names = new Set(['fast1', 'fast2', 'slow']);
const rows: string[] = [];
for (const algorithm of ['round-robin', 'least-connections', 'p2c', 'ewma'] as BalancerAlgorithm[]) {
  const balancer = new Balancer({
    config: config({ algorithm }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  balancer.setGroup(
    'web',
    backends.map((b, i) => ({ id: `b${i}`, address: b.address, state: 'ready' as const })),
  );
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let slow = 0;
  let failed = 0;
  let left = total;
  const one = () =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      const fail = () => {
        failed++;
        resolve();
      };
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c;
          });
          res.on('error', fail);
          res.on('end', () => {
            if (res.statusCode !== 200 || !names.has(body)) return fail();
            latencies.push(performance.now() - start);
            if (body === 'slow') slow++;
            resolve();
          });
        })
        .on('error', fail);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await one();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
  const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length;
  const served = latencies.length;
  rows.push(
    `${algorithm.padEnd(18)} ${(served / seconds).toFixed(0).padStart(7)} ${pct(50).toFixed(1).padStart(7)} ${pct(99).toFixed(1).padStart(7)} ${mean.toFixed(1).padStart(7)} ${((100 * slow) / served).toFixed(0).padStart(6)}% ${String(failed).padStart(7)}`,
  );
  agent.destroy();
  await balancer.close();
}
console.log(`${total} requests per algorithm, ${concurrency} concurrent; backends answer in 2, 2 and 20 ms`);
console.log(
  `${'algorithm'.padEnd(18)} ${'req/s'.padStart(7)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'mean'.padStart(7)}  slow share  failed`,
);
for (const row of rows) console.log(row);
for (const b of backends) b.server.close();
