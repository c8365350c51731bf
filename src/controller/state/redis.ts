import type { Redis } from 'ioredis';
import type { Alert } from '../../alerts/types.js';
import { createRedis } from '../../redis-secrets.js';
import type { JournalEntry } from '../journal.js';
import type { JournalTail } from '../journal-tail.js';
import { WriteFence } from './fence.js';
import { FENCED_WRITE, JOURNAL_AFTER, JOURNAL_APPEND } from './scripts.js';
import {
  type ControllerState,
  type LocalInstanceRecord,
  type SavedSize,
  StateError,
  type StateStore,
} from './types.js';

/** How many journal entries JOURNAL_AFTER reads at once, from the newest back. */
const JOURNAL_PAGE = 64;

/** RedisStateOptions configures a RedisState. */
export interface RedisStateOptions {
  url: string;
  /**
   * Key prefix: `<name>:state:desired`, `<name>:state:journal`, `<name>:state:instances:<group>`,
   * `<name>:state:sizes`, `<name>:state:alerts`. @defaultValue 'scaleplane'
   */
  name?: string;
  /** @defaultValue 1000 */
  journalSize?: number;
  /** A command that takes longer fails (see below). @defaultValue 5000 (ms) */
  commandTimeout?: number;
  /**
   * The lease's name when the lease lives in this Redis: every write then runs in one script that
   * first compares the lease's fencing counter `<lease>:fencing-token` with the writer's token (see
   * `fence`). Absent: writes are not fenced. @defaultValue undefined
   */
  lease?: string;
}

/**
 * RedisState keeps controller state in Redis, shared by every controller of the lease: desired
 * counts in a hash, the journal in a capped list in seq order, each group's instances in a hash.
 *
 * With `lease`, every write is one Lua script that goes through only while the lease's fencing
 * counter still holds the writer's token: each takeover increments it, so a deposed leader (paused
 * past its lease, then resumed) cannot write once a successor took the lease. Scripts run one at a
 * time, so no takeover falls between the comparison and the write.
 */
export class RedisState implements StateStore {
  readonly backend = 'redis';
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #journalSize: number;
  readonly #counter: string | undefined;
  readonly #leaseKey: string | undefined;
  readonly #fence = new WriteFence();
  #closed = false;

