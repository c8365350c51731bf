// Entry point of a data-path worker forked by WorkerSet: a Balancer without active health checks,
// fed membership and health by the controller process over IPC.
import { createMetrics, type MetricsSnapshot } from '../metrics/index.js';
import { Balancer } from './balancer.js';
import { type FromWorker, type ToWorker, WORKER_ENV, type WorkerBoot } from './cluster.js';
import type { BalancerLogger, GroupStats } from './types.js';

const boot = JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerBoot;
const send = (message: FromWorker): void => {
  if (process.connected) process.send!(message);
};
const logger: BalancerLogger = {
  info: (fields, message) => send({ t: 'log', level: 'info', fields: plain(fields), message }),
  warn: (fields, message) => send({ t: 'log', level: 'warn', fields: plain(fields), message }),
  error: (fields, message) => send({ t: 'log', level: 'error', fields: plain(fields), message }),
};
const metrics = createMetrics({
  defaultMetrics: false,
  ...(boot.requestDurationBuckets && { requestDurationBuckets: boot.requestDurationBuckets }),
});
// How long an unsafe request's answer waits at most for the other workers to drop what it invalidated.
const INVALIDATE_WAIT_MS = 1000;
let invalidations = 0;
const pendingInvalidations = new Map<number, () => void>();
const invalidated = (seq: number): void => {
  const done = pendingInvalidations.get(seq);
  pendingInvalidations.delete(seq);
  done?.();
};
const balancer = new Balancer({
  config: { ...boot.config, workers: 1 },
  routes: boot.routes,
  metrics,
  logger,
  activeHealth: false,
  // The other workers hold their own memory caches: they must drop what a write here changed, before
  // the write's client has its answer (the answer waits for this promise).
  onCacheInvalidate: (cache, targets) => {
    if (!process.connected) return undefined;
    const seq = ++invalidations;
    return new Promise<void>((resolve) => {
      // Bounded: a worker too busy to answer holds the answer this long at most.
      const timer = setTimeout(() => invalidated(seq), INVALIDATE_WAIT_MS);
      timer.unref();
      pendingInvalidations.set(seq, () => {
        clearTimeout(timer);
        resolve();
      });
      send({ t: 'invalidate', cache, targets: [...targets], seq });
    });
  },
});
// The controller process merges these over workers and says `unhealthy` itself, once per ejection.
for (const name of ['ejection', 'recovery'] as const) {
  balancer.on(name, (payload: unknown) => send({ t: 'event', name, payload }));
}
const groups = new Set<string>();

process.on('message', (message: ToWorker) => {
  switch (message.t) {
    case 'set':
      groups.add(message.group);
      balancer.setGroup(message.group, message.instances, { healthPath: message.healthPath });
      break;
    case 'remove':
      groups.delete(message.group);
      balancer.removeGroup(message.group);
      break;
    case 'health':
      balancer.markHealth(message.group, message.id, message.healthy);
      break;
    case 'warming':
      balancer.markWarming(message.group, message.id, message.elapsed);
      break;
    case 'drain':
      balancer.drain(message.group, message.id).then(() => send({ t: 'drained', seq: message.seq }));
      break;
    case 'purge':
      balancer.purgeCache(message.selector).then(
        (removed) => send({ t: 'purged', seq: message.seq, removed }),
        (err: Error) => {
          logger.warn({ err }, 'cache purge failed');
          send({ t: 'purged', seq: message.seq, removed: 0 });
        },
      );
      break;
    case 'invalidate':
      balancer.invalidateCache(message.cache, message.targets);
      send({ t: 'invalidated', seq: message.seq });
      break;
    case 'invalidated':
      invalidated(message.seq);
      break;
    case 'metrics':
      metrics.registry.getMetricsAsJSON().then(
        (snapshot) => send({ t: 'metrics', seq: message.seq, metrics: snapshot as MetricsSnapshot }),
        () => send({ t: 'metrics', seq: message.seq, metrics: [] }),
      );
      break;
    case 'listen':
      balancer.listen().then(
        (address) => send({ t: 'listening', address }),
        (err: Error) => send({ t: 'listenFailed', message: err.message }),
      );
      break;
    case 'tls':
      try {
        balancer.reloadTls();
      } catch (err) {
        // The controller process read the same files a moment ago; this worker keeps its pair.
        logger.error({ err }, 'TLS certificate reload failed; this worker serves the previous one');
      }
      break;
    case 'close':
      clearInterval(statsTimer);
      balancer.close().then(() => process.exit(0));
      break;
  }
});
// Messages that arrive before a listener exists are lost: say when this one is in place.
send({ t: 'ready' });
// The controller process exiting takes the IPC channel with it: leave too.
process.on('disconnect', () => {
  for (const seq of [...pendingInvalidations.keys()]) invalidated(seq);
  balancer.close().then(() => process.exit(0));
});

const statsTimer = setInterval(() => {
  const out: Record<string, GroupStats> = {};
  for (const group of groups) out[group] = balancer.stats(group);
  send({ t: 'stats', groups: out });
}, 250);
statsTimer.unref();

function plain(fields: Record<string, unknown>): Record<string, unknown> {
  const err = fields.err;
  return err instanceof Error ? { ...fields, err: err.message } : fields;
}
