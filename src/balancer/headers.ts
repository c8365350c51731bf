import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { acceptableRequestId, newRequestId } from '../log/index.js';

/**
 * Header rewriting between client and backend, on raw header lists (`[name, value, name, value…]`
 * as in `IncomingMessage.rawHeaders`) so case, order and repeated headers survive the hop.
 */

// `Trailer` is not among them (RFC 9110 §6.6.2 declares it end to end): it is forwarded with the
// trailers it announces, where the hop's framing can carry them (see below).
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
]);

function isHopByHop(lower: string): boolean {
  return HOP_BY_HOP.has(lower) || lower.startsWith('proxy-');
}

/** ForwardedRequest is a client request's headers as they go to the backend, plus facts about them. */
export interface ForwardedRequest {
  /** Raw header list for the upstream request. */
  readonly headers: string[];
  /** The request has a body: content-length > 0 or a transfer-encoding. */
  readonly hasBody: boolean;
  /** The client sent an Idempotency-Key. */
  readonly idempotencyKey: boolean;
  /** The client's Host header, if it sent one. */
  readonly host: string | undefined;
  /** The request's X-Request-Id: the client's when plain enough, else a new one. */
  readonly requestId: string;
}

/**
 * forwardRequestHeaders strips hop-by-hop headers (the fixed list, `Proxy-*` and any named in
 * Connection) and `Expect`, appends the client address to X-Forwarded-For, sets X-Real-IP to it, and sets X-Forwarded-Proto and
 * X-Forwarded-Host (a client's own X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host and Forwarded are dropped, and
 * so is a `Proxy` header: httpoxy). A body the client sent chunked is re-framed chunked towards the backend.
 * `TE` is hop-by-hop too, but when `trailers` says the response to this client can carry trailer
 * fields, a client's `trailers` token goes on as `TE: trailers` (as Envoy keeps it): backends such
 * as gRPC servers send their trailers only to a client that declared it accepts them.
 */
export function forwardRequestHeaders(
  raw: readonly string[],
  remoteAddress: string | undefined,
  proto: string,
  trailers = false,
): ForwardedRequest {
  const headers: string[] = [];
  let named: Set<string> | undefined;
  let forwardedFor: string | undefined;
  let host: string | undefined;
  let hasBody = false;
  let chunked = false;
  let idempotencyKey = false;
  let requestId: string | undefined;
  let trailer: string[] | undefined;
  let acceptsTrailers = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower)) {
      if (lower === 'connection') named = connectionTokens(value, named);
      else if (lower === 'transfer-encoding') hasBody = chunked = true;
      else if (lower === 'te' && trailers && !acceptsTrailers && hasTrailersToken(value)) {
        acceptsTrailers = true;
        headers.push('TE', 'trailers');
      }
      continue;
    }
    switch (lower) {
      case 'x-forwarded-for':
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      // We are the edge, so what the client claims about proto and host is not passed on: nor in
      // RFC 7239's Forwarded, whose host= and proto= Spring's ForwardedHeaderFilter, Django and
      // ASP.NET's middleware read before X-Forwarded-*: a client's `Forwarded: host=evil.example`
      // reached the backend as sent (a password-reset link built on it points at evil.example).
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'forwarded':
      // Set below to the peer address, as NGINX's `proxy_set_header X-Real-IP $remote_addr`: a
      // client's own went through as sent, so any backend logging or rate-limiting on it took
      // whatever address the client claimed.
      case 'x-real-ip':
        continue;
      // httpoxy (CVE-2016-5385 and kin): CGI-style backends (PHP, Go's net/http/cgi before 1.6.3,
      // Python's wsgiref CGI handler) expose it as HTTP_PROXY, which their HTTP clients take for the
      // outbound proxy, so a client could route the backend's own calls through a host of its
      // choosing. No standard field is named Proxy; NGINX's advice is `proxy_set_header Proxy ""`.
      case 'proxy':
        continue;
      // Node's server already answered `100 Continue` to the client, which is sending its body; the
      // hop to the backend has nothing to wait for (undici refuses the header outright, so a GET
      // carrying it got a 502).
      case 'expect':
        continue;
      case 'host':
        host = value;
        break;
      case 'content-length':
        if (value.trim() !== '0') hasBody = true;
        break;
      case 'idempotency-key':
        idempotencyKey = true;
        break;
      case 'x-request-id':
        // One id per request, and none a client could use to forge log lines.
        requestId ??= acceptableRequestId(value);
        continue;
      // Sent on only with a chunked body (below): no other framing has a trailer section, and
      // node:http's client refuses to send a Trailer header without one.
      case 'trailer':
        trailer ??= [];
        trailer.push(name, value);
        continue;
    }
    headers.push(name, value);
  }
  if (named !== undefined) removeNamed(headers, named);
  // Node decoded the client's chunking; the body still has no length, so frame it chunked again.
  if (chunked) {
    headers.push('Transfer-Encoding', 'chunked');
    if (trailer !== undefined) headers.push(...trailer);
  }
  if (remoteAddress !== undefined) {
    forwardedFor = forwardedFor === undefined ? remoteAddress : `${forwardedFor}, ${remoteAddress}`;
  }
  if (forwardedFor !== undefined) headers.push('X-Forwarded-For', forwardedFor);
  if (remoteAddress !== undefined) headers.push('X-Real-IP', remoteAddress);
  headers.push('X-Forwarded-Proto', proto);
  if (host !== undefined) headers.push('X-Forwarded-Host', host);
  requestId ??= newRequestId();
  headers.push('X-Request-Id', requestId);
  return { headers, hasBody, idempotencyKey, host, requestId };
}

