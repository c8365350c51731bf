import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { KubeConfig, User } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { ProviderError } from '../errors.js';

type K8s = typeof import('@kubernetes/client-node');

/** Where the in-cluster service account's token is mounted (as the client library reads it). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** KubeConfigSource is where a group's API server and credentials come from, as named in errors. */
export type KubeConfigSource =
  | { kind: 'setting'; path: string }
  /** The files of `$KUBECONFIG`, merged in order (the first one's current context wins). */
  | { kind: 'env'; paths: string[] }
  | { kind: 'home'; path: string }
  | { kind: 'in-cluster' }
  | { kind: 'none' };

/**
 * kubeConfigSource picks the kubeconfig as `KubeConfig.loadFromDefault` does on Linux and macOS, so
 * an error can name it: the group's `kubeconfig` setting, else the first file of `$KUBECONFIG`,
 * else `~/.kube/config` when it exists, else the in-cluster service account when its token is
 * mounted, else none. With none, the library falls back to `http://localhost:8080` without
 * credentials, and the first call fails with a message about TLS that names nothing of this.
 */
export function kubeConfigSource(
  setting: string | undefined,
  env: NodeJS.ProcessEnv,
  exists: (path: string) => boolean,
  home: string,
): KubeConfigSource {
  if (setting) return { kind: 'setting', path: setting };
  const paths = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (paths.length > 0) return { kind: 'env', paths };
  const homeConfig = join(home, '.kube', 'config');
  if (exists(homeConfig)) return { kind: 'home', path: homeConfig };
  if (exists(SERVICE_ACCOUNT_TOKEN)) return { kind: 'in-cluster' };
  return { kind: 'none' };
}

/**
 * loadKubeConfig loads group `group`'s kubeconfig (see `kubeConfigSource`) and selects `context`,
 * or throws INVALID_ARGUMENT with one line naming the setting to fix: the `kubeconfig` file that
 * cannot be read or parsed, `$KUBECONFIG`, a `context` the file does not have, a file with no
 * current context, or no kubeconfig at all. Before, these surfaced as a bare `ENOENT`, a multi-line
 * YAML excerpt, "the kubeconfig has no current cluster", or a TLS complaint about localhost:8080.
 */
export function loadKubeConfig(
  k8s: K8s,
  group: string,
  settings: { kubeconfig?: string; context?: string },
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
  exists: (path: string) => boolean = existsSync,
): KubeConfig {
  const source = kubeConfigSource(settings.kubeconfig, env, exists, home);
  // What was read, as the user set it: `what` leads a message, `file` goes inside one.
  const file =
    source.kind === 'setting'
      ? source.path
      : source.kind === 'env'
        ? `$KUBECONFIG ${source.paths.join(delimiter)}`
        : source.kind === 'home'
          ? source.path
          : 'the in-cluster service account';
  const what = source.kind === 'setting' ? `groups.${group}.kubeconfig ${file}` : `group ${group}: ${file}`;
  const invalid = (message: string, cause?: unknown) =>
    new ProviderError('INVALID_ARGUMENT', message, cause === undefined ? undefined : { cause });
  if (source.kind === 'none')
    throw invalid(
      `group ${group}: no kubeconfig: set groups.${group}.kubeconfig or $KUBECONFIG, create ${join(home, '.kube', 'config')}, or run in a pod with a service account`,
    );
  const kc = new k8s.KubeConfig();
  try {
    // As loadFromDefault would, from the source picked above (so the error names what was read).
    if (source.kind === 'in-cluster') kc.loadFromCluster();
    else if (source.kind !== 'env') loadFile(kc, source.path);
    else
      for (const [i, path] of source.paths.entries()) {
        if (i === 0) loadFile(kc, path);
        else {
          const more = new k8s.KubeConfig();
          loadFile(more, path);
          kc.mergeConfig(more);
        }
      }
    kc.addAuthenticator(new TokenFileAuth());
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // A file system error's message ends with the path again (", open '/x'"): said once is enough.
    const reason = e.code ? e.message.split(',')[0] : String(e.message ?? err).split('\n')[0];
    throw invalid(`${what} ${e.code ? 'cannot be read' : 'is not a valid kubeconfig'} (${reason})`, err);
  }
  const contexts = kc.getContexts().map((c) => c.name);
  const choices = contexts.length > 0 ? contexts.join(', ') : 'none';
  if (settings.context) {
    if (!contexts.includes(settings.context))
      throw invalid(
        `groups.${group}.context "${settings.context}" is not a context of ${file} (it has: ${choices})`,
      );
    kc.setCurrentContext(settings.context);
  }
  const current = kc.getCurrentContext();
  if (!current || !contexts.includes(current))
    throw invalid(`${what} has no current-context: set groups.${group}.context (one of: ${choices})`);
  if (!kc.getCurrentCluster()) {
    const cluster = kc.getContextObject(current)?.cluster;
    throw invalid(`${what}: context "${current}" names cluster "${cluster}", which it does not define`);
  }
  return kc;
}

