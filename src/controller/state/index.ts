import { dirname, resolve } from 'node:path';
import type { Config } from '../../config/index.js';
import type { Logger } from '../group.js';
import { FileState } from './file.js';
import { PostgresState } from './postgres.js';
import { RedisState } from './redis.js';
import type { StateStore } from './types.js';

export { FileState, type FileStateOptions } from './file.js';
export { PostgresState, type PostgresStateOptions } from './postgres.js';
export { RedisState, type RedisStateOptions } from './redis.js';
export { type ControllerState, StateError, type StateStore } from './types.js';

/** STATE_FILE is the file backend's default name, next to the config file. */
export const STATE_FILE = '.scaleplane-state.json';

/**
 * openState opens the controller's state store: `controller.state` when set, else the lease's
 * store (same backend, URL and name) when `controller.lease` is set, else none — then nothing is
 * persisted and local instances stop with the controller, as without HA. A Redis or PostgreSQL
 * store in the lease's database (same backend and URL) fences its writes with the lease's token.
 * A state file without a lease is locked first (see FileState.lock): a second controller on it is
 * refused with StateError `STATE_LOCKED` before it reads, writes or adopts anything; `logger` is
 * told when a stale lock (its process gone) was taken over.
 */
export async function openState(config: Config, logger?: Logger): Promise<StateStore | undefined> {
  const { state, lease, journalSize } = config.controller;
  const chosen =
    state ?? (lease && { backend: lease.backend, url: lease.url, name: lease.name, path: undefined });
  if (!chosen) return undefined;
  if (chosen.backend === 'file') {
    const base = config.source ? dirname(config.source) : process.cwd();
    const store = new FileState({ path: resolve(base, chosen.path ?? STATE_FILE), journalSize });
    // Without a lease nothing else keeps a second controller off the file: it would adopt this
    // one's instances (and stop them when it stops) and write over its state. With one, the lease
    // decides who acts, and every controller of the group shares the file.
    if (!lease) {
      const stale = await store.lock();
      if (stale !== undefined)
        logger?.warn(
          { pid: stale.pid },
          `state file ${store.path}: took over the lock of pid ${stale.pid}, which is gone (killed or crashed)`,
        );
    }
    return store;
  }
  const colocated = lease !== undefined && chosen.backend === lease.backend && chosen.url === lease.url;
  const options = {
    url: chosen.url!,
    name: chosen.name,
    journalSize,
    ...(colocated && { lease: lease.name }),
  };
  const store = chosen.backend === 'redis' ? new RedisState(options) : new PostgresState(options);
  try {
    await store.connect();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}
