/**
 * Alerts for the libraries users embed (queues, replica routers): pure mappings from their events
 * to fire/resolve actions, and small watchers that apply them to an AlertManager.
 */
import type { EventEmitter } from 'node:events';
import type { AlertInput } from './types.js';

/**
 * AlertAction is what one library event means for alerting. `notify` is for an event that is news, not
 * a condition that holds: it fires and resolves at once, so that the next such event notifies again
 * (a firing left open would swallow it as a repeat) and none is re-sent every `repeatInterval`.
 */
export type AlertAction =
  | { action: 'fire'; key: string; input: AlertInput }
  | { action: 'resolve'; key: string; summary: string }
  | { action: 'notify'; key: string; input: AlertInput };

/** AlertTarget is the part of an AlertManager the watchers use. */
export interface AlertTarget {
  fire(key: string, input: AlertInput): unknown;
  resolve(key: string, summary?: string, options?: { immediately?: boolean }): unknown;
}

/** QueueConnectionEvent is a queue's `connection` event (see scaleplane/queue). */
export interface QueueConnectionEvent {
  backend: string;
  state: 'connected' | 'disconnected' | 'reconnecting';
  attempt?: number;
  error?: string;
}

/** DeadLetterEvent is a worker's `dead-lettered` event. */
export interface DeadLetterEvent {
  id: string;
  queue: string;
  attempt: number;
  reason?: string;
  error?: string;
}

/** ReplicaDecisionEvent is a replica router's `decision` event (see scaleplane/replicas). */
export interface ReplicaDecisionEvent {
  router: string;
  kind: string;
  replica?: string;
  reasons: string[];
  message: string;
}

/** queueConnectionAlert: a lost broker connection fires until it is back. */
export function queueConnectionAlert(name: string, event: QueueConnectionEvent): AlertAction {
  const key = `queue-connection:${name}`;
  if (event.state === 'connected')
    return { action: 'resolve', key, summary: `queue ${name}: ${event.backend} connection is back` };
  return {
    action: 'fire',
    key,
    input: {
      severity: 'critical',
      summary: `queue ${name}: ${event.backend} connection ${event.state}${event.error ? ` (${event.error})` : ''}`,
      details: {
        backend: event.backend,
        state: event.state,
        ...(event.attempt !== undefined && { attempt: event.attempt }),
      },
    },
  };
}

/**
 * deadLetterAlert: a dead-lettered job fires one alert per queue (the manager de-duplicates
 * repeats); it stays firing, as the dead-letter queue holds the job until someone acts.
 */
export function deadLetterAlert(event: DeadLetterEvent): AlertAction {
  return {
    action: 'fire',
    key: `dead-letter:${event.queue}`,
    input: {
      severity: 'warning',
      summary: `queue ${event.queue}: job ${event.id} dead-lettered after ${event.attempt} attempt(s)${event.error ? `: ${event.error}` : ''}`,
      details: {
        id: event.id,
        attempt: event.attempt,
        ...(event.reason !== undefined && { reason: event.reason }),
      },
    },
  };
}

/**
 * replicaAlert: an unreachable primary (writes fail; reads stay on replicas that were fresh), a primary
 * that takes no writes (in recovery, read_only: writes refused), reads
 * falling back to the primary, and excluded replicas fire until they recover. A primary replaced
 * behind the router's address (a failover it did not see happen) is a notice: nothing clears it, and
 * the next one is news again.
 */
