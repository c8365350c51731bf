// A takeover that fails — the state store cannot be read when the lease is won (a PostgreSQL
// restarting, a state file that cannot be read) — must not leave a leader that holds the lease and
// does nothing: no loop, no instances adopted, and no standby able to take over while it renews.
// It steps down and gives the lease up, and the takeover is tried again (by it or another one).
// On real Redis (the lease) and a real file system (the state: a folder where the file should be).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  FileState,
  LeaderElector,
  Leadership,
  type LeadershipRole,
  RedisLease,
} from '../../src/controller/index.js';
import { REDIS_URL } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';

describe('a takeover that fails', () => {
  it('steps down, gives the lease up, and is tried again until it succeeds', async (t) => {
    const name = `takeover-failed-${randomBytes(4).toString('hex')}`;
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-takeover-'));
    const path = join(dir, 'state.json');
    // A folder where the state file should be: every read fails (EISDIR), as an unreadable store does.
    await mkdir(path);
    const lease = new RedisLease({ url: REDIS_URL, name });
    await lease.connect();
    const errors: string[] = [];
    const logger = { info() {}, warn() {}, error: (_: unknown, msg: string) => void errors.push(msg) };
    const journal = new DecisionJournal();
    const controller = new Controller({
      config: { controller: { interval: 60_000, journalSize: 100 }, groups: {} } as unknown as Config,
      journal,
      logger,
      backends: () => [],
      groups: [],
    });
    const roles: LeadershipRole[] = [];
    const elector = new LeaderElector({ store: lease, holder: 'failing', ttl: 1200 });
    const leadership = new Leadership({
      elector,
      lease,
      controller,
      journal,
      state: new FileState({ path }),
      providers: new Map(),
      registry: new Registry(),
      logger,
      onRole: (role) => roles.push(role),
    });
    t.after(async () => {
      await leadership.close();
      controller.close();
      await lease.close();
      const redis = new Redis(REDIS_URL);
      await redis.del(`${name}:leader`, `${name}:fencing-token`);
      await redis.quit();
      await rm(dir, { recursive: true, force: true });
    });
    await leadership.start();
    assert.ok(errors.length > 0, 'the takeover failed (the state cannot be read)');
    await until(
      async () => (await lease.current()) === undefined || roles.filter((r) => r === 'takeover').length >= 2,
      10_000,
      `the failed leader gives the lease up or tries again (roles ${roles.join(', ')}; errors ${errors.join(' | ')})`,
    );
    // The store answers again: the next try succeeds.
    await rm(path, { recursive: true });
    await until(
      () => roles.includes('leading'),
      10_000,
      `a leader with its controller started (roles ${roles.join(', ')}; errors ${errors.join(' | ')})`,
    );
    assert.equal(leadership.leading, true, 'it leads');
    assert.ok(controller.leading, 'its controller runs');
  });
});