  constructor(options: RedisStateOptions) {
    this.#prefix = `${options.name ?? 'scaleplane'}:state`;
    this.#journalSize = options.journalSize ?? 1000;
    this.#counter = options.lease === undefined ? undefined : `${options.lease}:fencing-token`;
    this.#leaseKey = options.lease === undefined ? undefined : `${options.lease}:leader`;
    // Its errors never carry the password (see createRedis): a refused AUTH, which rejects every
    // queued command, held it in its fields.
    this.#redis = createRedis(
      options.url,
      {
        lazyConnect: true,
        maxRetriesPerRequest: 2,
        connectTimeout: 2000,
        // A paused or partitioned Redis must not hold a scale-in (it awaits the draining record) or
        // the journal's writes forever: a command that takes longer fails.
        commandTimeout: options.commandTimeout ?? 5000,
      },
      (detail) => new Error(`state: url: ${detail}`),
    );
    this.#redis.on('error', () => {});
  }

  /** connect opens the connection; rejects STATE_UNAVAILABLE when Redis does not answer. */
  async connect(): Promise<void> {
    try {
      await this.#redis.connect();
    } catch (err) {
      throw new StateError('STATE_UNAVAILABLE', `state: cannot reach Redis (${(err as Error).message})`, {
        cause: err,
      });
    }
  }

  async load(): Promise<ControllerState> {
    const [desired, journal] = await Promise.all([
      this.#redis.hgetall(`${this.#prefix}:desired`),
      this.loadJournal(),
    ]);
    return {
      desired: Object.fromEntries(Object.entries(desired).map(([g, n]) => [g, Number(n)])),
      journal,
    };
  }

  async loadJournal(): Promise<JournalEntry[]> {
    const journal = await this.#redis.lrange(`${this.#prefix}:journal`, 0, -1);
    return journal.map((e) => JSON.parse(e) as JournalEntry);
  }

  /**
   * loadJournalAfter runs JOURNAL_AFTER: the entries after `seq` come from the list's end, read back
   * to the first one at or below it, and only they are sent (a page of JOURNAL_PAGE at a time).
   */
  async loadJournalAfter(seq: number): Promise<JournalTail> {
    const [stopSeq, stopTime, fresh] = (await this.#redis.eval(
      JOURNAL_AFTER,
      1,
      `${this.#prefix}:journal`,
      String(seq),
      String(JOURNAL_PAGE),
    )) as [number | null, string | null, string[]];
    const entries = fresh.reverse().map((e) => JSON.parse(e) as JournalEntry);
    return {
      entries,
      newestSeq: entries.at(-1)?.seq ?? stopSeq ?? 0,
      ...(stopSeq === seq && stopTime !== null && { timeAtSeq: stopTime }),
    };
  }

  async saveDesired(group: string, desired: number): Promise<void> {
    await this.#write(`saveDesired(${group})`, `${this.#prefix}:desired`, 'HSET', group, String(desired));
  }

  /**
   * appendJournal puts the entry at the list's end, once, at a seq the script allocates: its own,
   * or past the newest when another writer stored that seq or a newer one first (see
   * APPEND_NUMBERED); a repeat's `replaced` is removed in the same script, found by its fields
   * apart from the seq (the JSON this store wrote of it, whose seq may have been moved), the newest
   * such from the end, where a repeat's twin is. Resolves the seq the script stored it at (or
   * found it held at).
   */
  async appendJournal(entry: JournalEntry, replaced?: JournalEntry): Promise<number> {
    const key = `${this.#prefix}:journal`;
    // The seq first, where the script reads it (JournalEntry's own order; a restored entry's too).
    const stored = ({ seq, ...rest }: JournalEntry) => JSON.stringify({ seq, ...rest });
    const old = replaced === undefined ? [] : [stored(replaced)];
    const seq =
      this.#counter === undefined
        ? await this.#redis.eval(JOURNAL_APPEND, 1, key, stored(entry), String(this.#journalSize), ...old)
        : await this.#write('appendJournal', key, 'RPUSH', stored(entry), String(this.#journalSize), ...old);
    return storedSeq(seq, entry);
  }

  get fencedByLease(): boolean {
    return this.#counter !== undefined;
  }

  fence(token: number | undefined, holder?: string): void {
    this.#fence.set(token, holder);
  }

  onFenced(listener: (err: StateError) => void): void {
    this.#fence.onRefused(listener);
  }

  /**
   * write runs one write command (HSET key field value, HDEL key field, RPUSH key entry keep
   * [replaced])
   * as it is without a lease, or through FENCED_WRITE with one: rejects STATE_FENCED when the
   * lease's counter holds another token (or none is held here). Resolves what the script answers
   * past its `1` (RPUSH: the seq the entry is stored at).
   */
  async #write(
    what: string,
    key: string,
    command: 'HSET' | 'HDEL' | 'RPUSH',
    ...args: string[]
  ): Promise<unknown> {
    if (this.#counter === undefined) {
      if (command === 'HSET') await this.#redis.hset(key, args[0]!, args[1]!);
      else if (command === 'HDEL') await this.#redis.hdel(key, args[0]!);
      else throw new Error(`state: ${command} is only written through the fence`);
      return;
    }
    const token = this.#fence.token;
    if (token === undefined) throw this.#fence.refused(what, undefined);
    const holder = this.#fence.holder;
    const [ok, current] = (await this.#redis.eval(
      FENCED_WRITE,
      3,
      this.#counter,
      key,
      this.#leaseKey!,
      holder === undefined ? String(token) : `${token}:${holder}`,
      command,
      ...args,
    )) as [number, string | number | null];
    if (ok !== 1) throw this.#fence.refused(what, token, current);
    return current;
  }

  async getSize(group: string): Promise<SavedSize | undefined> {
    const saved = await this.#redis.hget(`${this.#prefix}:sizes`, group);
    return saved === null ? undefined : (JSON.parse(saved) as SavedSize);
  }

  async putSize(group: string, saved: SavedSize | undefined): Promise<void> {
    const key = `${this.#prefix}:sizes`;
    if (saved === undefined) await this.#write(`putSize(${group})`, key, 'HDEL', group);
    else await this.#write(`putSize(${group})`, key, 'HSET', group, JSON.stringify(saved));
  }

  async openAlerts(): Promise<Alert[]> {
    const alerts = await this.#redis.hvals(`${this.#prefix}:alerts`);
    return alerts.map((a) => JSON.parse(a) as Alert);
  }

  async putAlert(key: string, alert: Alert | undefined): Promise<void> {
    const hash = `${this.#prefix}:alerts`;
    if (alert === undefined) await this.#write(`putAlert(${key})`, hash, 'HDEL', key);
    else await this.#write(`putAlert(${key})`, hash, 'HSET', key, JSON.stringify(alert));
  }

  async list(group: string): Promise<LocalInstanceRecord[]> {
    const records = await this.#redis.hvals(this.#instances(group));
    return records.map((r) => JSON.parse(r) as LocalInstanceRecord);
  }

  async put(group: string, record: LocalInstanceRecord): Promise<void> {
    await this.#write(
      `put(${group}, ${record.id})`,
      this.#instances(group),
      'HSET',
      record.id,
      JSON.stringify(record),
    );
  }

  async remove(group: string, id: string): Promise<void> {
    await this.#write(`remove(${group}, ${id})`, this.#instances(group), 'HDEL', id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  #instances(group: string): string {
    return `${this.#prefix}:instances:${group}`;
  }
}

/**
 * storedSeq is the seq a journal script answers it stored `entry` at: an integer, else a
 * STATE_CORRUPT error naming the entry (a script of another version that answers none).
 */
function storedSeq(answer: unknown, entry: JournalEntry): number {
  if (typeof answer === 'number' && Number.isSafeInteger(answer) && answer > 0) return answer;
  throw new StateError(
    'STATE_CORRUPT',
    `state: journal entry ${entry.seq}: the store answered ${JSON.stringify(answer)} for the seq it stored it at, not a positive integer`,
  );
}
