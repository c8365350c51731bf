import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

/** API_KEY_ENV lists the environment variables that carry the bearer token, in order of preference. */
export const API_KEY_ENV = ['SCALEPLANE_API_KEY', 'SERVICE_API_KEY'] as const;

/** Role says what a token may do: `read` status, events and metrics; `admin` also scale and resize. */
export type Role = 'read' | 'admin';

/** ApiToken is one accepted token. Its `name` is what the journal records, never the secret. */
export interface ApiToken {
  name: string;
  role: Role;
  token: string;
}

/** Principal is who a request authenticated as. */
export interface Principal {
  name: string;
  role: Role;
}

/**
 * streamEndReason says why a live stream opened as `opened` must end now that its token
 * authenticates as `now` (undefined: no longer accepted), or undefined when it may go on. The
 * stream's `hello` told the dashboard its principal once: a token kept by a reload with another
 * role or name would otherwise go on showing the old one until the client reconnected.
 */
export function streamEndReason(opened: Principal, now: Principal | undefined): string | undefined {
  if (now === undefined) return 'its token is no longer accepted';
  if (now.role !== opened.role) return `its token's role changed from ${opened.role} to ${now.role}`;
  if (now.name !== opened.name) return `its token was renamed from "${opened.name}" to "${now.name}"`;
  return undefined;
}

/** AuthConfigError: a token file that cannot be used; names the file and line. */
export class AuthConfigError extends Error {
  readonly code = 'SCALEPLANE_AUTH_CONFIG';
}

/**
 * API_KEY_FILE_ENV names a file holding the token, the `_FILE` convention of Docker and Kubernetes
 * secrets (as POSTGRES_PASSWORD_FILE): the secret stays out of the environment (`docker inspect`,
 * /proc/PID/environ). It is read after SCALEPLANE_API_KEY, which may not be set with it, and before
 * SERVICE_API_KEY.
 */
export const API_KEY_FILE_ENV = 'SCALEPLANE_API_KEY_FILE';

/** EnvToken is the token the environment gives and where it came from (`$SCALEPLANE_API_KEY`, a file). */
export interface EnvToken {
  token: string;
  source: string;
}

/**
 * envToken returns the token of the environment and its source, if any: $SCALEPLANE_API_KEY, else
 * the file $SCALEPLANE_API_KEY_FILE names (its content, trimmed), else $SERVICE_API_KEY. Throws
 * AuthConfigError, naming the variable, for a file that cannot be read or is empty, and when both
 * SCALEPLANE_API_KEY and SCALEPLANE_API_KEY_FILE are set.
 */
export function envToken(env: NodeJS.ProcessEnv = process.env): EnvToken | undefined {
  const [primary, alias] = API_KEY_ENV;
  const direct = env[primary]?.trim();
  const file = env[API_KEY_FILE_ENV]?.trim();
  if (direct && file)
    throw new AuthConfigError(`both ${primary} and ${API_KEY_FILE_ENV} are set: set one of them`);
  if (direct) return { token: direct, source: `$${primary}` };
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new AuthConfigError(`${API_KEY_FILE_ENV} ${file}: ${(err as Error).message}`, { cause: err });
    }
    const token = text.trim();
    if (!token) throw new AuthConfigError(`${API_KEY_FILE_ENV} ${file}: the file is empty`);
    return { token, source: `${file} ($${API_KEY_FILE_ENV})` };
  }
  const aliased = env[alias]?.trim();
  return aliased ? { token: aliased, source: `$${alias}` } : undefined;
}

/** tokenFromEnv returns the token the environment gives (see envToken), if any. */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return envToken(env)?.token;
}

/** generateToken makes a random token for a loopback-only API started without one. */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** MIN_TOKEN_LENGTH keeps guessable tokens out of token files. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * parseTokenFile reads `NAME ROLE TOKEN` lines (blank lines and `#` comments skipped; a comment
 * starts a line or follows whitespace). Throws AuthConfigError naming the line of the first problem.
 */
export function parseTokenFile(text: string, source = 'token file'): ApiToken[] {
  const tokens: ApiToken[] = [];
  // Line of each name and token seen. A token on two lines would authenticate as whichever line
  // came last (an admin `ci` from ops' pasted token), and the journal records principals by name:
  // both are refused, naming both lines and never the token itself.
  const names = new Map<string, number>();
  const secrets = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    // A `#` within a token is part of it: cutting there stored a shorter token than the one written
    // (refused as written, while its prefix worked). Comments start a line or follow whitespace.
    const line = raw.replace(/(^|\s)#.*/, '').trim();
    if (line === '') return;
    const where = `${source} (line ${index + 1})`;
    const fields = line.split(/\s+/);
    if (fields.length !== 3) throw new AuthConfigError(`${where}: expected "NAME ROLE TOKEN"`);
    const [name, role, token] = fields as [string, string, string];
    if (role !== 'read' && role !== 'admin')
      throw new AuthConfigError(`${where}: role must be read or admin`);
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new AuthConfigError(`${where}: token must be at least ${MIN_TOKEN_LENGTH} characters`);
    }
    const nameLine = names.get(name);
    if (nameLine !== undefined)
      throw new AuthConfigError(`${where}: duplicate token name "${name}" (also on line ${nameLine})`);
    const tokenLine = secrets.get(token);
    if (tokenLine !== undefined)
      throw new AuthConfigError(
        `${where}: duplicate token (the token of line ${tokenLine}); each token must be unique`,
      );
    names.set(name, index + 1);
    secrets.set(token, index + 1);
    tokens.push({ name, role, token });
  });
  return tokens;
}

