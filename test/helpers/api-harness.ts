import { ApiServer, type ApiServerOptions } from '../../src/api/index.js';
import type { Config, LimitsConfig } from '../../src/config/types.js';
import {
  type BackendView,
  Controller,
  DecisionJournal,
  GroupController,
} from '../../src/controller/index.js';
import { createMetrics, type ScaleplaneMetrics } from '../../src/metrics/index.js';
import type { Provider } from '../../src/providers/index.js';
import { groupConfig } from './group-config.js';
import { MemoryProvider } from './memory-provider.js';

/** TOKEN is the bearer token of every harness API. */
export const TOKEN = 'test-token-0123456789';
/** READ_TOKEN has the `read` role: it may look, not change. */
export const READ_TOKEN = 'read-token-0123456789';
const silent = { info() {}, warn() {}, error() {} };

/** CallResult is one live answer: status, parsed JSON body (or text), raw text and content type. */
export interface CallResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests poke into JSON bodies
  body: any;
  text: string;
  contentType: string;
}

/** ApiHarness is a live control API over a group `web` (1..5 instances), in memory by default. */
export interface ApiHarness<P extends Provider = MemoryProvider> {
  base: string;
  port: number;
  provider: P;
  journal: DecisionJournal;
  controller: Controller;
  metrics: ScaleplaneMetrics;
  /** The ApiServer itself, for what a config reload does (setAuth). */
  server: ApiServer;
  call(path: string, init?: RequestInit & { token?: string | null; raw?: boolean }): Promise<CallResult>;
  close(): Promise<void>;
}

/**
 * startApi starts the control API on a free loopback port with a MemoryProvider group `web`, or
 * `provider` (e.g. one against a fake Kubernetes or AWS API; the caller starts and closes it).
 * `server` overrides ApiServer options (tokens, rate limits); by default TOKEN is admin and
 * READ_TOKEN is read-only.
 */
export async function startApi(options?: {
  resizable?: boolean;
  limits?: LimitsConfig;
  server?: Partial<ApiServerOptions>;
  /** What the balancer knows of each instance (health, in-flight); none by default. */
  backends?: (group: string) => readonly BackendView[];
}): Promise<ApiHarness>;
export async function startApi<P extends Provider>(options: {
  provider: P;
  limits?: LimitsConfig;
  server?: Partial<ApiServerOptions>;
}): Promise<ApiHarness<P>>;
export async function startApi(
  options: {
    resizable?: boolean;
    limits?: LimitsConfig;
    server?: Partial<ApiServerOptions>;
    provider?: Provider;
    backends?: (group: string) => readonly BackendView[];
  } = {},
): Promise<ApiHarness<Provider>> {
  const group = groupConfig();
  const config = {
    controller: { interval: 60_000, journalSize: 100 },
    groups: { web: group },
    ...(options.limits !== undefined && { limits: options.limits }),
  } as unknown as Config;
  const provider = options.provider ?? new MemoryProvider('web');
  // A provider that can resize: it records the size and is done at once.
  if (options.resizable) Object.assign(provider, { resize: async () => {} });
  const metrics = createMetrics({ defaultMetrics: false });
  const journal = new DecisionJournal();
  const controller = new Controller({
    config,
    journal,
    logger: silent,
    backends: options.backends ?? (() => []),
    groups: [
      new GroupController({
        config: group,
        provider,
        journal,
        metrics,
        logger: silent,
        readMetrics: () => [],
      }),
    ],
  });
  await controller.start();
  const api = new ApiServer({
    listen: { host: '127.0.0.1', port: 0 },
    token: TOKEN,
    tokens: [{ name: 'dashboards', role: 'read', token: READ_TOKEN }],
    controller,
    registry: metrics.registry,
    ...options.server,
  });
  const { port } = await api.listen();
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    port,
    provider,
    journal,
    controller,
    metrics,
    server: api,
    async call(path, init = {}) {
      const { token = TOKEN, raw: _raw, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null) headers.set('authorization', `Bearer ${token}`);
      const res = await fetch(base + path, { ...rest, headers });
      const text = await res.text();
      const contentType = res.headers.get('content-type') ?? '';
      return {
        status: res.status,
        text,
        contentType,
        body: contentType.includes('json') ? JSON.parse(text) : text,
      };
    },
    async close() {
      controller.close();
      await api.close();
    },
  };
}
