import type { CloudflareConfig } from '../../config/types.js';
import { type CloudflareResult, purgeCloudflare } from './cloudflare.js';
import { type PurgeSelector, type PurgeTarget, purgeTarget } from './entry.js';

/** PurgeRequest is the body of `POST /api/scalability/cache/purge`. */
export interface PurgeRequest {
  /** Absolute URLs (`https://host/path?q`) or paths (`/path?q`, every host). */
  readonly urls?: readonly string[];
  /** A URL or path prefix: everything under it goes. */
  readonly prefix?: string;
  /** Tags from the configured tag header (Cache-Tag, Surrogate-Key…). */
  readonly tags?: readonly string[];
}

/** PurgeOutcome is what a purge did: keys removed here, and the Cloudflare purge when configured. */
export interface PurgeOutcome {
  readonly purged: number;
  readonly cloudflare?: CloudflareResult;
}

/**
 * purgeSelector validates a purge request into a selector; a string is the problem, naming the
 * field (`urls.2: …`).
 */
export function purgeSelector(request: PurgeRequest): PurgeSelector | string {
  const urls: PurgeTarget[] = [];
  for (const [index, text] of (request.urls ?? []).entries()) {
    const target = purgeTarget(text);
    if (target === undefined) return `urls.${index}: expected an http(s) URL or a path starting with "/"`;
    urls.push(target);
  }
  const prefixes: PurgeTarget[] = [];
  if (request.prefix !== undefined) {
    const target = purgeTarget(request.prefix);
    if (target === undefined) return 'prefix: expected an http(s) URL or a path starting with "/"';
    prefixes.push(target);
  }
  const tags = [...new Set(request.tags ?? [])];
  if (urls.length === 0 && prefixes.length === 0 && tags.length === 0)
    return 'body: give urls, prefix or tags';
  return { urls, prefixes, tags };
}

/** CachePurgerOptions wire a CachePurger. */
export interface CachePurgerOptions {
  /** Removes from every local HTTP cache (the balancer's `purgeCache`). */
  purgeLocal: (selector: PurgeSelector) => Promise<number>;
  /** Purge this Cloudflare zone too. */
  cloudflare?: CloudflareConfig;
  /** Where the Cloudflare token is read from. @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
}

/** CachePurger runs one purge call: local caches first, then Cloudflare when configured. */
export class CachePurger {
  readonly #options: CachePurgerOptions;

  constructor(options: CachePurgerOptions) {
    this.#options = options;
  }

  /** purge removes what the selector names; `request` is passed on to Cloudflare as given. */
  async purge(selector: PurgeSelector, request: PurgeRequest): Promise<PurgeOutcome> {
    const purged = await this.#options.purgeLocal(selector);
    const { cloudflare } = this.#options;
    if (cloudflare === undefined) return { purged };
    const result = await purgeCloudflare(
      cloudflare,
      { urls: request.urls ?? [], prefix: request.prefix, tags: selector.tags },
      this.#options.env ?? process.env,
    );
    return { purged, cloudflare: result };
  }
}