/** The library's Authenticator (not exported by name). */
type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

/** The `auth-provider` name a user's `token-file` is rewritten to (see `loadFile`). */
const TOKEN_FILE_PROVIDER = 'scaleplane-token-file';

/**
 * loadFile loads kubeconfig `path` into `kc` as `KubeConfig.loadFromFile` does, except for users
 * with a `token-file`. The library read that file once, at load, relative to the working folder
 * and untrimmed: a token written with its newline (`kubectl create token ci > token`) failed every
 * request with "Bearer <the token>" (the header refused, the token in the message), a relative
 * path was not found next to the kubeconfig, and a rotated token (projected tokens expire) was
 * never read again. Such a user gets an auth provider that `TokenFileAuth` serves instead, the path
 * resolved against the kubeconfig's folder as client-go resolves it.
 */
function loadFile(kc: KubeConfig, path: string): void {
  const text = readFileSync(path, 'utf8');
  let doc: { users?: unknown } | undefined;
  try {
    doc = parseYaml(text) as { users?: unknown } | undefined;
  } catch {
    doc = undefined; // the library's own parse says what is wrong, as before
  }
  const users = Array.isArray(doc?.users) ? (doc.users as { user?: Record<string, unknown> }[]) : [];
  const withFile = users.filter(
    (u) => typeof u?.user?.['token-file'] === 'string' && !u.user.token && !u.user['auth-provider'],
  );
  if (withFile.length === 0) {
    kc.loadFromFile(path);
    return;
  }
  for (const { user } of withFile) {
    const file = resolve(dirname(path), user!['token-file'] as string);
    delete user!['token-file'];
    user!['auth-provider'] = { name: TOKEN_FILE_PROVIDER, config: { path: file } };
  }
  kc.loadFromString(JSON.stringify(doc));
  kc.makePathsAbsolute(dirname(path));
}

/**
 * TokenFileAuth sends a `token-file` user's token as it is on disk: read again whenever the file
 * changed (its inode, size or mtime: the kubelet swaps a symlink to rotate one), trimmed as
 * client-go trims it. A file that cannot be read, is empty or holds more than one line fails the
 * request naming the file, never the token.
 */
class TokenFileAuth implements Authenticator {
  #read: { path: string; version: string; token: string } | undefined;

  isAuthProvider(user: User): boolean {
    return user.authProvider?.name === TOKEN_FILE_PROVIDER;
  }

  async applyAuthentication(user: User, opts: { headers?: unknown }): Promise<void> {
    const path = String(user.authProvider.config.path);
    const token = await this.#token(path);
    opts.headers ??= {};
    (opts.headers as Record<string, string>).Authorization = `Bearer ${token}`;
  }

  async #token(path: string): Promise<string> {
    const fail = (why: string, cause?: unknown) =>
      new ProviderError('INVALID_ARGUMENT', `kubeconfig token-file ${path} ${why}`, { cause });
    const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw fail(`cannot be read (${err.code ?? err.message})`, err);
    });
    const version = `${info.ino}:${info.size}:${info.mtimeMs}`;
    if (this.#read?.path === path && this.#read.version === version) return this.#read.token;
    const token = (
      await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw fail(`cannot be read (${err.code ?? err.message})`, err);
      })
    ).trim();
    if (token === '') throw fail('is empty');
    if (/\s/.test(token)) throw fail('holds more than one token (whitespace inside)');
    this.#read = { path, version, token };
    return token;
  }
}
