/**
 * A Redis password kept out of the errors of the ioredis clients Scaleplane makes (the lease, the
 * state store, the cache's Redis tier, the Redis Streams queue, the HTTP cache's store). ioredis
 * puts it in more than messages: a refused AUTH or HELLO is a ReplyError whose `command` holds the
 * command's arguments, the password among them, and the same error object rejects every command
 * queued behind the handshake and is emitted as 'error'. A URL it cannot read is a TypeError whose
 * `input` is the URL as written. A logger (pino, inspect) prints all of these fields.
 */
import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis';
import { redactCredentials } from './metrics/url-credentials.js';

/** HIDDEN stands for a secret wherever an error held it. */
const HIDDEN = '***';

/**
 * urlPassword is the password of a `scheme://user:password@host` URL as written (undefined when it
 * names none); read by hand, as redactCredentials does, so that a URL that does not parse has one
 * too.
 */
function urlPassword(url: string): string | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#:@]*:([^/?#]*)@/i.exec(url);
  return match?.[1] === '' ? undefined : match?.[1];
}

/** QUERY_SECRETS are the query parameters ioredis takes as options (`?password=…`) that are secrets. */
const QUERY_SECRETS = new Set(['password', 'sentinelPassword']);

/**
 * queryPasswords is each QUERY_SECRETS value of `url`'s query, as written and as ioredis reads it
 * (URLSearchParams: percent-decoded, `+` a space). Read by hand, from the first `?` to a `#`, so
 * that a URL that does not parse has them too.
 */
function queryPasswords(url: string): string[] {
  const start = url.indexOf('?');
  if (start < 0) return [];
  const out: string[] = [];
  const query = url.slice(start + 1).split('#')[0]!;
  for (const param of query.split('&')) {
    const eq = param.indexOf('=');
    if (eq < 0) continue; // `?password` alone: an empty value
    const [[key, value]] = [...new URLSearchParams(param)] as [[string, string]];
    if (QUERY_SECRETS.has(key)) out.push(param.slice(eq + 1), value);
  }
  return out;
}

/** addUrlSecrets adds the userinfo password of `url`, as written and percent-decoded, and its query's. */
function addUrlSecrets(secrets: Set<string>, url: string): void {
  const written = urlPassword(url);
  if (written !== undefined) {
    secrets.add(written);
    try {
      secrets.add(decodeURIComponent(written));
    } catch {
      // Badly encoded: ioredis refuses the URL, so only the written form can be quoted.
    }
  }
  for (const secret of queryPasswords(url)) secrets.add(secret);
}

function addOptionSecrets(secrets: Set<string>, options: RedisOptions | undefined): void {
  if (typeof options?.password === 'string') secrets.add(options.password);
  if (typeof options?.sentinelPassword === 'string') secrets.add(options.sentinelPassword);
}

/** sorted is `secrets` without the empty string, longest first: a secret that contains another is hidden whole. */
function sorted(secrets: Set<string>): string[] {
  secrets.delete('');
  return [...secrets].sort((a, b) => b.length - a.length);
}

/**
 * redisSecrets lists what the errors of a client made from `url` and `options` must not carry: the
 * URL's password as written and percent-decoded (as ioredis sends it), the `password` and
 * `sentinelPassword` of its query (ioredis takes `redis://host/0?password=…` as an option), and the
 * options' `password` and `sentinelPassword`. Empty strings are left out.
 */
export function redisSecrets(url: string | undefined, ...options: (RedisOptions | undefined)[]): string[] {
  const secrets = new Set<string>();
  if (url !== undefined) addUrlSecrets(secrets, url);
  for (const o of options) addOptionSecrets(secrets, o);
  return sorted(secrets);
}

/**
 * clusterSecrets is redisSecrets for a Cluster made from the seeds `nodes` with `redisOptions`: a
 * seed written as a URL (`redis://:password@host:port`) gives its password to the connection to
 * that seed, and one written as an object its `password` (ioredis copies every field of it).
 */
export function clusterSecrets(nodes: readonly ClusterNode[], redisOptions?: RedisOptions): string[] {
  const secrets = new Set<string>();
  for (const node of nodes)
    if (typeof node === 'string') addUrlSecrets(secrets, node);
    else if (typeof node === 'object' && node !== null) addOptionSecrets(secrets, node as RedisOptions);
  addOptionSecrets(secrets, redisOptions);
  return sorted(secrets);
}

/**
 * clientSecrets is what the errors of `client`'s duplicates must not carry, read from the options
 * it was made with (a Cluster's from its seeds too): for a client Scaleplane did not make.
 */
export function clientSecrets(client: Redis | Cluster): string[] {
  if (client instanceof Cluster)
    // ioredis keeps the seeds in a field its types call private; duplicate() reuses them.
    return clusterSecrets(
      (client as unknown as { startupNodes?: ClusterNode[] }).startupNodes ?? [],
      client.options.redisOptions,
    );
  return redisSecrets(undefined, client.options);
}

/**
 * redactRedisUrl is `url` as an error may quote it: the password of its userinfo and those of its
 * query as `***`; works on a URL that does not parse too.
 */
export function redactRedisUrl(url: string): string {
  return hide(redactCredentials(url), redisSecrets(url));
}

