import { isIPv4, isIPv6 } from 'node:net';
import type { BalancerConfig, NginxDriverConfig } from '../../config/types.js';
import { defaultConnectTimeout } from '../connect-timeout.js';
import { BalancerError } from '../errors.js';
import { MAX_RETRIES } from '../retry.js';
import type { BackendInstance } from '../types.js';

/** UpstreamGroup is one group's live membership, as the renderer sees it. */
export interface UpstreamGroup {
  readonly name: string;
  readonly instances: readonly BackendInstance[];
}

/**
 * upstreamName is the NGINX upstream a group renders to: `proxy_pass http://scaleplane_<group>`.
 * Config group names are DNS labels; a library caller's name goes into the file verbatim, so
 * anything beyond letters, digits, `-` and `_` (a `;`, a brace, a newline) is refused rather than
 * allowed to add directives.
 */
export function upstreamName(group: string): string {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(group)) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `nginx: group name ${JSON.stringify(group)} cannot name an upstream (letters, digits, "-" and "_" only)`,
    );
  }
  return `scaleplane_${group.replace(/-/g, '_')}`;
}

/**
 * assertOwnUpstream throws when `group` renders the same upstream as a group of `named` (upstream
 * name → group name) other than itself: `a-b` and `a_b` both render `scaleplane_a_b`, and a file
 * with that upstream twice fails `nginx -t` ("duplicate upstream"), every group's sync with it.
 */
export function assertOwnUpstream(named: ReadonlyMap<string, string>, group: string): void {
  const name = upstreamName(group);
  const other = named.get(name);
  if (other !== undefined && other !== group) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `nginx: groups ${JSON.stringify(other)} and ${JSON.stringify(group)} would both render upstream ${name}`,
    );
  }
}

/**
 * nginxServerAddress is `address` as an NGINX `server` takes it, or undefined when it is not a
 * plain `host:port`: the address is written into the file verbatim, so a `;`, a brace or a newline
 * in it would add directives of its own. Hosts are IPv4 (four numbers up to 255), bracketed IPv6 (a bare one such as
 * `::1:8080` is bracketed here, since NGINX reads its last colon as part of the host) or DNS names.
 */
export function nginxServerAddress(address: string): string | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = address.slice(colon + 1);
  let host = address.slice(0, colon);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
  const bracketed = host.startsWith('[') && host.endsWith(']');
  if (bracketed) host = host.slice(1, -1);
  // An IP NGINX cannot parse ("[1:2]" is an "invalid IPv6 address"; "300.1.1.1" is taken for a
  // name, "host not found") fails `nginx -t`, and with it every group's sync until it goes away.
  if (host.includes(':'))
    return /^[0-9A-Fa-f:.]+$/.test(host) && isIPv6(host) ? `[${host}]:${port}` : undefined;
  if (/^[0-9.]+$/.test(host)) return !bracketed && isIPv4(host) ? `${host}:${port}` : undefined;
  if (bracketed || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) return undefined;
  return `${host}:${port}`;
}

/** nginxWeight is a weight NGINX accepts: a whole number ≥ 1 (it refuses `weight=0` and `weight=0.5`). */
function nginxWeight(weight: number | undefined): number {
  return Number.isFinite(weight) ? Math.max(1, Math.round(weight!)) : 1;
}

/**
 * upstreamZoneSize is an upstream `zone` big enough for `servers` servers. NGINX keeps each peer in
 * the zone (about 800 bytes on 1.22, more with a long DNS name), and a zone too small fails `nginx
 * -t` ("ngx_slab_alloc() failed: no memory in upstream zone"), which keeps every group's upstreams
 * stale: a fixed 64k held 64 servers and a group scaled to 65 never reached NGINX. 32 KiB plus 1 KiB
 * a server, rounded up to a power of two (64k up to 32 servers, as before; 128k holds 152, 1m 1312),
 * so a few instances more or less keep the same size.
 */
export function upstreamZoneSize(servers: number): string {
  const kib = 32 + Math.max(0, servers);
  let size = 64;
  while (size < kib) size *= 2;
  return size >= 1024 && size % 1024 === 0 ? `${size / 1024}m` : `${size}k`;
}

const METHODS: Readonly<Record<NginxDriverConfig['method'], string | undefined>> = {
  least_conn: 'least_conn;',
  'random-two-least-conn': 'random two least_conn;',
  'round-robin': undefined,
};

