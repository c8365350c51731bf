// A standby's live stream (GET /api/scalability/stream, the dashboard's) shows the leader's
// decisions, read from the state store, as GET /events does, polling only the entries after those
// it sent; and when the standby takes over, its stream goes on from the same seq with its own
// journal, no entry twice, none left out.
// Two whole Scaleplanes in this process on one config with a Redis, then a PostgreSQL lease (state
// in the same database).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import {
  type JournalEntry,
  type JournalTail,
  type LeaderJournalReader,
  PostgresState,
  RedisState,
  type StateStore,
} from '../../src/controller/index.js';
import type { DecisionMark, StreamHello } from '../../src/dashboard/index.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { INTEGRATION_TOKEN, nextEntry, startInProcess } from '../helpers/scaleplane.js';
import { dropPostgresState, dropRedisState } from '../helpers/shared-stores.js';
import { within } from '../helpers/until.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

interface Backend {
  name: string;
  url: string;
  /** A store of the test's own on the lease's state (same backend, URL and name), reads only. */
  open(name: string): Promise<StateStore>;
  cleanup(name: string): Promise<void>;
}

const BACKENDS: Backend[] = [
  {
    name: 'redis',
    url: REDIS_URL,
    async open(name) {
      const store = new RedisState({ url: REDIS_URL, name });
      await store.connect();
      return store;
    },
    cleanup: (name) => dropRedisState(name),
  },
  {
    name: 'postgres',
    url: PG_URL,
    async open(name) {
      const store = new PostgresState({ url: PG_URL, name });
      await store.connect();
      return store;
    },
    cleanup: (name) => dropPostgresState(name),
  },
];

/** JournalRead is one read of the leader's journal: whole, or after a seq; the seqs it returned. */
interface JournalRead {
  after?: number;
  seqs: number[];
}

/**
 * CountingReader reads the leader's journal through a store and records each read and the entries
 * it returned: what the standby's stream costs the store.
 */
class CountingReader implements LeaderJournalReader {
  readonly reads: JournalRead[] = [];
  readonly #store: StateStore;
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(store: StateStore) {
    this.#store = store;
  }

  async loadJournal(): Promise<JournalEntry[]> {
    const entries = await this.#store.loadJournal();
    this.#record({ seqs: entries.map((e) => e.seq) });
    return entries;
  }

  async loadJournalAfter(seq: number): Promise<JournalTail> {
    const tail = await this.#store.loadJournalAfter(seq);
    this.#record({ after: seq, seqs: tail.entries.map((e) => e.seq) });
    return tail;
  }

  /** readsDone resolves once `n` more reads were made and the feed took the last in. */
  readsDone(n: number): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ count: this.reads.length + n, resolve }));
  }

  #record(read: JournalRead): void {
    this.reads.push(read);
    const due = this.#waiters.filter((w) => this.reads.length >= w.count);
    this.#waiters = this.#waiters.filter((w) => this.reads.length < w.count);
    setImmediate(() => {
      for (const w of due) w.resolve();
    });
  }
}

