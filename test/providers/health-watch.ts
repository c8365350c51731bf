// The controller's InstanceHealthWatch on a real provider (against a fake engine), with a clock the
// test moves and the balancer's health verdicts played by the test: what a group's instance goes
// through between failing its health checks and being replaced, minus the HTTP checks themselves.
import type { Pool } from '../../src/balancer/pool.js';
import { DecisionJournal, InstanceHealthWatch, type JournalEntry } from '../../src/controller/index.js';
import type { Provider } from '../../src/providers/index.js';

/** REPLACE_AFTER is the watch's `replace_after` here, ms (the default). */
export const REPLACE_AFTER = 30_000;

/**
 * watchHealth wires an InstanceHealthWatch to `provider` (group `web`); the test calls tick(). With
 * `pool`, the balancer's pool as the app feeds it (instances on every change, drains by the hook),
 * the watch sees its backends and verdicts reach it too.
 */
export function watchHealth(provider: Provider, pool?: Pool) {
  const journal = new DecisionJournal();
  const clock = { now: 1_000_000 };
  const unhealthy = new Set<string>();
  const watch = new InstanceHealthWatch({
    journal,
    provider: (group) => (group === 'web' ? provider : undefined),
    backends: () =>
      pool
        ? pool.members().map((m) => m.snapshot())
        : provider
            .instances()
            .filter((i) => i.state === 'ready')
            .map((i) => ({ id: i.id, healthy: !unhealthy.has(i.id), ejected: false, draining: false })),
    replaceAfter: REPLACE_AFTER,
    panicThreshold: 50,
    logger: { info() {}, warn() {}, error() {} },
    now: () => clock.now,
  });
  const verdict = (id: string, healthy: boolean) => {
    if (healthy) unhealthy.delete(id);
    else unhealthy.add(id);
    pool?.setHealthy(id, healthy);
    watch.onHealth({ group: 'web', id, address: '127.0.0.1:1', healthy, detail: healthy ? '200' : '503' });
  };
  /** next resolves with the next journal entry with `reason` (or one already there, for `instance`). */
  const next = (reason: string, instance: string) =>
    new Promise<JournalEntry>((resolve) => {
      const found = journal.entries().find((e) => e.reasons[0] === reason && e.inputs.instance === instance);
      if (found) return resolve(found);
      const onEntry = (e: JournalEntry) => {
        if (e.reasons[0] !== reason || e.inputs.instance !== instance) return;
        journal.off('entry', onEntry);
        resolve(e);
      };
      journal.on('entry', onEntry);
    });
  /** reasons lists the instance's entries by first reason, `×N` after one repeated N times (see DecisionJournal). */
  const reasons = (instance: string) =>
    journal
      .entries()
      .filter((e) => e.inputs.instance === instance)
      .map((e) => (e.count === undefined ? e.reasons[0] : `${e.reasons[0]}×${e.count}`));
  /** times counts the decisions with first reason `reason` about the instance, repeats included. */
  const times = (instance: string, reason: string) =>
    journal
      .entries()
      .filter((e) => e.inputs.instance === instance && e.reasons[0] === reason)
      .reduce((n, e) => n + (e.count ?? 1), 0);
  return { journal, clock, watch, verdict, next, reasons, times };
}
