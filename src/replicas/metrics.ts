import { Counter, Gauge, type Registry } from 'prom-client';

/** ReplicaMetrics is every Prometheus series the replica routers export, shared by routers on one registry. */
export interface ReplicaMetrics {
  /** Replay lag per replica in seconds; absent while unknown. */
  readonly lag: Gauge<'router' | 'replica'>;
  /** 1 while a replica may serve reads. */
  readonly eligible: Gauge<'router' | 'replica'>;
  /** Reads routed, by target (`primary` or the replica's name). */
  readonly reads: Counter<'router' | 'target'>;
  /** Statements sent to the primary as writes (including transactions, counted once). */
  readonly writes: Counter<'router'>;
  /** Reads that wanted a replica and found none fresh: served by the primary or refused. */
  readonly fallbacks: Counter<'router' | 'action'>;
  /** 1 while no replica is eligible (alert on this). */
  readonly fallbackActive: Gauge<'router'>;
  /** Reads retried elsewhere after failing on a replica. */
  readonly retries: Counter<'router' | 'replica'>;
  /**
   * 1 while a server's role contradicts the router's configuration: the primary read-only (a standby),
   * a replica writable (the primary itself, a promoted replica). Alert on it.
   */
  readonly roleMismatch: Gauge<'router' | 'target'>;
  /**
   * onCollect runs `hook` before each scrape of the read and write counters, so the hot path can count
   * in plain numbers and hand them over only when somebody looks. Returns the unsubscribe function.
   */
  onCollect(hook: () => void): () => void;
}

// Hooks per registry: routers sharing a registry share the counters, and each flushes its own counts.
const collectHooks = new WeakMap<Registry, Set<() => void>>();

function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** createReplicaMetrics registers the replica series on `registry`, or returns those already there. */
export function createReplicaMetrics(registry: Registry): ReplicaMetrics {
  const registers = [registry];
  let hooks = collectHooks.get(registry);
  if (hooks === undefined) {
    hooks = new Set();
    collectHooks.set(registry, hooks);
  }
  const runHooks = hooks;
  const collect = () => {
    for (const hook of runHooks) hook();
  };
  return {
    onCollect: (hook) => {
      runHooks.add(hook);
      return () => runHooks.delete(hook);
    },
    lag: reuse(
      registry,
      'scaleplane_replica_lag_seconds',
      () =>
        new Gauge({
          name: 'scaleplane_replica_lag_seconds',
          help: 'Replication lag of each replica as last probed; absent while unknown.',
          labelNames: ['router', 'replica'],
          registers,
        }),
    ),
    eligible: reuse(
      registry,
      'scaleplane_replica_eligible',
      () =>
        new Gauge({
          name: 'scaleplane_replica_eligible',
          help: '1 while the replica is fresh enough to serve reads.',
          labelNames: ['router', 'replica'],
          registers,
        }),
    ),
    reads: reuse(
      registry,
      'scaleplane_replica_reads_total',
      () =>
        new Counter({
          name: 'scaleplane_replica_reads_total',
          help: 'Reads routed, by target (primary or replica name).',
          labelNames: ['router', 'target'],
          registers,
          collect,
        }),
    ),
    writes: reuse(
      registry,
      'scaleplane_replica_writes_total',
      () =>
        new Counter({
          name: 'scaleplane_replica_writes_total',
          help: 'Writes and transactions sent to the primary.',
          labelNames: ['router'],
          registers,
          collect,
        }),
    ),
    fallbacks: reuse(
      registry,
      'scaleplane_replica_fallbacks_total',
      () =>
        new Counter({
          name: 'scaleplane_replica_fallbacks_total',
          help: 'Reads that found no eligible replica, by action (primary, fail).',
          labelNames: ['router', 'action'],
          registers,
          collect,
        }),
    ),
    fallbackActive: reuse(
      registry,
      'scaleplane_replica_fallback_active',
      () =>
        new Gauge({
          name: 'scaleplane_replica_fallback_active',
          help: '1 while no replica is eligible and reads fall back.',
          labelNames: ['router'],
          registers,
        }),
    ),
    retries: reuse(
      registry,
      'scaleplane_replica_read_retries_total',
      () =>
        new Counter({
          name: 'scaleplane_replica_read_retries_total',
          help: 'Reads retried elsewhere after failing on a replica.',
          labelNames: ['router', 'replica'],
          registers,
        }),
    ),
    roleMismatch: reuse(
      registry,
      'scaleplane_replica_role_mismatch',
      () =>
        new Gauge({
          name: 'scaleplane_replica_role_mismatch',
          help: '1 while the primary takes no writes (in recovery, read_only) or a replica takes writes.',
          labelNames: ['router', 'target'],
          registers,
        }),
    ),
  };
}
