// URL checks shared by the config schema and the CLI; no zod here, so `scaleplane simulate` can
// check a --prometheus URL without loading the schema.

import { hideUserinfo, splitNatsServers } from '../metrics/url-credentials.js';

/** urlProblem says what is wrong with a URL a source will take apart, or undefined. */
export function urlProblem(text: string, schemes: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  const want = schemes.map((s) => `${s}//`).join(' or ');
  if (!schemes.includes(url.protocol)) return `expected ${want}, got ${url.protocol}//`;
  if (url.hostname === '') return 'no host';
  try {
    for (const part of [url.username, url.password, url.pathname]) decodeURIComponent(part);
  } catch {
    return 'bad percent-encoding';
  }
  return undefined;
}

/**
 * natsUrlProblem says why a NATS `url` cannot be read, or undefined. It is one server or a
 * comma-separated list of the servers of one cluster (`nats://a:4222,nats://b:4222`, as the NATS
 * CLI's `--server` takes them; split as splitNatsServers does, so a comma in a password stays in
 * it), the scheme optional; the problem names the bad entry of a list
 * (1-based, its credentials hidden). Credentials (`nats://user:password@host:4222`,
 * `nats://token@host:4222`) must read and, as the client takes one set for all its servers, be the
 * same in every entry that has any; the `nats` metric source takes them out of the URL and decodes them.
 */
export function natsUrlProblem(text: string): string | undefined {
  const entries = splitNatsServers(text);
  const credentials = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    const which =
      entries.length === 1
        ? ''
        : `entry ${i + 1} of ${entries.length} (${JSON.stringify(hideUserinfo(entry))}): `;
    if (entry === '') return `${which}empty: list servers as nats://host:4222,nats://host2:4222`;
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `nats://${entry}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      return `${which}not a URL`;
    }
    if (url.hostname === '') return `${which}no host`;
    try {
      for (const part of [url.username, url.password]) decodeURIComponent(part);
    } catch {
      return `${which}bad percent-encoding in its credentials`;
    }
    if (entry.includes('@'))
      credentials.add(withScheme.slice(withScheme.indexOf('//') + 2, withScheme.lastIndexOf('@')));
  }
  if (credentials.size > 1)
    return 'entries carry different credentials: the client takes one user, password or token for all servers';
  return undefined;
}

/**
 * baseUrlProblem says why a base URL that a source joins an API path onto cannot be one: a query
 * or fragment. Joining `api/v1/query` onto `http://h/prom?tenant=a` gives `http://h/api/v1/query`,
 * losing the query and the path prefix without a word; an empty `?` or `#` does the same.
 */
export function baseUrlProblem(text: string, joined: string): string | undefined {
  const at = text.search(/[?#]/);
  if (at < 0) return undefined;
  const part =
    text[at] === '?' ? `a query (${redactQuery(text.slice(at))})` : `a fragment (${text.slice(at)})`;
  return `has ${part}, which would be dropped when ${joined} is joined on: give only scheme, host, port and path`;
}

/**
 * redactQuery is `text` with each value of its query replaced by `***` (`?api_key=***&tenant=***`;
 * a parameter without `=` is all value), the names and any fragment kept. A URL's query can hold a
 * token, and a message that names a URL is printed and logged.
 */
export function redactQuery(text: string): string {
  const at = text.indexOf('?');
  if (at < 0) return text;
  const hash = text.indexOf('#', at);
  const end = hash < 0 ? text.length : hash;
  const params = text
    .slice(at + 1, end)
    .split('&')
    .map((param) => {
      if (param === '') return param;
      const eq = param.indexOf('=');
      return eq < 0 ? '***' : `${param.slice(0, eq)}=${eq === param.length - 1 ? '' : '***'}`;
    });
  return `${text.slice(0, at + 1)}${params.join('&')}${text.slice(end)}`;
}
