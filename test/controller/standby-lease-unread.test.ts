// A standby that could not read the lease says so: it used to log "no leader yet (the lease is free
// or has just expired)", which sent whoever read it looking for a leader that had died, when the
// lease store itself was unreachable. A Redis lease on a port nothing listens on: every call fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  LeaderElector,
  Leadership,
  RedisLease,
} from '../../src/controller/index.js';
import { freePort } from '../helpers/ports.js';

describe('a standby whose lease store does not answer', () => {
  it('says the lease could not be read, with why, not that there is no leader', async (t) => {
    const lease = new RedisLease({
      url: `redis://127.0.0.1:${await freePort()}`,
      name: 'unread',
      commandTimeout: 300,
    });
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      info: (fields: Record<string, unknown>, msg: string) => void lines.push({ fields, msg }),
      warn() {},
      error() {},
    };
    const journal = new DecisionJournal();
    const controller = new Controller({
      config: { controller: { interval: 60_000, journalSize: 100 }, groups: {} } as unknown as Config,
      journal,
      logger,
      backends: () => [],
      groups: [],
    });
    const leadership = new Leadership({
      elector: new LeaderElector({ store: lease, holder: 'standby', ttl: 3000 }),
      lease,
      controller,
      journal,
      state: undefined,
      providers: new Map(),
      registry: new Registry(),
      logger,
    });
    t.after(async () => {
      await leadership.close();
      controller.close();
      await lease.close();
    });
    await leadership.start();
    assert.equal(leadership.leading, false, 'not leading: the lease could not be won');
    const standing = lines.filter((l) => l.msg.startsWith('standing by'));
    assert.equal(standing.length, 1, `one standing-by line: ${JSON.stringify(lines.map((l) => l.msg))}`);
    assert.match(standing[0]!.msg, /^standing by: the lease could not be read \(.+\)$/);
    assert.ok(standing[0]!.fields.err instanceof Error, 'the error is logged with the line');
  });
});
