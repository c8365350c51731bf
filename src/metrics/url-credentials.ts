/**
 * URL credentials for HTTP sources: `http://user:pass@host:9090` is how Grafana, promtool and curl
 * take a Prometheus behind Basic auth, but fetch refuses a URL that carries credentials (and the
 * NATS client ignores them, see natsServer). This file imports nothing, so the simulator (which
 * must stay free of side effects) can use it too.
 */

/** CredentialedUrl is a URL split for fetch: where to send the request, and as whom. */
export interface CredentialedUrl {
  /** The URL without user and password (fetch refuses one that has them). */
  url: string;
  /** `{ authorization: 'Basic …' }` when the URL named a user or a password, else empty. */
  headers: Record<string, string>;
  /** The URL for messages and logs: the password replaced by `***`, the user kept. */
  shown: string;
}

/**
 * splitCredentials takes the user and password out of `text` and turns them into an HTTP Basic
 * `authorization` header (percent-decoded, as curl and Grafana do). Throws an Error for a string
 * that is not a URL or whose credentials are badly percent-encoded; the message never holds the
 * password.
 */
export function splitCredentials(text: string): CredentialedUrl {
  const { url, user, password } = parseCredentialed(text);
  if (url.username === '' && url.password === '') return { url: text, headers: {}, shown: text };
  const shown = redactCredentials(text);
  url.username = '';
  url.password = '';
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return { url: url.href, headers: { authorization: `Basic ${auth}` }, shown };
}

/**
 * redactCredentials is `text` with the password of a `scheme://user:password@` prefix replaced by
 * `***`; works on any string (also one that does not parse as a URL), so an error about it can
 * name it safely.
 */
export function redactCredentials(text: string): string {
  // Up to the last '@' before the path: a password may itself contain '@' (unencoded, as typed).
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#:@]*):[^/?#]*@/i, '$1:***@');
}

/**
 * hideUserinfo is `text` with whatever stands before its `@` (a user and password, or a token) as
 * `***`: `nats://***@host:4222`. For a NATS URL, where `token@` is a secret that redactCredentials
 * (which keeps a user) would show; works on any string, the scheme optional, as the NATS client
 * takes `host:port`.
 */
export function hideUserinfo(text: string): string {
  return text.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)?[^/?#]*@/i,
    (_, scheme: string | undefined) => `${scheme ?? ''}***@`,
  );
}

/** NatsServer is a NATS URL split for the client: the server, and the credentials it carried. */
export interface NatsServer {
  /** The URL without user, password or token. */
  server: string;
  /** `{ user, pass }` for `user:password@`, `{ token }` for `token@`, else empty. */
  auth: { user: string; pass: string } | { token: string } | Record<string, never>;
}

/**
 * natsServer takes the credentials out of a NATS URL as the NATS CLI and Go client read them:
 * `nats://user:password@host:4222` is a user and password, `nats://token@host:4222` a token, both
 * percent-decoded. The JavaScript client ignores them in the URL and connects without any, so
 * the server answers "Authorization Violation". A URL without `@` is returned as given (the client
 * also takes `host:port` without a scheme). Throws an Error naming the bad part and the URL as
 * hideUserinfo shows it, never the password or token (before, a token was shown: only a password
 * was hidden).
 */
export function natsServer(text: string): NatsServer {
  if (!text.includes('@')) return { server: text, auth: {} };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `nats://${text}`;
  const { url, user, password } = parseCredentialed(withScheme, hideUserinfo);
  const server = `${url.protocol}//${url.host}`;
  // As Go's url.User.Password(): a colon makes it a user and password, even an empty one.
  const userinfo = withScheme.slice(withScheme.indexOf('//') + 2, withScheme.lastIndexOf('@'));
  if (userinfo.includes(':')) return { server, auth: { user, pass: password } };
  return { server, auth: user === '' ? {} : { token: user } };
}

/** NatsServers is a NATS URL list split for the client: its servers, and the credentials they carried. */
export interface NatsServers {
  /** Each entry without user, password or token, in the order written. */
  servers: string[];
  /** As NatsServer's: the credentials the entries carried (one set; see natsServers). */
  auth: NatsServer['auth'];
}

