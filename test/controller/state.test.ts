// Controller state stores — file, Redis, PostgreSQL — with one set of cases run against each.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Alert } from '../../src/alerts/index.js';
import { type JournalEntry, journalAfter } from '../../src/controller/index.js';
import {
  FileState,
  PostgresState,
  RedisState,
  StateError,
  type StateStore,
} from '../../src/controller/state/index.js';
import { dropPostgresState, dropRedisState } from '../helpers/shared-stores.js';

const execFileAsync = promisify(execFile);
const REDIS_URL = 'redis://127.0.0.1:6379';
const PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

interface Backend {
  name: string;
  open(journalSize: number): Promise<{ open(): Promise<StateStore>; cleanup(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'file',
    async open(journalSize) {
      const dir = await mkdtemp(join(tmpdir(), 'scaleplane-state-'));
      const path = join(dir, 'state.json');
      return {
        open: async () => new FileState({ path, journalSize }),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'redis',
    async open(journalSize) {
      const name = `state-test-${randomBytes(4).toString('hex')}`;
      return {
        async open() {
          const store = new RedisState({ url: REDIS_URL, name, journalSize });
          await store.connect();
          return store;
        },
        cleanup: () => dropRedisState(name),
      };
    },
  },
  {
    name: 'postgres',
    async open(journalSize) {
      const name = `state_test_${randomBytes(4).toString('hex')}`;
      return {
        async open() {
          const store = new PostgresState({ url: PG_URL, name, journalSize });
          await store.connect();
          return store;
        },
        cleanup: () => dropPostgresState(name),
      };
    },
  },
];

function entry(seq: number, after: number): JournalEntry {
  return {
    seq,
    time: new Date(seq * 1000).toISOString(),
    group: 'web',
    source: 'api',
    before: after - 1,
    after,
    reasons: ['ManualScale'],
    message: `${after - 1} → ${after}`,
    inputs: { n: seq },
  };
}

for (const backend of BACKENDS) {
  describe(`${backend.name} state store`, () => {
    let harness: Awaited<ReturnType<Backend['open']>>;
    before(async () => {
      harness = await backend.open(3);
    });
    after(() => harness.cleanup());

    it('starts empty, and what one store wrote a second one (a successor) reads', async () => {
      const first = await harness.open();
      assert.deepEqual(await first.load(), { desired: {}, journal: [] });
      assert.deepEqual(await first.list('web'), []);

      await first.saveDesired('web', 2);
      await first.saveDesired('web', 3);
      await first.saveDesired('api', 1);
      for (let i = 1; i <= 5; i++) await first.appendJournal(entry(i, i));
      const record = { id: 'web-1', pid: 4242, port: 31000, startTime: 99, startedAt: 1_000 };
      await first.put('web', record);
      await first.put('web', { ...record, id: 'web-2', pid: 4243 });
      await first.put('web', { ...record, id: 'web-3', pid: 4244 });
      await first.remove('web', 'web-2');
      await first.close();

      const successor = await harness.open();
      const state = await successor.load();
      assert.deepEqual(state.desired, { web: 3, api: 1 });
      const seqs = state.journal.map((e) => e.seq);
      // Postgres trims lazily; every store returns at most journalSize, newest last.
      assert.deepEqual(seqs.slice(-3), [3, 4, 5]);
      assert.ok(seqs.length <= 5, 'seqs.length <= 5');
      assert.deepEqual(state.journal.at(-1), entry(5, 5));
      assert.deepEqual(
        await successor.loadJournal(),
        state.journal,
        'loadJournal reads the journal load reads',
      );
      assert.deepEqual((await successor.list('web')).map((r) => [r.id, r.pid]).sort(), [
        ['web-1', 4242],
        ['web-3', 4244],
      ]);
      assert.deepEqual(await successor.list('api'), []);
      await successor.close();
    });

    it('keeps the newest journalSize entries through a long run of repeats', async () => {
      // A repeat takes the place of the entry it repeats (see DecisionJournal); a provider failing
      // tick after tick repeats a pair of entries hundreds of times. The history before the outage
      // is what an operator reads afterwards, on whichever controller leads then.
      const own = await backend.open(3);
      try {
        const store = await own.open();
        await store.appendJournal(entry(1, 1));
        await store.appendJournal(entry(2, 2));
        let last = { ...entry(3, 3), count: 1 };
        await store.appendJournal(last);
        for (let seq = 4; seq < 4 + 250; seq++) {
          const next = { ...last, seq, count: last.count + 1, firstSeq: 3 };
          await store.appendJournal(next, last);
          last = next;
        }
        const seqs = (await store.load()).journal.map((e) => e.seq);
        await store.close();
        console.log(`${backend.name}: after 250 repeats the store holds seqs ${JSON.stringify(seqs)}`);
        assert.deepEqual(seqs, [1, 2, 253], 'the two entries before the repeats are kept');
      } finally {
        await own.cleanup();
      }
    });

    it('loadJournalAfter reads the entries after a seq alone, as journalAfter tells them of the whole journal', async () => {
      // What a standby's live stream polls every second: before, it read the whole journal each time.
      const own = await backend.open(100);
      try {
        const store = await own.open();
        assert.deepEqual(await store.loadJournalAfter(0), { entries: [], newestSeq: 0 }, 'an empty journal');
        for (let seq = 1; seq <= 70; seq++) await store.appendJournal(entry(seq, seq));
        // A repeat of 69 moves it to the end as 71 (its twin gone), as DecisionJournal does.
        await store.appendJournal({ ...entry(71, 69), count: 2, firstSeq: 69 }, entry(69, 69));
        const whole = await store.loadJournal();
        const seqs = (tail: { entries: JournalEntry[] }) => tail.entries.map((e) => e.seq);
        // 70 and 71 nothing new; 69 a repeat's moved seq; 3 more than a Redis page of 64 back;
        // 80 past the newest (a store that went back); 0 all of it.
        for (const after of [71, 70, 69, 68, 3, 80, 0]) {
          const tail = await store.loadJournalAfter(after);
          assert.deepEqual(tail, journalAfter(whole, after), `loadJournalAfter(${after})`);
        }
        const quiet = await store.loadJournalAfter(71);
        assert.deepEqual(
          [seqs(quiet), quiet.newestSeq, quiet.timeAtSeq],
          [[], 71, entry(71, 69).time],
          'nothing new: no entries, the newest seq and the time at the seq asked for',
        );
        const gone = await store.loadJournalAfter(80);
        assert.deepEqual(
          [seqs(gone), gone.newestSeq, gone.timeAtSeq],
          [[], 71, undefined],
          'a seq past the newest',
        );
        assert.deepEqual(
          seqs(await store.loadJournalAfter(68)),
          [70, 71],
          "after 68: 70 and the repeat's 71",
        );
        await store.close();
      } finally {
        await own.cleanup();
      }
    });

    it('keeps the size a resize put in force for a successor, and forgets a cleared one', async () => {
      const first = await harness.open();
      assert.equal(await first.getSize('web'), undefined);
      const saved = {
        size: { cpu: 0.5, memory: 256 * 1024 * 1024 },
        configured: { memory: 128 * 1024 * 1024 },
      };
      await first.putSize('web', saved);
      await first.putSize('api', { size: { cpu: 1 } });
      await first.putSize('api', undefined);
      await first.close();
      const successor = await harness.open();
      assert.deepEqual(await successor.getSize('web'), saved);
      assert.equal(await successor.getSize('api'), undefined);
      await successor.close();
    });

    it('keeps the alerts the receivers show firing for a successor, and forgets a resolved one', async () => {
      const first = await harness.open();
      assert.deepEqual(await first.openAlerts(), []);
      const alert = (key: string, status: Alert['status'] = 'firing'): Alert => ({
        key,
        status,
        severity: 'critical',
        summary: `${key} fires`,
        group: 'web',
        details: { crashes: 3 },
        startsAt: new Date(1_000).toISOString(),
        occurrences: 1,
        source: 'scaleplane',
      });
      await first.putAlert('crash-loop:web', alert('crash-loop:web'));
      await first.putAlert('blocked-at-max:web', alert('blocked-at-max:web'));
      await first.putAlert('blocked-at-max:web', undefined);
      await first.close();
      const successor = await harness.open();
      assert.deepEqual(await successor.openAlerts(), [alert('crash-loop:web')]);
      await successor.close();
    });
  });
}

describe('file state store', () => {
  it('replaces the file atomically (no temporary file left) and names a corrupt file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-state-'));
    try {
      const path = join(dir, 'state.json');
      const store = new FileState({ path });
      await Promise.all([1, 2, 3, 4].map((n) => store.saveDesired(`g${n}`, n)));
      assert.deepEqual((await store.load()).desired, { g1: 1, g2: 2, g3: 3, g4: 4 }, 'no write lost');
      assert.deepEqual(await readdir(dir), ['state.json']);

      await writeFile(path, '{"desired": {"web": 2');
      await assert.rejects(store.load(), (err: unknown) => {
        assert.ok(err instanceof StateError, 'err instanceof StateError');
        assert.equal(err.code, 'STATE_CORRUPT');
        assert.match(err.message, /state\.json/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a write that fails on a full disk leaves no temporary file, and the last good state', async (t) => {
    // Before: on ENOSPC the partial state.json.<pid>.tmp stayed beside the intact file (measured on a
    // 64 KiB tmpfs: a 32 KiB leftover, half the disk), one more after every run that crashed so.
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-state-full-'));
    try {
      await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      t.skip(`needs a tmpfs mount (root): ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    try {
      const path = join(dir, 'state.json');
      const store = new FileState({ path });
      await store.saveDesired('web', 2);
      const good = await readFile(path, 'utf8');
      await writeFile(join(dir, 'filler'), Buffer.alloc(60 * 1024)).catch(() => {});
      const entry = (seq: number): JournalEntry => ({
        seq,
        time: new Date(0).toISOString(),
        group: 'web',
        source: 'policy',
        before: 1,
        after: 2,
        reasons: ['AboveTarget'],
        message: 'x'.repeat(8 * 1024),
        inputs: {},
      });
      await assert.rejects(store.appendJournal(entry(1)), /ENOSPC/);
      assert.deepEqual((await readdir(dir)).sort(), ['filler', 'state.json']);
      assert.equal(await readFile(path, 'utf8'), good);
      await rm(join(dir, 'filler'));
      await store.appendJournal(entry(2));
      assert.deepEqual(
        (await store.load()).journal.map((e) => e.seq),
        [2],
      );
    } finally {
      await execFileAsync('umount', [dir]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('postgres state store on tables of an earlier version', () => {
  it('adds what it needs to an existing desired table and keeps its counts', async () => {
    const name = `state_old_${randomBytes(4).toString('hex')}`;
    const table = (t: string) => pg.escapeIdentifier(`${name}_${t}`);
    const client = new pg.Client(PG_URL);
    await client.connect();
    after(async () => {
      await client.end();
      await dropPostgresState(name);
    });
    // As created before the write sequence and sizes existed.
    await client.query(
      `CREATE TABLE ${table('desired')} (group_name text PRIMARY KEY, desired integer NOT NULL)`,
    );
    await client.query(`INSERT INTO ${table('desired')} VALUES ('web', 3)`);
    const store = new PostgresState({ url: PG_URL, name });
    await store.connect();
    after(() => store.close());
    assert.deepEqual((await store.load()).desired, { web: 3 });
    await store.saveDesired('web', 5);
    await store.putSize('web', { size: { memory: 256 * 1024 * 1024 } });
    assert.deepEqual((await store.load()).desired, { web: 5 });
    assert.deepEqual(await store.getSize('web'), { size: { memory: 256 * 1024 * 1024 } });
  });
});

describe('postgres state store: controllers connecting at once', () => {
  it('each connects when they create the same fresh tables together', async () => {
    // Before, a CREATE TABLE that lost the race by PostgreSQL's duplicate_object (42710, `type
    // "<name>_instances" already exists`) failed connect: 6 of 90 connects, 3 at a time.
    const failures: string[] = [];
    for (let round = 0; round < 20; round++) {
      const name = `state_race_${randomBytes(4).toString('hex')}`;
      const stores = Array.from({ length: 4 }, () => new PostgresState({ url: PG_URL, name }));
      const results = await Promise.allSettled(stores.map((store) => store.connect()));
      for (const result of results)
        if (result.status === 'rejected') failures.push((result.reason as Error).message);
      await Promise.all(stores.map((store) => store.close()));
      await dropPostgresState(name);
    }
    assert.deepEqual(failures, [], `${failures.length} of 80 connects failed`);
  });
});
