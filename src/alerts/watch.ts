import { monotonicNow } from '../clock.js';
import type { JournalEntry } from '../controller/index.js';
import type { Provider } from '../providers/index.js';
import { type AlertAction, applyAlertAction } from './library.js';
import type { AlertManager } from './manager.js';
import {
  defaultProviderFailureRule,
  judgeProviderOutcome,
  type ProviderFailureRule,
  type ProviderFailureState,
} from './provider-rule.js';

/** HealthChange is the part of a balancer `health` event the alerts use. */
export interface HealthChange {
  group: string;
  id: string;
  address: string;
  healthy: boolean;
  detail: string;
}

/** AlertSources are the parts of a running Scaleplane whose events become alerts. */
export interface AlertSources {
  /** Providers by group name (`crashLoop`, `change` and `operation` events). */
  providers: ReadonlyMap<string, Provider>;
  /** The decision journal (`entry` events). */
  journal: { on(event: 'entry', listener: (entry: JournalEntry) => void): unknown };
  /** The balancer (`health` events), if any. */
  balancer?: { on(event: 'health', listener: (change: HealthChange) => void): unknown };
  /** The NGINX driver (`error` and `synced` events), if `balancer.nginx` is configured. */
  nginx?: NginxSyncSource;
}

/** NginxSyncSource is the part of an NginxDriver the alerts use. */
export interface NginxSyncSource {
  on(event: 'error', listener: (err: { code: string; message: string }) => void): unknown;
  on(event: 'synced', listener: (sync: { failedAttempts: number }) => void): unknown;
}

/** WatchOptions tune how events become alerts. */
export interface WatchOptions {
  /** When provider failures fire `provider:<group>`. @defaultValue defaultProviderFailureRule (3 in a row over 30 s) */
  providerFailure?: ProviderFailureRule;
  /**
   * The clock of the provider-failure rule's `after`. @defaultValue monotonicNow (clock.ts): with
   * Date.now, a step back of the system clock during a streak kept it from ever lasting `after` until
   * the wall clock caught up (an hour for a 1-h step), while the provider kept failing.
   */
  now?: () => number;
}

/** alertKeys are the keys of the built-in alerts, so other modules and tests can name them. */
export const alertKeys = {
  crashLoop: (group: string) => `crash-loop:${group}`,
  blockedAtMax: (group: string) => `blocked-at-max:${group}`,
  unhealthy: (group: string, id: string) => `unhealthy:${group}:${id}`,
  metricSource: (group: string, metric: string) => `metric-source:${group}:${metric}`,
  nginxSync: () => 'nginx-sync',
  provider: (group: string) => `provider:${group}`,
  resize: (group: string) => `resize:${group}`,
  stateLost: () => 'state-lost',
};

/**
 * stateLostAlert: a takeover of a state store that lost its data (the journal's `StateLost`, see
 * controller/state-loss.ts) is a notice, critical: desired counts restart from what runs, and
 * instances a previous leader started that the store no longer records are managed by nobody, which
 * only an operator can check. Nothing later ends it, so it fires and resolves at once (as
 * `PrimaryReplaced` does), and the next loss notifies again. The takeover journals it once per
 * group: `notified` holds the fencing tokens already told, so one takeover is one notice.
 */
export function stateLostAlert(entry: JournalEntry, notified: Set<unknown>): AlertAction | undefined {
  if (!entry.reasons.includes('StateLost')) return undefined;
  const token = entry.inputs.token;
  if (notified.has(token)) return undefined;
  notified.add(token);
  return {
    action: 'notify',
    key: alertKeys.stateLost(),
    input: {
      severity: 'critical',
      summary: `the controller's state store lost its data: ${entry.message}`,
      details: {
        ...(typeof token === 'number' && { token }),
        ...(typeof entry.inputs.holder === 'string' && { holder: entry.inputs.holder }),
      },
    },
  };
}