/**
 * renderUpstreams renders one `upstream` block per group from its `ready` instances (draining and
 * starting ones are left out, so NGINX sends them nothing new; a reload lets requests already on
 * them finish). A group with no ready instance gets a placeholder server marked `down`, since NGINX
 * refuses an empty upstream: requests then fail fast with 502. An instance whose address is not a
 * plain host:port is left out with a comment (its id and address JSON-quoted, so no newline ends
 * the comment). Output is deterministic (groups and servers sorted), so an unchanged membership
 * renders byte-identical text and causes no reload.
 */
export function renderUpstreams(
  groups: readonly UpstreamGroup[],
  config: NginxDriverConfig,
  timeouts: NginxTimeouts = DEFAULT_NGINX_TIMEOUTS,
): string {
  const lines = ['# Generated by scaleplane from live group membership; edits are overwritten.'];
  const failTimeout = `${Math.max(1, Math.round(config.failTimeout / 1000))}s`;
  const named = new Map<string, string>();
  for (const group of [...groups].sort((a, b) => a.name.localeCompare(b.name))) {
    const name = upstreamName(group.name);
    assertOwnUpstream(named, group.name);
    named.set(name, group.name);
    lines.push('', `upstream ${name} {`);
    const method = METHODS[config.method];
    if (method !== undefined) lines.push(`    ${method}`);
    const servers: string[] = [];
    const skipped: string[] = [];
    for (const i of group.instances) {
      if (i.state !== 'ready') continue;
      const address = nginxServerAddress(i.address);
      if (address === undefined) {
        skipped.push(
          `    # skipped ${JSON.stringify(i.id)}: address ${JSON.stringify(i.address)} is not host:port`,
        );
        continue;
      }
      servers.push(
        `    server ${address} weight=${nginxWeight(i.weight)} max_fails=${config.maxFails} fail_timeout=${failTimeout};`,
      );
    }
    // Shared memory so every worker sees the same counts and failures, sized for the servers.
    lines.push(`    zone ${name} ${upstreamZoneSize(servers.length)};`);
    lines.push(...servers.sort(), ...skipped.sort());
    if (servers.length === 0) lines.push('    server 127.0.0.1:9 down;  # no ready instance');
    lines.push(`    keepalive ${config.keepalive};`);
    // upstream_keepalive_timeout, as the built-in balancer's: below the backends' own (Node's 5 s),
    // so NGINX closes an idle connection before the backend does. It was a fixed 4 s before.
    lines.push(`    keepalive_timeout ${nginxTime(timeouts.upstreamKeepAliveTimeout)};`, '}');
  }
  return `${lines.join('\n')}\n`;
}

/** NginxTimeouts are the balancer's timeouts that the NGINX driver renders, ms. */
export interface NginxTimeouts {
  /** `request_timeout`. @defaultValue 60000 */
  readonly requestTimeout: number;
  /** `connect_timeout`, or the built-in balancer's default for `requestTimeout`. @defaultValue 10000 */
  readonly connectTimeout: number;
  /** `upstream_keepalive_timeout`. @defaultValue 4000 */
  readonly upstreamKeepAliveTimeout: number;
  /** `client_keepalive_timeout`. @defaultValue 75000 */
  readonly clientKeepAliveTimeout: number;
}

/** DEFAULT_NGINX_TIMEOUTS are the timeouts of a balancer section with none written. */
export const DEFAULT_NGINX_TIMEOUTS: NginxTimeouts = {
  requestTimeout: 60_000,
  connectTimeout: defaultConnectTimeout(60_000),
  upstreamKeepAliveTimeout: 4000,
  clientKeepAliveTimeout: 75_000,
};

/**
 * nginxTimeouts is what of `balancer` the NGINX driver renders, the connect timeout defaulted as the
 * built-in balancer defaults it (`defaultConnectTimeout`).
 */
export function nginxTimeouts(
  balancer: Pick<
    BalancerConfig,
    'requestTimeout' | 'connectTimeout' | 'upstreamKeepAliveTimeout' | 'clientKeepAliveTimeout'
  >,
): NginxTimeouts {
  return {
    requestTimeout: balancer.requestTimeout,
    connectTimeout: balancer.connectTimeout ?? defaultConnectTimeout(balancer.requestTimeout),
    upstreamKeepAliveTimeout: balancer.upstreamKeepAliveTimeout,
    clientKeepAliveTimeout: balancer.clientKeepAliveTimeout ?? DEFAULT_NGINX_TIMEOUTS.clientKeepAliveTimeout,
  };
}