export function replicaAlert(event: ReplicaDecisionEvent): AlertAction | undefined {
  const primary = `replica-primary:${event.router}`;
  const readOnly = `replica-primary-read-only:${event.router}`;
  const replaced = `replica-primary-replaced:${event.router}`;
  const fallback = `replica-fallback:${event.router}`;
  const excluded = `replica-excluded:${event.router}:${event.replica ?? ''}`;
  switch (event.kind) {
    case 'PrimaryUnreachable':
      return {
        action: 'fire',
        key: primary,
        input: {
          severity: 'critical',
          summary: `${event.router}: ${event.message}`,
          details: { reasons: event.reasons },
        },
      };
    case 'PrimaryRestored':
      return { action: 'resolve', key: primary, summary: `${event.router}: ${event.message}` };
    // A standby configured as the primary (a failover the configuration has not followed): every
    // write is refused until someone points the router at the new primary.
    case 'PrimaryReadOnly':
      return {
        action: 'fire',
        key: readOnly,
        input: {
          severity: 'critical',
          summary: `${event.router}: ${event.message}`,
          details: { reasons: event.reasons },
        },
      };
    case 'PrimaryWritable':
      return { action: 'resolve', key: readOnly, summary: `${event.router}: ${event.message}` };
    // Another server took the writes with no round seeing the old one go: an operator wants to know
    // (is the old primary fenced? does the configuration still name it?) though the router has moved
    // on. Critical, as the other primary decisions; a notice, since no later decision ends it.
    case 'PrimaryReplaced':
      return {
        action: 'notify',
        key: replaced,
        input: {
          severity: 'critical',
          summary: `${event.router}: primary replaced: ${event.message}`,
          details: { reasons: event.reasons },
        },
      };
    case 'FallbackStarted':
      return {
        action: 'fire',
        key: fallback,
        input: {
          severity: 'critical',
          summary: `${event.router}: no replica is fresh enough, reads go to the primary (${event.message})`,
          details: { reasons: event.reasons },
        },
      };
    case 'FallbackEnded':
      return { action: 'resolve', key: fallback, summary: `${event.router}: ${event.message}` };
    case 'ReplicaExcluded':
      return {
        action: 'fire',
        key: excluded,
        input: {
          severity: 'warning',
          summary: `${event.router}: replica ${event.replica} excluded (${event.reasons.join(', ')})`,
          details: { replica: event.replica, reasons: event.reasons },
        },
      };
    case 'ReplicaRestored':
    case 'ReplicaAdmitted':
      return {
        action: 'resolve',
        key: excluded,
        summary: `${event.router}: replica ${event.replica} serves reads again`,
      };
    default:
      return undefined;
  }
}

/** applyAlertAction applies one mapped event to `alerts` (a `notify` fires and resolves at once). */
export function applyAlertAction(alerts: AlertTarget, action: AlertAction | undefined): void {
  if (action === undefined) return;
  if (action.action === 'resolve') {
    alerts.resolve(action.key, action.summary);
    return;
  }
  alerts.fire(action.key, action.input);
  // A notice is over once sent: keep_firing_for would swallow the next one as the same alert.
  if (action.action === 'notify') alerts.resolve(action.key, undefined, { immediately: true });
}

/** watchQueue sends a queue's connection losses to `alerts`; returns a function that stops it. */
export function watchQueue(alerts: AlertTarget, queue: EventEmitter, name: string): () => void {
  const onConnection = (event: QueueConnectionEvent) =>
    applyAlertAction(alerts, queueConnectionAlert(name, event));
  queue.on('connection', onConnection);
  return () => queue.off('connection', onConnection);
}

/** watchWorker sends a worker's dead-lettered jobs to `alerts`; returns a function that stops it. */
export function watchWorker(alerts: AlertTarget, worker: EventEmitter): () => void {
  const onDeadLetter = (event: DeadLetterEvent) => applyAlertAction(alerts, deadLetterAlert(event));
  worker.on('dead-lettered', onDeadLetter);
  return () => worker.off('dead-lettered', onDeadLetter);
}

/**
 * watchReplicas sends a replica router's primary problems, fallbacks, exclusions and replaced primaries
 * to `alerts`; returns a function that stops it.
 */
export function watchReplicas(alerts: AlertTarget, router: EventEmitter): () => void {
  const onDecision = (event: ReplicaDecisionEvent) => applyAlertAction(alerts, replicaAlert(event));
  router.on('decision', onDecision);
  return () => router.off('decision', onDecision);
}
