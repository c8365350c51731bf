import { constants } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  let file: Awaited<ReturnType<typeof open>> | undefined;
  try {
    file = await open(tokenFilePath(port), constants.O_RDONLY | constants.O_NOFOLLOW);
    const stat = await file.stat();
    if (!stat.isFile() || (stat.mode & 0o077) !== 0) return undefined;
    if (process.getuid !== undefined && stat.uid !== process.getuid()) return undefined;
    return (await file.readFile('utf8')).trim() || undefined;
  } catch {
    return undefined;
  } finally {
    await file?.close();
  }
}

/** removeTokenFile deletes the token file if it still holds our token. */
export async function removeTokenFile(port: number, token: string): Promise<void> {
  if ((await readTokenFile(port)) === token) await rm(tokenFilePath(port), { force: true });
}