/** groupHealthy says whether a group has every wanted instance up and ready (or wants none). */
export function groupHealthy(provider: Pick<Provider, 'instances' | 'desired'>): boolean {
  const instances = provider.instances();
  const ready = instances.filter((i) => i.state === 'ready').length;
  return ready >= provider.desired() && instances.every((i) => i.state === 'ready');
}

/**
 * watchForAlerts turns events of a running Scaleplane into alerts (those of crash loops, limits,
 * resizes and provider failures `leaderOnly`: only the leader evaluates them):
 * - a provider's `crashLoop` fires `crash-loop:<group>` (critical), resolved once the group is
 *   healthy again (every wanted instance ready);
 * - a journal entry with `TooManyReplicas` fires `blocked-at-max:<group>`, resolved by the group's
 *   next policy decision without it;
 * - a balancer `health` transition to unhealthy fires `unhealthy:<group>:<id>`, resolved when it is
 *   healthy again or the instance is gone;
 * - a failed NGINX sync fires `nginx-sync` (NGINX runs stale upstreams), resolved by the next sync
 *   that reloads it (the driver retries on its own);
 * - a provider operation that keeps failing (see `judgeProviderOutcome`) fires `provider:<group>`
 *   (warning), resolved once every operation that failed so succeeds again;
 * - a journal entry `ResizeFailed` (a resize that failed, asked through the API or resumed by a
 *   successor from the engine) fires `resize:<group>` (warning), resolved by the group's next
 *   `ResizeFinished`;
 * - a journal entry `StateLost` (a takeover found the state store's data lost) notifies
 *   `state-lost` (critical; fired and resolved at once, once per takeover: see stateLostAlert).
 */
