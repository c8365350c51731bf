import { constants } from 'node:fs';
import { open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * apiPort is the port a URL of the API reaches: its own, else its scheme's (443 for https). The
 * token file of `--api https://localhost` was looked up for port 80, an API that is not it.
 */
export function apiPort(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

/**
 * tokenFilePath is where `scaleplane up` leaves a generated token for the CLI on this machine,
 * one file per API port, readable only by the user who started it.
 */

export function tokenFilePath(port: number): string {
  return join(tmpdir(), `scaleplane-api-${port}.token`);
}

/**
 * writeTokenFile stores a generated token (mode 0600). The old file goes first; the new one is
 * created with O_EXCL, which follows no symlink and fails if another user's file took the name in a
 * shared /tmp in between, so the token is never written where someone else chose.
 */
export async function writeTokenFile(port: number, token: string): Promise<string> {
  const path = tokenFilePath(port);
  await rm(path, { force: true });
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return path;
}

/**
 * readTokenFile returns the token for a local API port, if one was generated. Like ssh with its
 * keys, it trusts only a regular file of this user that no one else may read or write, opened
 * without following a symlink: in a shared /tmp anyone can create the name first.
 */
export async function readTokenFile(port: number): Promise<string | undefined> {
  return (await inspectTokenFile(port)).token;
}

/**
 * TokenFileReading is what the token file of a port gave: its token, or why a file that is there
 * was not trusted (`untrusted`), for a hint that tells it from no file at all.
 */
export interface TokenFileReading {
  token?: string;
  untrusted?: string;
}

/** inspectTokenFile reads the token file as readTokenFile does, saying why one was not trusted. */
export async function inspectTokenFile(port: number): Promise<TokenFileReading> {
  let file: Awaited<ReturnType<typeof open>> | undefined;
  try {
    file = await open(tokenFilePath(port), constants.O_RDONLY | constants.O_NOFOLLOW);
    const stat = await file.stat();
    if (!stat.isFile()) return { untrusted: 'it is not a regular file' };
    if ((stat.mode & 0o077) !== 0)
      return { untrusted: `others may read or write it (mode ${(stat.mode & 0o777).toString(8)}, not 600)` };
    if (process.getuid !== undefined && stat.uid !== process.getuid())
      return { untrusted: `it belongs to uid ${stat.uid}, not to you (uid ${process.getuid()})` };
    const token = (await file.readFile('utf8')).trim();
    return token ? { token } : {};
  } catch (error) {
    // O_NOFOLLOW on a symlink fails with ELOOP: someone else may have planted it.
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return { untrusted: 'it is a symlink' };
    return {};
  } finally {
    await file?.close();
  }
}

/** removeTokenFile deletes the token file if it still holds our token. */
export async function removeTokenFile(port: number, token: string): Promise<void> {
  if ((await readTokenFile(port)) === token) await rm(tokenFilePath(port), { force: true });
}

/**
 * localTokenPorts are the API ports `scaleplane up` left a token file for in this machine's temp
 * folder, counting only files readTokenFile trusts (this user's, private): the APIs of this user's
 * running Scaleplanes (a stopped one removes its file).
 */
export async function localTokenPorts(): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(tmpdir());
  } catch {
    return [];
  }
  const ports = names.flatMap((name) => {
    const match = /^scaleplane-api-(\d{1,5})\.token$/.exec(name);
    return match ? [Number(match[1])] : [];
  });
  const trusted = await Promise.all(ports.map(async (port) => ((await readTokenFile(port)) ? [port] : [])));
  return trusted.flat();
}