/** NATS_SCHEME is a scheme the NATS client connects with, at the start of a list entry. */
const NATS_SCHEME = /^\s*(nats|tls|ws|wss):\/\//i;

/**
 * splitNatsServers splits a comma-separated NATS server list into its entries (trimmed), keeping a
 * comma that is part of a user, password or token: a comma is part of the credentials when the
 * entry it is in has no `@` before it and an `@` follows it before the next entry that starts with
 * `nats://`, `tls://`, `ws://` or `wss://` (`nats://u:pa,ss@h:4222` is one server, as is
 * `nats://to,ken@h:4222`); every other comma separates servers (`nats://a:4222,nats://b:4222`,
 * `a:4222,b:4222`, `u:p@a:4222,u:p@b:4222`). Before, every comma separated servers, so a comma in
 * a password had to be written `%2C`. What this rule reads otherwise: a server without
 * credentials followed by one with credentials and no scheme (`a:4222,u:p@b:4222` is one server,
 * user `a`, password `4222,u:p`; write `a:4222,nats://u:p@b:4222`), and a password holding an `@`
 * before its comma (write them `%40` and `%2C`).
 */
export function splitNatsServers(text: string): string[] {
  const pieces = text.split(',');
  const entries: string[] = [];
  for (let i = 0; i < pieces.length; ) {
    let end = i + 1;
    if (!pieces[i]!.includes('@')) {
      // Look for the '@' that would close credentials the comma is inside of.
      let at = end;
      while (at < pieces.length && !NATS_SCHEME.test(pieces[at]!) && !pieces[at]!.includes('@')) at++;
      if (at < pieces.length && !NATS_SCHEME.test(pieces[at]!)) end = at + 1;
    }
    entries.push(pieces.slice(i, end).join(',').trim());
    i = end;
  }
  return entries;
}

/**
 * natsServers reads a NATS `url` as the NATS CLI's `--server` does: one server or a comma-separated
 * list of the servers of one cluster (`nats://a:4222,nats://b:4222`), which the client is given
 * all of, so it connects to one that is up and fails over when it goes down. Before, the list went
 * to the client as one string, which it read as one server (the last host written), and the
 * others were never tried. The list is split as splitNatsServers does (a comma in a password
 * stays in it); an array's items are split each on its own. Each entry is read as natsServer reads
 * one. Throws an Error naming the entry (1-based, never its secret) that is empty or unreadable,
 * or when entries carry different credentials (the client takes one set for all its servers).
 */
export function natsServers(text: string | readonly string[]): NatsServers {
  const entries = typeof text === 'string' ? splitNatsServers(text) : text.flatMap(splitNatsServers);
  const servers: string[] = [];
  let auth: NatsServer['auth'] = {};
  let authFrom = -1;
  for (const [i, entry] of entries.entries()) {
    const which = `entry ${i + 1} of ${entries.length} of the NATS URL list`;
    if (entry === '') throw new Error(`${which} is empty`);
    let read: NatsServer;
    try {
      read = natsServer(entry);
    } catch (error) {
      if (entries.length === 1) throw error;
      throw new Error(`${which}: ${(error as Error).message}`);
    }
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(read.server) ? read.server : `nats://${read.server}`;
    if (!URL.canParse(withScheme)) throw new Error(`${which}: not a URL`);
    servers.push(read.server);
    if (Object.keys(read.auth).length === 0) continue;
    if (authFrom >= 0 && JSON.stringify(read.auth) !== JSON.stringify(auth))
      throw new Error(
        `entries ${authFrom + 1} and ${i + 1} of the NATS URL list carry different credentials`,
      );
    auth = read.auth;
    authFrom = i;
  }
  return { servers, auth };
}

/**
 * parseCredentialed parses `text` as a URL and percent-decodes its user and password. Throws an
 * Error naming the URL as `redact` shows it when it is not a URL or its credentials are badly
 * percent-encoded.
 */
function parseCredentialed(
  text: string,
  redact: (text: string) => string = redactCredentials,
): { url: URL; user: string; password: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a URL: ${redact(text)}`);
  }
  try {
    return { url, user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  } catch {
    throw new Error(`bad percent-encoding in the credentials of ${redact(text)}`);
  }
}
