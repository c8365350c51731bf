/**
 * Cloudflare purge through its documented API: `POST {api}/zones/{zone_id}/purge_cache` with a
 * bearer token and one of `{"files": [...]}` (absolute URLs), `{"tags": [...]}` or
 * `{"prefixes": [...]}` (`host/path`, no scheme). Lists are sent in batches of
 * CLOUDFLARE_BATCH, within every plan's per-request limit.
 */

import { readFile } from 'node:fs/promises';
import type { CloudflareConfig } from '../../config/types.js';

/** CLOUDFLARE_BATCH is the most items one purge request carries. */
export const CLOUDFLARE_BATCH = 30;

/** CloudflarePurge is what to purge at the edge: URLs and prefixes as given to the purge API, tags. */
export interface CloudflarePurge {
  readonly urls: readonly string[];
  readonly prefix: string | undefined;
  readonly tags: readonly string[];
}

/** CloudflareRequestBody is one purge request's JSON body. */
export type CloudflareRequestBody = { files: string[] } | { tags: string[] } | { prefixes: string[] };

/** CloudflarePlan is the requests a purge becomes, and what could not be expressed (a path with no base URL). */
export interface CloudflarePlan {
  readonly bodies: CloudflareRequestBody[];
  readonly skipped: string[];
}

/**
 * cloudflarePlan turns a purge into request bodies: a path (`/a`) becomes `baseUrl + path` for
 * `files` and `host/path` for `prefixes`; without a base URL a path cannot be sent and is skipped.
 */
export function cloudflarePlan(purge: CloudflarePurge, baseUrl: string | undefined): CloudflarePlan {
  const skipped: string[] = [];
  const absolute = (text: string): URL | undefined => {
    try {
      return new URL(text, baseUrl);
    } catch {
      skipped.push(text);
      return undefined;
    }
  };
  const files = purge.urls.flatMap((text) => {
    const url = absolute(text);
    return url === undefined ? [] : [url.href];
  });
  const prefixes: string[] = [];
  if (purge.prefix !== undefined) {
    const url = absolute(purge.prefix);
    if (url !== undefined) prefixes.push(`${url.host}${url.pathname}`);
  }
  const bodies: CloudflareRequestBody[] = [
    ...batches(files).map((batch) => ({ files: batch })),
    ...batches([...purge.tags]).map((batch) => ({ tags: batch })),
    ...batches(prefixes).map((batch) => ({ prefixes: batch })),
  ];
  return { bodies, skipped };
}

function batches(items: string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < items.length; i += CLOUDFLARE_BATCH) out.push(items.slice(i, i + CLOUDFLARE_BATCH));
  return out;
}

/** CloudflareResult is how the edge purge went. */
export interface CloudflareResult {
  readonly ok: boolean;
  /** Purge requests sent (and answered with success, when ok). */
  readonly requests: number;
  /** Purge ids Cloudflare returned. */
  readonly ids: string[];
  /** Items that could not be sent (paths without `base_url`). */
  readonly skipped: string[];
  readonly error?: string;
}

/** CloudflareError is a purge Cloudflare refused or that could not reach it. */
export class CloudflareError extends Error {
  readonly code = 'CLOUDFLARE_PURGE_FAILED';
}

/** cloudflareToken reads the API token from `token_file` (when set) or the environment. */
export async function cloudflareToken(config: CloudflareConfig, env: NodeJS.ProcessEnv): Promise<string> {
  if (config.tokenFile !== undefined) {
    // Read at each purge, not once: a rotated token is picked up without a restart.
    let text: string;
    try {
      text = (await readFile(config.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new CloudflareError(
        `balancer.cloudflare.token_file ${config.tokenFile}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (text !== '') return text;
    throw new CloudflareError(`balancer.cloudflare.token_file ${config.tokenFile} is empty`);
  }
  const token = env[config.tokenEnv]?.trim();
  if (!token)
    throw new CloudflareError(`no Cloudflare API token: set ${config.tokenEnv} or cloudflare.token_file`);
  return token;
}

/**
 * checkCloudflareToken reads `token_file` as a purge would, so that `up` and `validate` refuse a
 * file no purge could use, and says when neither it nor the environment gives a token (a warning:
 * purges of the local cache still work).
 */
export async function checkCloudflareToken(
  config: CloudflareConfig | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ warning?: string }> {
  if (config === undefined) return {};
  if (config.tokenFile !== undefined) {
    await cloudflareToken(config, env);
    return {};
  }
  return env[config.tokenEnv]?.trim()
    ? {}
    : {
        warning: `no Cloudflare API token: set ${config.tokenEnv} or cloudflare.token_file; edge purges will fail`,
      };
}

/**
 * purgeCloudflare sends the plan's requests one after another and stops at the first failure
 * (`success: false`, a non-2xx status or no answer within `timeoutMs`).
 */
export async function purgeCloudflare(
  config: CloudflareConfig,
  purge: CloudflarePurge,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 10_000,
): Promise<CloudflareResult> {
  const plan = cloudflarePlan(purge, config.baseUrl);
  const ids: string[] = [];
  let sent = 0;
  try {
    if (plan.bodies.length === 0) return { ok: true, requests: 0, ids, skipped: plan.skipped };
    const token = await cloudflareToken(config, env);
    const url = `${config.apiBase}/zones/${encodeURIComponent(config.zoneId)}/purge_cache`;
    for (const body of plan.bodies) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      sent++;
      const answer = (await response.json().catch(() => undefined)) as
        | { success?: boolean; errors?: { code?: number; message?: string }[]; result?: { id?: string } }
        | undefined;
      if (!response.ok || answer?.success !== true) {
        const reasons = (answer?.errors ?? []).map((e) => `${e.code ?? '?'} ${e.message ?? ''}`.trim());
        throw new CloudflareError(
          `Cloudflare answered ${response.status}${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`,
        );
      }
      if (typeof answer.result?.id === 'string') ids.push(answer.result.id);
    }
    return { ok: true, requests: sent, ids, skipped: plan.skipped };
  } catch (err) {
    const message =
      err instanceof CloudflareError ? err.message : `Cloudflare unreachable: ${(err as Error).message}`;
    return { ok: false, requests: sent, ids, skipped: plan.skipped, error: message };
  }
}