const APP = `
import { createServer } from 'node:http';
const server = createServer((req, res) => res.writeHead(200).end('ok'));
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** Stream is one open live stream: every event so far, and a wait for the next that matches. */
class Stream {
  readonly events: { event: string; data: unknown }[] = [];
  readonly #abort = new AbortController();
  #waiters: (() => void)[] = [];
  #ended: Error | undefined;

  static async open(app: Scaleplane): Promise<Stream> {
    const stream = new Stream();
    const { host, port } = app.apiAddress!;
    const res = await fetch(`http://${host}:${port}/api/scalability/stream?group=web`, {
      headers: { authorization: `Bearer ${INTEGRATION_TOKEN}` },
      signal: stream.#abort.signal,
    });
    assert.equal(res.status, 200, await (res.ok ? Promise.resolve('') : res.text()));
    void stream.#read(res);
    return stream;
  }

  async #read(res: Response): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) this.events.push({ event, data: JSON.parse(data) });
        }
        this.#wake();
      }
      this.#ended = new Error('the stream ended');
    } catch (err) {
      this.#ended = err as Error;
    }
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** until resolves once an event so far matches (not a timed assertion: `within` bounds a hang). */
  async until(what: string, match: (e: { event: string; data: unknown }) => boolean): Promise<void> {
    const seen = () => this.events.some(match);
    await within(
      `${what}; the stream had: ${JSON.stringify(this.events.filter((e) => e.event !== 'tick'))}`,
      30_000,
      (async () => {
        while (!seen()) {
          if (this.#ended) throw this.#ended;
          await new Promise<void>((resolve) => this.#waiters.push(resolve));
        }
      })(),
    );
  }

  /** hellos are the hello events so far. */
  hellos(): StreamHello[] {
    return this.events.filter((e) => e.event === 'hello').map((e) => e.data as StreamHello);
  }

  /** decisions are the decision events after the newest hello. */
  decisions(): DecisionMark[] {
    const last = this.events.findLastIndex((e) => e.event === 'hello');
    return this.events
      .slice(last + 1)
      .filter((e) => e.event === 'decision')
      .map((e) => e.data as DecisionMark);
  }

  close(): void {
    this.#abort.abort();
  }
}

const line = (e: { seq?: number; reasons: string[]; before: number; after: number }) =>
  `${e.seq} ${e.reasons.join(',')} ${e.before}->${e.after}`;

for (const backend of BACKENDS)
  describe(`a standby's live stream shows the leader's decisions (${backend.name} lease and state)`, () => {
    const name = `ha_standby_stream_${randomBytes(3).toString('hex')}`;
    const apps: Scaleplane[] = [];
    const streams: Stream[] = [];
    const stores: StateStore[] = [];
    let dir = '';

    after(async () => {
      for (const s of streams) s.close();
      const groups = new KnownGroups();
      for (const a of apps)
        for (const i of a.providers.get('web')?.instances() ?? []) if (i.pid) groups.add(i.pid);
      await Promise.all(apps.map((a) => a.close()));
      groups.killAll('SIGKILL');
      for (const s of stores) await s.close();
      await backend.cleanup(name);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("delivers the leader's scale, then its own decisions once it took over, each seq once", async () => {
      dir = await mkdtemp(join(tmpdir(), 'scaleplane-ha-stream-'));
      await writeFile(join(dir, 'app.mjs'), APP);
      const yaml = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 200ms, timeout: 500ms }
controller:
  lease: { backend: ${backend.name}, url: "${backend.url}", ttl: 3000ms, name: ${name} }
groups:
  web:
    command: exec "${process.execPath}" app.mjs
    min_instances: 1
    max_instances: 3
`;
      const leader = await startInProcess(yaml, dir);
      apps.push(leader);
      const standby = await startInProcess(yaml, dir);
      apps.push(standby);
      assert.equal(standby.controller.leading, false, 'the second controller stands by');
      // The standby reads the leader's journal through a store that counts what it returned.
      const store = await backend.open(name);
      stores.push(store);
      const reader = new CountingReader(store);
      standby.controller.readLeaderJournalWith(reader);

      const stream = await Stream.open(standby);
      streams.push(stream);
      await stream.until('a hello', (e) => e.event === 'hello');
      const [hello] = stream.hellos();
      // Its newest: the leader may have journaled more since (those come as decisions).
      const helloNewest = Math.max(0, ...hello!.decisions.map((d) => d.seq ?? 0));
      assert.ok(helloNewest > 0, `the standby's hello holds decisions: ${JSON.stringify(hello!.decisions)}`);
      const journalOf = (app: Scaleplane, since: number, upTo: number) =>
        app.controller
          .events({ group: 'web', since, limit: 1000 })
          .filter((e) => e.seq <= upTo)
          .map(line);
      assert.deepEqual(
        hello!.decisions.map(line),
        journalOf(leader, 0, helloNewest),
        "the standby's hello holds the leader's journal",
      );

      const { stored } = leader.controller.scale('web', 'set', 2, 'test');
      await stored.confirm(5_000);
      const scaled = leader.controller.events({ group: 'web' }).at(-1)!;
      assert.deepEqual([scaled.before, scaled.after, scaled.reasons], [1, 2, ['ManualScale']]);
      await stream.until(
        `the leader's ${line(scaled)} on the standby's stream`,
        (e) => e.event === 'decision' && (e.data as DecisionMark).seq === scaled.seq,
      );
      assert.deepEqual(
        stream.decisions().map(line),
        journalOf(leader, helloNewest, scaled.seq),
        "the standby's stream delivers the leader's decisions after its hello, each once",
      );
      assert.equal(
        reader.reads.filter((r) => r.after === undefined).length,
        1,
        `one whole read, for the hello; reads: ${JSON.stringify(reader.reads)}`,
      );

      // Second by second, the polls read only what the leader journaled after the newest the stream
      // has: before, each read the whole journal. Three polls: a quiet leader's return no entry, and
      // what it journaled meanwhile (an instance's health, say) is all they return.
      const from = reader.reads.length;
      await within('three polls', 30_000, reader.readsDone(3));
      const polls = reader.reads.slice(from);
      const since = polls[0]!.after ?? 0;
      const returned = polls.flatMap((r) => r.seqs);
      const journaled = leader.controller
        .events({ since, limit: 1000 })
        .map((e) => e.seq)
        .filter((seq) => seq <= Math.max(since, ...returned));
      assert.ok(
        since >= scaled.seq,
        `the polls read after the stream's newest (${scaled.seq}): ${JSON.stringify(polls)}`,
      );
      assert.deepEqual(
        [polls.map((r) => r.after !== undefined), returned],
        [[true, true, true], journaled],
        `three polls, each after a seq, returning only what was new: ${JSON.stringify(polls)}`,
      );
      assert.ok(
        polls.some((r) => r.seqs.length === 0),
        `a poll with nothing new returned no entry: ${JSON.stringify(polls)}`,
      );

      // The leader steps down (its lease released): the standby takes over, restores the journal
      // from the store and journals its own from there; its stream switches to that journal.
      const started = nextEntry(standby, (e) => e.group === 'web' && e.source === 'startup', 30_000);
      await leader.close();
      await started;
      const { stored: stored3 } = standby.controller.scale('web', 'set', 3, 'test');
      await stored3.confirm(5_000);
      const third = standby.controller.events({ group: 'web' }).at(-1)!;
      assert.deepEqual([third.before, third.after, third.reasons], [2, 3, ['ManualScale']]);
      await stream.until(
        `the new leader's ${line(third)} on its stream`,
        (e) => e.event === 'decision' && (e.data as DecisionMark).seq === third.seq,
      );
      assert.equal(stream.hellos().length, 1, 'the stream went on without a fresh hello');
      assert.deepEqual(
        stream.decisions().map(line),
        journalOf(standby, helloNewest, third.seq),
        "the stream delivered the journal after its hello, across the takeover, each entry once and in order (new leader's: " +
          `${JSON.stringify(standby.controller.events({ group: 'web' }).map((e) => e.message))})`,
      );
      assert.ok(
        stream.decisions().some((d) => d.reasons.includes('BecameLeader')),
        'the takeover is on the stream',
      );
    });
  });