/** nginxTime is `ms` as an NGINX time: whole seconds as `Ns`, anything else as `Nms` (rounded up, at least 1). */
export function nginxTime(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/**
 * NEXT_UPSTREAM is the `proxy_next_upstream` line of the location include, with what it means and
 * what it cannot mean as comments. The built-in balancer retries a failed connect (a refusal or
 * `connect_timeout`) for any method, and a connection lost before any response byte only for an
 * idempotent request; it passes every answer on, a 502, 503 or 504 included (retryDecision:
 * `ResponseStarted`). In NGINX that is `error timeout` without `http_5xx` and without
 * `non_idempotent`: NGINX never sends a POST, LOCK or PATCH it already sent to another server
 * without it, and its read and send timeouts, here request_timeout as `proxy_next_upstream_timeout`
 * is, always find that timeout spent, so only a connect timeout is retried. It is NGINX's default,
 * but an inherited `proxy_next_upstream` (nginx.conf's `http {}` or `server {}` with `http_503` or
 * `non_idempotent`, a common copy-paste) applied to the groups' locations before it was rendered.
 */
const NEXT_UPSTREAM: readonly string[] = [
  "# Retries, as the built-in balancer's: a failed connect (refused, or past proxy_connect_timeout) for",
  '# any method; a connection lost before the response header only for a request NGINX has not sent',
  '# as a POST, LOCK or PATCH (no non_idempotent); never an answer, 502, 503 and 504 included (no',
  '# http_5xx); read and send timeouts equal proxy_next_upstream_timeout, so they are never retried.',
  '# NGINX cannot say: a POST with Idempotency-Key is not retried (the built-in balancer retries it);',
  '# methods other than GET, HEAD, OPTIONS, PUT and DELETE are retried except POST, LOCK and PATCH',
  '# (the built-in balancer retries none of them); a body over 64 KiB is retried (NGINX keeps every',
  '# body, the built-in balancer only up to 64 KiB); there is no retry budget.',
  'proxy_next_upstream error timeout;',
];

/**
 * renderLocationTimeouts is the `location_include_file` text: the NGINX directives nearest to the
 * built-in balancer's timeouts, for each `location` that proxies to a `scaleplane_<group>` upstream
 * to include. They cannot go in the upstream include: it sits in `http {}`, where they would apply
 * to every proxied location of every site (and fail `nginx -t` as duplicates of ones nginx.conf
 * already sets there). NGINX's read/send/body timeouts time the gap between two reads or writes;
 * the built-in `request_timeout` times the whole exchange, so NGINX lets through a slow response
 * that keeps sending, which the built-in balancer cuts. `proxy_next_upstream_tries` is the built-in
 * balancer's limit of tries (one and MAX_RETRIES retries): NGINX's default, 0, tries every server of
 * the upstream, so a request that failed on each was sent to all of them. `proxy_next_upstream` is
 * the built-in balancer's retry rules (retryDecision) as far as NGINX can say them, NEXT_UPSTREAM;
 * what it cannot say is a comment in the file.
 */
export function renderLocationTimeouts(timeouts: NginxTimeouts): string {
  const request = nginxTime(timeouts.requestTimeout);
  return [
    '# Generated by scaleplane from the balancer timeouts; edits are overwritten.',
    '# Include it in each location that proxies to a scaleplane_<group> upstream.',
    `proxy_connect_timeout ${nginxTime(timeouts.connectTimeout)};  # connect_timeout`,
    `proxy_send_timeout ${request};  # request_timeout (between two writes to the backend)`,
    `proxy_read_timeout ${request};  # request_timeout (between two reads: the wait for the answer, and an idle WebSocket)`,
    `proxy_next_upstream_timeout ${request};  # request_timeout (no retry on another server after it)`,
    `proxy_next_upstream_tries ${MAX_RETRIES + 1};  # the built-in balancer's tries: one and ${MAX_RETRIES} retries`,
    ...NEXT_UPSTREAM,
    `client_body_timeout ${request};  # request_timeout (a client stalled in its body: 408)`,
    `keepalive_timeout ${nginxTime(timeouts.clientKeepAliveTimeout)};  # client_keepalive_timeout`,
    '',
  ].join('\n');
}
