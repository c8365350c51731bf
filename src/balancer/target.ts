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
