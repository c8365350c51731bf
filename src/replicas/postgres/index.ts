import type { Pool } from 'pg';
import type { ReplicaRouterOptions } from '../options.js';
import { ReplicaRouter } from '../router.js';
import { PgDriver, type PgResult } from './driver.js';

export type { PgResult } from './driver.js';
export { estimatePgLag, type LsnSample, lsnCovers, parseLsn } from './lag.js';

/** PgRouterOptions are a primary pool, named replica pools, and the router options. */
export interface PgRouterOptions extends ReplicaRouterOptions {
  primary: Pool;
  /** Replica pools by name (`primary` is reserved). */
  replicas: Record<string, Pool>;
}

/** createPgRouter builds a router over node-postgres pools; call `start()` before relying on replicas. */
export function createPgRouter(options: PgRouterOptions): ReplicaRouter<PgResult> {
  const { primary, replicas, ...routerOptions } = options;
  return new ReplicaRouter(new PgDriver({ primary, replicas }), routerOptions);
}