/** loadTokenFile reads and parses a token file. */
export async function loadTokenFile(path: string): Promise<ApiToken[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AuthConfigError(`api.token_file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseTokenFile(text, path);
}

/**
 * exposedTokenFileWarning says what is wrong with the mode of a file holding API tokens, or
 * undefined when only its owner (and a group, reading) may use it. Others reading it read admin
 * tokens; a group writing it can add one. Pure.
 */
export function exposedTokenFileWarning(what: string, path: string, mode: number): string | undefined {
  const bits = mode & 0o777;
  if ((bits & 0o027) === 0) return undefined;
  return (
    `${what} ${path} holds API tokens and is ${bits & 0o007 ? 'open to every local user' : 'writable by its group'} ` +
    `(mode ${bits.toString(8).padStart(3, '0')}): chmod 600 it (a Kubernetes secret volume: defaultMode: 0400)`
  );
}

/**
 * tokenFileWarnings checks the modes of the files API tokens come from: `api.token_file` and the
 * file $SCALEPLANE_API_KEY_FILE names. They are read as they are (a Kubernetes secret is mounted
 * 0644 unless told otherwise), so this warns rather than refuses; before, nothing said so.
 */
export async function tokenFileWarnings(
  tokenFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const files: [string, string | undefined][] = [
    ['api.token_file', tokenFile],
    [`$${API_KEY_FILE_ENV}`, env[API_KEY_FILE_ENV]?.trim() || undefined],
  ];
  const warnings: string[] = [];
  for (const [what, path] of files) {
    if (path === undefined) continue;
    // One that cannot be read is reported, as an error, where it is read.
    const mode = await stat(path).then(
      (s) => s.mode,
      () => undefined,
    );
    const warning = mode === undefined ? undefined : exposedTokenFileWarning(what, path, mode);
    if (warning !== undefined) warnings.push(warning);
  }
  return warnings;
}

/**
 * createAuthenticator returns a function mapping an Authorization header to the token's principal.
 * Every token is compared, each through a SHA-256 digest, so the time taken says nothing about
 * which token, or which prefix of one, came close.
 */
export function createAuthenticator(
  tokens: readonly ApiToken[],
): (authorization: string | undefined) => Principal | undefined {
  const digests = tokens.map((t) => ({ principal: { name: t.name, role: t.role }, digest: sha256(t.token) }));
  return (authorization) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    const presented = sha256(match?.[1] ?? '');
    let found: Principal | undefined;
    for (const candidate of digests) {
      if (timingSafeEqual(candidate.digest, presented) && match !== null) found = candidate.principal;
    }
    return found;
  };
}

/**
 * A proxy in front of the API (`scaleplane mcp --http`) calls it for many clients from one
 * address. With its own admin token in PROXY_AUTHORIZATION_HEADER it may name the client it calls
 * for in FORWARDED_FOR_HEADER, and the failed-authentication limit counts that client apart.
 * Without such a token the header would let anyone pick a fresh limit for every guess.
 */
export const PROXY_AUTHORIZATION_HEADER = 'scaleplane-proxy-authorization';
/** FORWARDED_FOR_HEADER is the address of the client a proxy calls for (see PROXY_AUTHORIZATION_HEADER). */
export const FORWARDED_FOR_HEADER = 'scaleplane-forwarded-for';

/** createTokenCheck says whether an Authorization header carries `token` (one admin token). */
export function createTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const authenticate = createAuthenticator([{ name: 'token', role: 'admin', token }]);
  return (authorization) => authenticate(authorization) !== undefined;
}

/** isLoopback says whether a listen host is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * isLoopbackHostHeader says whether a request's Host header names this machine's loopback
 * (`localhost`, `127.x.x.x`, `[::1]`, with or without a port), as a browser on this machine sends
 * it; a DNS-rebinding page sends its own name.
 */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  const match = /^(\[::1\]|[^:[\]]+)(:\d{1,5})?$/.exec(host ?? '');
  if (!match) return false;
  const name = match[1]!.toLowerCase();
  return name === '[::1]' || name === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
