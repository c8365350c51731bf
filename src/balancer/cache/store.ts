import type { PurgeSelector, StoredResponse } from './entry.js';

/** PurgeMark is a shared store's count of purges made so far (see HttpCacheStore.mark). */
export type PurgeMark = number;

/** VariantOf is a request's variant key for the Vary names of a stored response. */
export type VariantOf = (vary: readonly string[]) => string;

/**
 * HttpCacheStore keeps stored responses by primary key, each key holding one response per
 * variant. Stores never decide freshness; they only drop what is past `expiresAt`.
 */
export interface HttpCacheStore {
  readonly kind: 'memory' | 'redis';
  /**
   * get returns the key's unexpired variants (empty when none); with `variantOf` (the request's
   * variant key for a list of Vary names) only the one the request selects, and a store reads no
   * other variant's body.
   */
  get(key: string, now: number, variantOf?: VariantOf): Promise<StoredResponse[]>;
  /**
   * put stores a variant, replacing the one with the same variant key. A response that varies on
   * other headers than the stored ones replaces them all (the resource changed its Vary).
   */
  put(key: string, response: StoredResponse, now: number, since?: PurgeMark): Promise<void>;
  /**
   * mark is where a store shared by several processes stands in its record of purges, read before
   * a fetch: `put` with it as `since` keeps nothing a purge made since (by another process, which
   * cannot see this one's fetches) names. Absent for a store of one process's own (its purges see
   * its fetches); undefined when the store cannot tell (the put is then unchecked).
   */
  mark?(): Promise<PurgeMark | undefined>;
  /**
   * remove drops one variant of a key (the others stay) and says whether it was there: a
   * revalidation whose answer may not be stored leaves no old copy serving.
   */
  remove(key: string, variant: string): Promise<boolean>;
  /** purge removes every key the selector names and returns how many keys went. */
  purge(selector: PurgeSelector): Promise<number>;
  /** Entries and bytes held, where the store can tell cheaply (memory); undefined otherwise. */
  usage(): { entries: number; bytes: number } | undefined;
  /** ready resolves once the store can answer (a connection is up); absent when always ready. */
  ready?(): Promise<void>;
  /** close releases connections; safe to call twice. */
  close(): Promise<void>;
}
