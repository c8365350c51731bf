import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { AlertManager, alertKeys, watchForAlerts } from '../../src/alerts/index.js';
import type { JournalEntry } from '../../src/controller/journal.js';

function entry(source: JournalEntry['source'], reasons: string[], before = 3, after = 3): JournalEntry {
  return {
    seq: 0,
    time: new Date(0).toISOString(),
    group: 'web',
    source,
    before,
    after,
    reasons,
    message: `${before} → ${after}`,
    inputs: { prenormalized: 5 },
  };
}

describe('blocked-at-max alert', () => {
  it('stays firing through entries that are not policy decisions, and resolves on the next one', () => {
    const alerts = new AlertManager();
    const journal = new EventEmitter<{ entry: [JournalEntry] }>();
    watchForAlerts(alerts, { providers: new Map(), journal });
    const key = alertKeys.blockedAtMax('web');

    journal.emit('entry', entry('policy', ['AboveTarget', 'TooManyReplicas'], 2, 3));
    assert.equal(alerts.isFiring(key), true);
    // An instance replaced, a manual change, a learnt start-up: the policy still wants 5 of max 3.
    journal.emit('entry', entry('health', ['Unhealthy']));
    journal.emit('entry', entry('api', ['ManualScale'], 3, 2));
    journal.emit('entry', entry('policy', ['StartupLearnt']));
    assert.equal(alerts.isFiring(key), true);

    journal.emit('entry', entry('policy', ['BelowTarget'], 3, 2));
    assert.equal(alerts.isFiring(key), false);
  });
});
