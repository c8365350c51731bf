import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { type BackendInstance, Balancer } from '../../src/balancer/index.js';
import type { BalancerConfig, HealthCheckConfig } from '../../src/config/types.js';
import { createMetrics, type ScaleplaneMetrics } from '../../src/metrics/index.js';
import { closedPort } from '../helpers/ports.js';

/** config builds a BalancerConfig on 127.0.0.1:0 with health checks too slow to interfere. */
export function config(
  overrides: Partial<Omit<BalancerConfig, 'health'>> = {},
  health: Partial<HealthCheckConfig> = {},
): BalancerConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    algorithm: 'round-robin',
    requestTimeout: 10_000,
    drainTimeout: 10_000,
    hashKey: 'ip',
    outlier: {
      consecutive5xx: 0,
      consecutiveGatewayErrors: 0,
      baseEjectionTime: 30_000,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 50,
      panicThreshold: 0,
    },
    retryBudget: { percent: 100, minPerSecond: 1000 },
    slowStart: 0,
    upstreamKeepAliveTimeout: 4000,
    maxRequestBody: 100 * 1024 * 1024,
    maxHeaderSize: 16 * 1024,
    workers: 1,
    ...overrides,
    health: {
      path: '/healthz',
      interval: 60_000,
      timeout: 1_000,
      unhealthyThreshold: 2,
      healthyThreshold: 1,
      ...health,
    },
  };
}

/** Backend is a real HTTP server on a free port. */
export interface TestBackend {
  server: http.Server;
  address: string;
  /** Requests received, health checks excluded. */
  requests: number;
}

/**
 * startBackend runs `handler` on 127.0.0.1:0 until the test ends; its health path (/healthz unless
 * given) answers `health()` (200 unless given).
 */
export async function startBackend(
  t: TestContext,
  handler: http.RequestListener,
  options: { healthPath?: string; health?: () => number } = {},
): Promise<TestBackend> {
  const { healthPath = '/healthz', health = () => 200 } = options;
  const backend: TestBackend = { server: http.createServer(), address: '', requests: 0 };
  backend.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === healthPath) {
      res.statusCode = health();
      res.end();
      return;
    }
    backend.requests++;
    handler(req, res);
  });
  backend.server.listen(0, '127.0.0.1');
  await once(backend.server, 'listening');
  backend.address = `127.0.0.1:${(backend.server.address() as AddressInfo).port}`;
  t.after(() => {
    backend.server.closeAllConnections();
    backend.server.close();
  });
  return backend;
}

/** refusedAddress returns a 127.0.0.1 address nothing listens on (closedPort's port). */
export async function refusedAddress(): Promise<string> {
  return `127.0.0.1:${await closedPort()}`;
}

/** ready turns [id, address] pairs into ready instances. */
export function ready(...pairs: [id: string, address: string][]): BackendInstance[] {
  return pairs.map(([id, address]) => ({ id, address, state: 'ready' }));
}

/** Started is a listening balancer with fresh metrics. */
export interface Started {
  balancer: Balancer;
  metrics: ScaleplaneMetrics;
  port: number;
}

/** startBalancer listens on a free port and closes at the end of the test. */
export async function startBalancer(t: TestContext, cfg: BalancerConfig = config()): Promise<Started> {
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({ config: cfg, metrics });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  return { balancer, metrics, port };
}

/** Reply is a whole response as a client saw it. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** send makes one request on a fresh connection and reads the whole response. */
export function send(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: Buffer | string;
    /** HTTPS trusting only this CA; the server's name is not checked (certificates name 127.0.0.1). */
    ca?: Buffer;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = options.ca ? https.request : http.request;
    const req = request(
      {
        host: '127.0.0.1',
        port,
        agent: false,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        ...(options.ca && { ca: options.ca, checkServerIdentity: () => undefined }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** json parses a reply body. */
export function json(reply: Reply): unknown {
  return JSON.parse(reply.body.toString());
}

/** counter reads one labelled value of a counter or gauge (0 when absent). */
export async function counter(
  metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return hit?.value ?? 0;
}

/**
 * startHeldBackend is a backend that holds each request until `release()`: `arrived` resolves when
 * the first one is in, and the held ones answer `body` once released (a request in flight on demand).
 */
export async function startHeldBackend(
  t: TestContext,
  body: string,
): Promise<{ backend: TestBackend; arrived: Promise<void>; release: () => void }> {
  const arrived = deferred();
  const released = deferred();
  const backend = await startBackend(t, async (_req, res) => {
    arrived.resolve();
    await released.promise;
    res.end(body);
  });
  return { backend, arrived: arrived.promise, release: () => released.resolve() };
}

/** deferred is a promise with its resolver outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** mulberry32 is a small seeded random number generator: the same picks in every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** get GETs / of the balancer on `port` through `agent` and resolves with the body (the backend's name). */
export function get(agent: http.Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const BLACKHOLE = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const server = net.createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  // Never back to the event loop: nothing is accepted, the accept queue fills and stays full.
  const stop = new Int32Array(workerData);
  while (Atomics.load(stop, 0) === 0) Atomics.wait(stop, 0, 0, 100);
  server.close();
});`;

/**
 * startBlackhole is a 127.0.0.1 address whose SYNs go unanswered: a listener that never accepts,
 * with its accept queue filled by connections opened here (each awaited, so it is full).
 */
export async function startBlackhole(t: TestContext): Promise<string> {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(BLACKHOLE, { eval: true, workerData: stop });
  const [port] = (await once(worker, 'message')) as [number];
  const fillers: net.Socket[] = [];
  t.after(async () => {
    for (const socket of fillers) socket.destroy();
    Atomics.store(new Int32Array(stop), 0, 1);
    await worker.terminate();
  });
  // backlog 1: Linux queues up to backlog + 1 handshaken connections, then drops SYNs.
  for (let i = 0; i < 2; i++) {
    const socket = net.connect(port, '127.0.0.1');
    fillers.push(socket);
    await once(socket, 'connect');
  }
  return `127.0.0.1:${port}`;
}