// TE's list: `trailers`, or a transfer coding with optional parameters (RFC 9110 §10.1.4).
function hasTrailersToken(value: string): boolean {
  for (const member of value.split(',')) if (member.trim().toLowerCase() === 'trailers') return true;
  return false;
}

/**
 * responseCodingRefusal says why a backend response's Transfer-Encoding cannot be relayed, or
 * undefined when it is absent or plain `chunked`. The parser removes only the chunked framing and
 * the header goes as hop-by-hop, so a `gzip, chunked` body reached the client still gzipped with
 * nothing to say so, and a coding not ending in `chunked` was read to the close and relayed the
 * same way. NGINX answers such a response 502 ("upstream sent unknown Transfer-Encoding"), as the
 * balancer answers a client's (501, see target.ts).
 */
export function responseCodingRefusal(value: string | undefined): string | undefined {
  if (value === undefined || value.trim().toLowerCase() === 'chunked') return undefined;
  return `upstream Transfer-Encoding ${JSON.stringify(value.slice(0, 100))} is not supported, only chunked`;
}

/** schemeOf is the X-Forwarded-Proto of a request that came in on `socket`: `https` over TLS (HTTP/2 included). */
export function schemeOf(socket: Socket): 'http' | 'https' {
  return (socket as TLSSocket).encrypted === true ? 'https' : 'http';
}

/**
 * forwardResponseHeaders strips hop-by-hop headers from a backend response's raw header list, and
 * `Trailer` unless `trailers` says the response to the client can carry trailer fields (it is
 * chunked): announcing fields that cannot follow would be wrong, and node:http refuses to.
 */
export function forwardResponseHeaders(raw: readonly string[], trailers = false): string[] {
  const headers: string[] = [];
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower)) {
      if (lower === 'connection') named = connectionTokens(raw[i + 1]!, named);
      continue;
    }
    if (!trailers && lower === 'trailer') continue;
    headers.push(name, raw[i + 1]!);
  }
  if (named !== undefined) removeNamed(headers, named);
  return headers;
}

// A sender naming these in Connection would strip the message framing or the Host; never honoured.
const NEVER_NAMED: ReadonlySet<string> = new Set(['', 'close', 'host', 'content-length']);

// Returns the header names a Connection value lists, beyond the ones stripped anyway, or undefined
// when there are none (the usual `keep-alive` / `close`), so the common case allocates no set.
function connectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  for (const token of value.split(',')) {
    const lower = token.trim().toLowerCase();
    if (NEVER_NAMED.has(lower) || isHopByHop(lower)) continue;
    into ??= new Set();
    into.add(lower);
  }
  return into;
}

function removeNamed(headers: string[], named: ReadonlySet<string>): void {
  let out = 0;
  for (let i = 0; i < headers.length; i += 2) {
    if (named.has(headers[i]!.toLowerCase())) continue;
    headers[out++] = headers[i]!;
    headers[out++] = headers[i + 1]!;
  }
  headers.length = out;
}

// Never passed on from a trailer section: fields about framing, routing or the trailer section
// itself, which a recipient must not act on there (RFC 9110 §6.5.1), beyond the hop-by-hop ones.
const NOT_IN_TRAILERS: ReadonlySet<string> = new Set(['content-length', 'host', 'trailer']);

/**
 * forwardTrailers turns a raw trailer list (`rawTrailers`, `[name, value, …]`) into the
 * `[name, value]` pairs passed on to the next hop: hop-by-hop fields (the fixed list and
 * `Proxy-*`), framing and routing fields, and any node:http would refuse to write, are dropped.
 */
export function forwardTrailers(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower) || NOT_IN_TRAILERS.has(lower)) continue;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      continue;
    }
    out.push([name, value]);
  }
  return out;
}
