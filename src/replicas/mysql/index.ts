import type { Pool } from 'mysql2/promise';
import type { ReplicaRouterOptions } from '../options.js';
import { ReplicaRouter } from '../router.js';
import { MysqlDriver, type MysqlResult } from './driver.js';

export type { MysqlResult } from './driver.js';
export { bypassesReadOnly } from './driver.js';
export {
  gtidCovers,
  gtidHasWrite,
  type MysqlFlavor,
  mariadbCovers,
  mariadbHasWrite,
  mysqlCovers,
} from './gtid.js';
export {
  appendPosition,
  lagBelowFromPositions,
  lagFromHeartbeat,
  lagFromReplicaStatus,
  type PositionSample,
  type ReplicaStatusRow,
} from './lag.js';

/** MysqlRouterOptions are mysql2 promise pools, the heartbeat table, and the router options. */
export interface MysqlRouterOptions extends ReplicaRouterOptions {
  primary: Pool;
  /** Replica pools by name (`primary` is reserved). */
  replicas: Record<string, Pool>;
  /**
   * Heartbeat table (optionally `db.table`) the router writes on the primary each probe round and reads
   * on each replica; `false` measures lag with SHOW REPLICA STATUS only. @defaultValue 'scaleplane_heartbeat'
   */
  heartbeatTable?: string | false;
}

/** createMysqlRouter builds a router over mysql2 promise pools (MariaDB or MySQL); call `start()` first. */
export function createMysqlRouter(options: MysqlRouterOptions): ReplicaRouter<MysqlResult> {
  const { primary, replicas, heartbeatTable, ...routerOptions } = options;
  return new ReplicaRouter(new MysqlDriver({ primary, replicas, heartbeatTable }), routerOptions);
}
