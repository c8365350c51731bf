// URL checks shared by the config schema and the CLI; no zod here, so `scaleplane simulate` can
// check a --prometheus URL without loading the schema.

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
 * natsUrlProblem says why the credentials of a NATS URL (`nats://user:password@host:4222`,
 * `nats://token@host:4222`, the scheme optional) cannot be read, or undefined; the `nats` metric
 * source takes them out of the URL and decodes them.
 */
export function natsUrlProblem(text: string): string | undefined {
  if (!text.includes('@')) return undefined;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `nats://${text}`);
  } catch {
    return 'not a URL';
  }
  try {
    for (const part of [url.username, url.password]) decodeURIComponent(part);
  } catch {
    return 'bad percent-encoding in its credentials';
  }
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