export function watchForAlerts(
  alerts: AlertManager,
  sources: AlertSources,
  options: WatchOptions = {},
): void {
  const rule = options.providerFailure ?? defaultProviderFailureRule;
  const now = options.now ?? monotonicNow;
  for (const [group, provider] of sources.providers) {
    const key = alertKeys.provider(group);
    let failing: ProviderFailureState = new Map();
    provider.on('operation', (outcome) => {
      const at = now();
      const verdict = judgeProviderOutcome(failing, outcome, at, rule);
      failing = verdict.state;
      const streak = verdict.streak;
      if (verdict.firing && streak) {
        const seconds = Math.round((at - streak.since) / 1000);
        alerts.fire(key, {
          severity: 'warning',
          group,
          // A standby writes nothing to the engine: the write that fails is retried by the leader.
          leaderOnly: true,
          summary: `group ${group}: ${provider.kind} provider failing: ${streak.operation} failed ${streak.failures} times in a row over ${seconds} s: ${streak.lastError}`,
          details: {
            provider: provider.kind,
            operation: streak.operation,
            failures: streak.failures,
            since: new Date(streak.since).toISOString(),
            error: streak.lastError,
          },
        });
      } else if (!verdict.firing && verdict.ended && alerts.isFiring(key)) {
        const ended = verdict.ended;
        alerts.resolve(
          key,
          `group ${group}: ${provider.kind} provider recovered: ${ended.operation} succeeded after ${ended.failures} failures in a row`,
        );
      } else if (!verdict.firing && !outcome.error && alerts.isFiring(key)) {
        // Firing with no streak here: inherited from the previous leader (see AlertManager.inherit).
        // The operation it names succeeding here is what would have ended that streak.
        const inherited = alerts.active().find((a) => a.key === key);
        if (inherited?.details.operation === outcome.operation)
          alerts.resolve(
            key,
            `group ${group}: ${provider.kind} provider recovered: ${outcome.operation} succeeded on the new leader`,
          );
      }
    });
    provider.on('crashLoop', (detail) => {
      alerts.fire(alertKeys.crashLoop(group), {
        severity: 'critical',
        group,
        leaderOnly: true,
        summary: `group ${group} is crash-looping: ${detail.crashes} crashes in ${detail.windowMs} ms; replacement paused`,
        details: { crashes: detail.crashes, windowMs: detail.windowMs, desired: provider.desired() },
      });
    });
    provider.on('change', () => {
      if (alerts.isFiring(alertKeys.crashLoop(group)) && groupHealthy(provider)) {
        const ready = provider.instances().length;
        alerts.resolve(alertKeys.crashLoop(group), `group ${group} is healthy again: ${ready} ready`);
      }
      const present = new Set(provider.instances().map((i) => i.id));
      const prefix = alertKeys.unhealthy(group, '');
      alerts.resolveWhere(
        (key) => key.startsWith(prefix) && !present.has(key.slice(prefix.length)),
        `instance of group ${group} is gone`,
        // Nothing brings a gone instance back under its id: there is nothing to wait for.
        { immediately: true },
      );
    });
  }

  const lostTokens = new Set<unknown>();
  sources.journal.on('entry', (entry) => applyAlertAction(alerts, stateLostAlert(entry, lostTokens)));

  sources.journal.on('entry', (entry) => {
    const key = alertKeys.resize(entry.group);
    if (entry.reasons.includes('ResizeFailed'))
      alerts.fire(key, {
        severity: 'warning',
        group: entry.group,
        leaderOnly: true,
        summary: `group ${entry.group}: ${entry.message}`,
        details: {
          ...(typeof entry.inputs.code === 'string' && { code: entry.inputs.code }),
          source: entry.source,
        },
      });
    else if (entry.reasons.includes('ResizeFinished') && alerts.isFiring(key))
      alerts.resolve(key, `group ${entry.group}: ${entry.message}`);
  });

  sources.journal.on('entry', (entry) => {
    const key = alertKeys.blockedAtMax(entry.group);
    // Only the policy wanting more than max fires it: a start or reload that lowered a count to max
    // says TooManyReplicas too, about a count, not about the load.
    if (entry.source !== 'policy' || !entry.reasons.includes('TooManyReplicas')) {
      // Only the policy's next decision says whether it still wants more than max: a replaced
      // instance, a manual change or a learnt start-up says nothing about that (and a held group
      // is journaled once, so resolving on them would lose the alert while it still holds).
      if (entry.source !== 'policy' || entry.reasons.includes('StartupLearnt')) return;
      alerts.resolve(key, `group ${entry.group} is no longer held at its maximum (${entry.message})`);
      return;
    }
    const wanted = entry.inputs.prenormalized;
    alerts.fire(key, {
      severity: 'warning',
      group: entry.group,
      leaderOnly: true,
      summary: `group ${entry.group} wants more instances than max_instances allows: ${entry.message}`,
      details: {
        instances: entry.after,
        ...(typeof wanted === 'number' && { wanted }),
        reasons: entry.reasons,
      },
    });
  });

  sources.balancer?.on('health', (change) => {
    const key = alertKeys.unhealthy(change.group, change.id);
    if (change.healthy) {
      alerts.resolve(key, `instance ${change.id} of group ${change.group} is healthy again`);
      return;
    }
    alerts.fire(key, {
      severity: 'warning',
      group: change.group,
      summary: `instance ${change.id} (${change.address}) of group ${change.group} failed its health check: ${change.detail}`,
      details: { instance: change.id, address: change.address, check: change.detail },
    });
  });

  const nginxKey = alertKeys.nginxSync();
  sources.nginx?.on('error', (err) => {
    alerts.fire(nginxKey, {
      severity: 'warning',
      summary: `NGINX upstreams are stale: sync failed (${err.code}: ${err.message}); retrying with backoff`,
      details: { code: err.code },
      // Every controller drives its own NGINX: a standby's stale upstreams are its own to report.
      local: true,
    });
  });
  sources.nginx?.on('synced', (sync) => {
    if (!alerts.isFiring(nginxKey)) return;
    alerts.resolve(nginxKey, `NGINX upstreams in sync again after ${sync.failedAttempts} failed attempts`);
  });
}
