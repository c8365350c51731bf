import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { LocalProviderConfig } from '../../src/config/types.js';
import {
  type LocalInstanceRecord,
  type LocalInstanceRegistry,
  LocalProvider,
  type LocalProviderLogger,
  type LocalProviderOptions,
} from '../../src/providers/index.js';
import { readProcTable } from '../../src/providers/local/cpu.js';

/** APP is the fixture HTTP app the local provider tests run. */
export const APP = fileURLToPath(new URL('../fixtures/provider-app.mjs', import.meta.url));

/**
 * SPIKY runs APP after touching 48 MiB once at start and giving it back: an app that needs more
 * memory to start than it holds once serving (~10 MiB). OOM-killed while starting under a 32 MiB
 * limit; its running instances hold too little for a resize to 32 MiB to be refused up front.
 */
export const SPIKY = `"${process.execPath}" --expose-gc -e "{ Buffer.alloc(48 * 1048576, 1); } gc(); import(process.argv[1])" "${APP}"`;

/** HUNGRY runs APP holding 48 MiB of touched memory for good: more than a 32 MiB limit allows. */
export const HUNGRY = `"${process.execPath}" -e "globalThis.b = Buffer.alloc(48 * 1048576, 1); import(process.argv[1])" "${APP}"`;

/** LogLine is one call to the recording logger. */
export interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

/** recordingLogger keeps every log call, and calls `onLine` for each. */
export function recordingLogger(
  onLine?: (line: LogLine) => void,
): LocalProviderLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = (level: LogLine['level']) => (fields: Record<string, unknown>, msg: string) => {
    const line = { level, fields, msg };
    lines.push(line);
    onLine?.(line);
  };
  return { lines, info: log('info'), warn: log('warn'), error: log('error') };
}

/**
 * closersOf holds, for each test, what tempDir closes before removing its folder: the providers
 * makeProvider built, then what closeBeforeRemoval was given, in that order.
 */
const closersOf = new WeakMap<TestContext, { providers: LocalProvider[]; others: Closable[] }>();

/** Closable is anything with a close that is safe to call twice (a state store). */
export interface Closable {
  close(): Promise<void>;
}

function closersFor(t: TestContext): { providers: LocalProvider[]; others: Closable[] } {
  let closers = closersOf.get(t);
  if (!closers) {
    closers = { providers: [], others: [] };
    closersOf.set(t, closers);
  }
  return closers;
}

/**
 * closeBeforeRemoval closes `resource` (a FileState in a tempDir folder) when the test ends, after
 * the test's providers (whose close still writes to it: their instances' records go) and before
 * the folder is removed.
 */
export function closeBeforeRemoval(t: TestContext, resource: Closable): void {
  closersFor(t).others.push(resource);
  t.after(() => resource.close());
}

/** makeProvider builds a LocalProvider running APP, closed when the test ends. */
export function makeProvider(
  t: TestContext,
  config: Partial<LocalProviderConfig> = {},
  options: Partial<LocalProviderOptions> = {},
): LocalProvider {
  const provider = new LocalProvider({
    group: 'web',
    healthPath: '/healthz',
    restartBackoff: { initialMs: 50, maxMs: 400 },
    ...options,
    config: {
      provider: 'local',
      command: `"${process.execPath}" "${APP}"`,
      cwd: process.cwd(),
      portEnv: 'PORT',
      env: {},
      host: '127.0.0.1',
      startTimeout: 10_000,
      stopTimeout: 2_000,
      crashLoopLimit: 5,
      crashLoopWindow: 60_000,
      ...config,
    },
  });
  // Background errors must fail loudly in tests, not go to a silent logger.
  provider.on('error', (err) => t.diagnostic(`provider error: ${err.message}`));
  closersFor(t).providers.push(provider);
  t.after(() => provider.close());
  return provider;
}

/**
 * tempDir makes a folder `<tmpdir>/scaleplane-<prefix>-XXXXXX`, removed when the test ends once
 * every provider makeProvider built for the test has closed (close is safe to call twice), those
 * built after the folder too. Before, the folder was removed in its own after hook, which runs
 * before the hooks added later, the providers' close among them: their instances still ran and
 * wrote into it (log files, their cut parts), and the removal failed ENOTEMPTY.
 */
export async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `scaleplane-${prefix}-`));
  t.after(async () => {
    // One at a time, as their own hooks would: providers may share a registry or a port pool.
    const { providers, others } = closersFor(t);
    for (const provider of providers) await provider.close();
    for (const resource of others) await resource.close();
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** until resolves once `predicate` holds, re-checking on every `change`; rejects after `ms`. */
export function until(provider: LocalProvider, predicate: () => boolean, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!predicate()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`condition not met within ${ms} ms`));
    }, ms);
    const cleanup = () => {
      clearTimeout(timer);
      provider.off('change', check);
    };
    provider.on('change', check);
    check();
  });
}

/** httpGet fetches `http://address/path` and resolves with status and body. */
export function httpGet(address: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(`http://${address}${path}`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** groupMembers lists the live (non-zombie) pids whose process group is one of `pgids`. */
export function groupMembers(pgids: readonly number[]): number[] {
  const wanted = new Set(pgids);
  return readProcTable()
    .filter((s) => wanted.has(s.pgrp) && s.state !== 'Z')
    .map((s) => s.pid);
}

/** alive tells whether `pid` is a live process (a zombie counts as dead). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return readProcTable().some((s) => s.pid === pid && s.state !== 'Z');
}

/** waitGone polls every 50 ms until none of `pids` is alive; it returns the survivors after `ms`. */
export async function waitGone(pids: readonly number[], ms = 10_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const survivors = pids.filter(alive);
    if (survivors.length === 0 || Date.now() >= deadline) return survivors;
    await delay(50);
  }
}

/** memoryRegistry is an instance registry held in memory: instances then log to their own files. */
export function memoryRegistry(): LocalInstanceRegistry {
  const records = new Map<string, LocalInstanceRecord>();
  return {
    list: async () => [...records.values()],
    put: async (_group, record) => {
      records.set(record.id, record);
    },
    remove: async (_group, id) => {
      records.delete(id);
    },
  };
}

/**
 * memoryCgroupOf is the directory of `pid`'s memory cgroup (the v1 memory controller's, or the v2
 * unified one), empty when it cannot be told.
 */
export function memoryCgroupOf(pid: number): string {
  let v2 = '';
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match?.[1] === 'memory') return `/sys/fs/cgroup/memory${match[2]}`;
    if (match?.[1] === '') v2 = `/sys/fs/cgroup${match[2]}`;
  }
  return v2;
}
