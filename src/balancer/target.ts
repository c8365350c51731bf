import type http from 'node:http';

// scheme://authority, then the rest (path, query; a fragment never reaches a server).
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)(.*)$/is;

/**
 * toOriginForm rewrites an HTTP/1 request whose target is in absolute form
 * (`GET http://host/path HTTP/1.1`) into origin form, with the URI's authority as its Host, as
 * RFC 9112 §3.2.2 asks of a server ("MUST ignore the received Host header field … and instead use
 * the host information of the request-target"), and as NGINX and Envoy do. Without it the
 * balancer routed (and cached) by the Host header while the backend, following the same RFC, acted
 * on the other host named in the target. Returns why a request is refused (an empty authority or
 * one with userinfo), or undefined. Other targets are left alone.
 */
export function toOriginForm(
  req: Pick<http.IncomingMessage, 'url' | 'rawHeaders' | 'headers'>,
): string | undefined {
  const url = req.url;
  if (url === undefined || url.startsWith('/') || url === '*') return undefined;
  const match = ABSOLUTE_FORM.exec(url);
  if (match === null) return undefined;
  const authority = match[1]!;
  if (authority === '' || authority.includes('@'))
    return `request target ${JSON.stringify(url.slice(0, 200))} has no usable authority`;
  const rest = match[2]!;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  const raw = req.rawHeaders;
  let replaced = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'host') continue;
    raw[i + 1] = authority;
    replaced = true;
  }
  if (!replaced) raw.push('Host', authority);
  req.headers.host = authority;
  return undefined;
}

/**
 * transferCodingRefusal answers a request whose transfer coding is anything but plain `chunked`,
 * or returns undefined. Node's parser removes the chunked framing but not the codings before it,
 * so forwarding `gzip, chunked` would hand the backend a gzip body announced as plain chunked: RFC
 * 9112 §6.1 says to answer 501 to a coding the server does not understand, as Envoy does. When the
 * last coding is not `chunked` (`Transfer-Encoding: gzip`), the body's length cannot be known at
 * all, and §6.3 requires 400 and closing the connection.
 */
export function transferCodingRefusal(
  req: Pick<http.IncomingMessage, 'headers'>,
): { status: 400 | 501; reason: string } | undefined {
  const value = req.headers['transfer-encoding'];
  if (value === undefined) return undefined;
  const codings = value.split(',').map((coding) => coding.trim().toLowerCase());
  if (codings.at(-1) !== 'chunked')
    return {
      status: 400,
      reason: `transfer coding ${JSON.stringify(value)} does not end in chunked: the body length is unknown`,
    };
  if (codings.length === 1) return undefined;
  return { status: 501, reason: `transfer coding ${JSON.stringify(value)} is not supported, only chunked` };
}

// A segment a backend may split in two: an encoded slash or a backslash (IIS, Tomcat's
// ALLOW_BACKSLASH, Windows file servers) inside it, or a `;` (Tomcat and Jetty strip path
// parameters before resolving dot segments: `/public/..;/admin` is their `/admin`).
const SEGMENT_SPLITTER = /%2f|%5c|\\|;/i;
const SEGMENT_SPLITTERS = /%2f|%5c|\\|;/gi;

const ENCODED_DOT = /%2e/i;
const ENCODED_DOTS = /%2e/gi;

/** The segment with its percent-encoded dots decoded (RFC 3986 §2.3: `%2E` is `.`). */
function dotsDecoded(segment: string): string {
  return segment.includes('%') ? segment.replace(ENCODED_DOTS, '.') : segment;
}

/**
 * removeDotSegments resolves a request path's `.` and `..` segments (RFC 3986 §5.2.4; encoded
 * dots too), so that routes match the path a backend serves, and the backend gets that path.
 * Routes match by string prefix: `/public/../admin` matched `/public` and went to that group as
 * sent, and a backend that resolves it (Tomcat, Spring, Go's FileServer, most static servers)
 * served `/admin`, a path no route let through. NGINX matches locations on the resolved path, and
 * Envoy's `normalize_path` forwards it. A `..` that climbs above the root, or one a backend could
 * make by decoding a slash, reading a backslash or stripping a path parameter (`..%2f`, `..\`,
 * `..;`), is refused (NGINX answers 400 to the first). The query and any other byte of the path stay as sent. Returns why a request is
 * refused, or undefined.
 */
export function removeDotSegments(req: { url?: string | undefined }): string | undefined {
  const url = req.url;
  if (url === undefined || !url.startsWith('/')) return undefined;
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  // The common case: no dot that could make a dot segment (the regex only when a `%` could hide one).
  if (!path.includes('.') && !(path.includes('%') && ENCODED_DOT.test(path))) return undefined;
  const segments = path.split('/');
  const out: string[] = [];
  let changed = false;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const decoded = dotsDecoded(segment);
    if (decoded === '.' || decoded === '..') {
      changed = true;
      if (decoded === '..') {
        if (out.length === 0) return `path ${JSON.stringify(url.slice(0, 200))} climbs above the root`;
        out.pop();
      }
      // A dot segment at the end leaves the directory it names: `/a/b/..` is `/a/`.
      if (i === segments.length - 1) out.push('');
      continue;
    }
    if (SEGMENT_SPLITTER.test(segment) && splitsIntoDotDot(segment))
      return `path ${JSON.stringify(url.slice(0, 200))} has a dot-dot segment behind an encoded slash, a backslash or a ';'`;
    out.push(segment);
  }
  if (changed) req.url = `/${out.join('/')}${queryAt < 0 ? '' : url.slice(queryAt)}`;
  return undefined;
}

function splitsIntoDotDot(segment: string): boolean {
  return segment
    .replace(SEGMENT_SPLITTERS, '/')
    .split('/')
    .some((part) => dotsDecoded(part) === '..');
}

// RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host an IP-literal or a reg-name (RFC 3986
// §3.2.2, IPv4 included), port digits only. No userinfo, no path.
const HOST_HEADER = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

// The Host last found valid: nearly every request of a balancer names one of a few hosts, and
// comparing with it is cheaper than the regex (which cost ~0.1 µs a request).
let lastHostAccepted = '';

/**
 * hostRefusal says why a request's Host is not one (RFC 9112 §3.2 asks a 400), or undefined.
 * Routes match the Host up to its first `:`, so `app.example:@evil.example` matched a route for
 * `app.example` and went on as sent, in Host and X-Forwarded-Host, to a backend whose URL parser
 * (WHATWG URL, Python's urllib) reads the host after the `@`: a password-reset link built on it
 * pointed at evil.example, past a route table that let only app.example through.
 */
export function hostRefusal(host: string | undefined): string | undefined {
  if (host === undefined || host === lastHostAccepted) return undefined;
  if (HOST_HEADER.test(host)) {
    lastHostAccepted = host;
    return undefined;
  }
  return `Host ${JSON.stringify(host.slice(0, 200))} is not a host[:port]`;
}