function hide(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(HIDDEN);
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * scrubValue is `value` with each secret hidden: a string rewritten, an array or plain object
 * copied when something in it changed (never changed in place: ioredis's `command.args` is the very
 * array a command is sent, and sent again, with), an Error scrubbed in place. Anything else is
 * returned as it is.
 */
function scrubValue(value: unknown, secrets: readonly string[], seen: Set<object>): unknown {
  if (typeof value === 'string') return hide(value, secrets);
  if (value instanceof Error) {
    scrubError(value, secrets, seen);
    return value;
  }
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  if (Array.isArray(value)) {
    seen.add(value);
    const out = value.map((v) => scrubValue(v, secrets, seen));
    seen.delete(value);
    return out.every((v, i) => v === value[i]) ? value : out;
  }
  if (!isPlainObject(value)) return value;
  seen.add(value);
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = scrubValue(v, secrets, seen);
    if (out[k] !== v) changed = true;
  }
  seen.delete(value);
  return changed ? out : value;
}

function scrubError(error: Error, secrets: readonly string[], seen: Set<object>): void {
  if (seen.has(error)) return;
  seen.add(error);
  for (const key of Object.getOwnPropertyNames(error)) {
    const descriptor = Object.getOwnPropertyDescriptor(error, key);
    if (descriptor === undefined) continue;
    const before =
      'value' in descriptor ? descriptor.value : (error as unknown as Record<string, unknown>)[key];
    const after = scrubValue(before, secrets, seen);
    if (after === before) continue;
    if ('value' in descriptor && descriptor.writable)
      (error as unknown as Record<string, unknown>)[key] = after;
    else if (descriptor.configurable)
      Object.defineProperty(error, key, {
        value: after,
        writable: true,
        enumerable: descriptor.enumerable ?? false,
        configurable: true,
      });
  }
}

/**
 * scrubSecrets hides each of `secrets` as `***` in `error`, in place: its message, stack and every
 * other own field, enumerable or not (a ReplyError's `command.args`, a URL error's `input`), and
 * the errors it holds (`cause`, a cluster's `lastNodeError`, an AggregateError's `errors`).
 * Returns `error`; anything that is not an Error is returned as it is.
 */
export function scrubSecrets<T>(error: T, secrets: readonly string[]): T {
  if (secrets.length > 0 && error instanceof Error) scrubError(error, secrets, new Set());
  return error;
}

/** Rejects this file has made scrub, so that a command sent again is not wrapped twice. */
const scrubbing = new WeakSet<object>();

interface CommandLike {
  reject: (error: unknown) => void;
}

/**
 * guardRedisSecrets makes `client` hide `secrets` in every error it hands out, before anyone sees
 * it: a command's rejection (each command's `reject` scrubs the error first, so the handshake's
 * refused AUTH is scrubbed before ioredis rejects the queued commands with that same object and
 * emits it), an 'error' or 'node error' event, a rejected `connect()`, and the same for the clients
 * `duplicate()` makes. Returns `client`. With no secrets, nothing is changed.
 */
export function guardRedisSecrets<C extends Redis | Cluster>(client: C, secrets: readonly string[]): C {
  if (secrets.length === 0) return client;
  // ioredis's methods are patched on this one instance, not on its classes (which other clients,
  // a user's own among them, share).
  const target = client as unknown as {
    emit: (event: string | symbol, ...args: unknown[]) => boolean;
    sendCommand: (command: CommandLike, ...rest: unknown[]) => unknown;
    connect: (...args: unknown[]) => Promise<unknown>;
    duplicate: (...args: unknown[]) => Redis | Cluster;
  };
  const { emit, sendCommand, connect, duplicate } = target;
  target.emit = function (this: unknown, event, ...args) {
    if (event === 'error' || event === 'node error') for (const arg of args) scrubSecrets(arg, secrets);
    return emit.call(this, event, ...args);
  };
  target.sendCommand = function (this: unknown, command, ...rest) {
    // A command's promise is rejected only through its `reject` (ioredis's Command), by whichever
    // path fails it: wrapped, not the promise, so no second promise is left for nobody to handle.
    if (typeof command?.reject === 'function' && !scrubbing.has(command.reject)) {
      const reject = command.reject;
      const scrubbed = (error: unknown) => reject(scrubSecrets(error, secrets));
      scrubbing.add(scrubbed);
      command.reject = scrubbed;
    }
    return sendCommand.call(this, command, ...rest);
  };
  target.connect = function (this: unknown, ...args) {
    return connect.apply(this, args).catch((error: unknown) => {
      throw scrubSecrets(error, secrets);
    });
  };
  target.duplicate = function (this: unknown, ...args) {
    return guardRedisSecrets(duplicate.apply(this, args), secrets);
  };
  return client;
}

/**
 * createRedis is `new Redis(url, options)` guarded by guardRedisSecrets with the URL's and the
 * options' passwords. A URL ioredis cannot read throws `invalid(detail)`, the detail quoting the
 * URL as redactRedisUrl does (ioredis's own TypeError carries the URL as written in its
 * `input`, and a bad percent-encoding is only "URI malformed").
 */
export function createRedis(url: string, options: RedisOptions, invalid: (detail: string) => Error): Redis {
  let client: Redis;
  try {
    client = new Redis(url, options);
  } catch (error) {
    const shown = redactRedisUrl(url);
    if (error instanceof URIError) throw invalid(`bad percent-encoding in the credentials of ${shown}`);
    if ((error as { code?: unknown })?.code === 'ERR_INVALID_URL') throw invalid(`not a URL: ${shown}`);
    throw scrubSecrets(error, redisSecrets(url, options));
  }
  return guardRedisSecrets(client, redisSecrets(url, options));
}
