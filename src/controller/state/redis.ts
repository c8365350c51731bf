import { Redis } from 'ioredis';
import type { JournalEntry } from '../journal.js';
import {
  type ControllerState,
  type LocalInstanceRecord,
  type SavedSize,
  StateError,
  type StateStore,
} from './types.js';

/** RedisStateOptions configures a RedisState. */
export interface RedisStateOptions {
  url: string;
  /**
   * Key prefix: `<name>:state:desired`, `<name>:state:journal`, `<name>:state:instances:<group>`,
   * `<name>:state:sizes`. @defaultValue 'scaleplane'
   */
  name?: string;
  /** @defaultValue 1000 */
  journalSize?: number;
  /** A command that takes longer fails (see below). @defaultValue 5000 (ms) */
  commandTimeout?: number;
}

/**
 * RedisState keeps controller state in Redis, shared by every controller of the lease: desired
 * counts in a hash, the journal in a capped list, each group's instances in a hash.
 */
export class RedisState implements StateStore {
  readonly backend = 'redis';
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #journalSize: number;
  #closed = false;

  constructor(options: RedisStateOptions) {
    this.#prefix = `${options.name ?? 'scaleplane'}:state`;
    this.#journalSize = options.journalSize ?? 1000;
    this.#redis = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      connectTimeout: 2000,
      // A paused or partitioned Redis must not hold a scale-in (it awaits the draining record) or
      // the journal's writes forever: a command that takes longer fails.
      commandTimeout: options.commandTimeout ?? 5000,
    });
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
      this.#redis.lrange(`${this.#prefix}:journal`, 0, -1),
    ]);
    return {
      desired: Object.fromEntries(Object.entries(desired).map(([g, n]) => [g, Number(n)])),
      journal: journal.map((e) => JSON.parse(e) as JournalEntry),
    };
  }

  async saveDesired(group: string, desired: number): Promise<void> {
    await this.#redis.hset(`${this.#prefix}:desired`, group, desired);
  }

  async appendJournal(entry: JournalEntry): Promise<void> {
    const key = `${this.#prefix}:journal`;
    await this.#redis.multi().rpush(key, JSON.stringify(entry)).ltrim(key, -this.#journalSize, -1).exec();
  }

  async getSize(group: string): Promise<SavedSize | undefined> {
    const saved = await this.#redis.hget(`${this.#prefix}:sizes`, group);
    return saved === null ? undefined : (JSON.parse(saved) as SavedSize);
  }

  async putSize(group: string, saved: SavedSize | undefined): Promise<void> {
    const key = `${this.#prefix}:sizes`;
    if (saved === undefined) await this.#redis.hdel(key, group);
    else await this.#redis.hset(key, group, JSON.stringify(saved));
  }

  async list(group: string): Promise<LocalInstanceRecord[]> {
    const records = await this.#redis.hvals(this.#instances(group));
    return records.map((r) => JSON.parse(r) as LocalInstanceRecord);
  }

  async put(group: string, record: LocalInstanceRecord): Promise<void> {
    await this.#redis.hset(this.#instances(group), record.id, JSON.stringify(record));
  }

  async remove(group: string, id: string): Promise<void> {
    await this.#redis.hdel(this.#instances(group), id);
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
