import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * tokenFilePath is where `scaleplane up` leaves a generated token for the CLI on this machine,
 * one file per API port, readable only by the user who started it.
 */
export function tokenFilePath(port: number): string {
  return join(tmpdir(), `scaleplane-api-${port}.token`);
}

/** writeTokenFile stores a generated token (mode 0600). */
export async function writeTokenFile(port: number, token: string): Promise<string> {
  const path = tokenFilePath(port);
  await rm(path, { force: true });
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return path;
}

/** readTokenFile returns the token for a local API port, if one was generated. */
export async function readTokenFile(port: number): Promise<string | undefined> {
  try {
    return (await readFile(tokenFilePath(port), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** removeTokenFile deletes the token file if it still holds our token. */
export async function removeTokenFile(port: number, token: string): Promise<void> {
  if ((await readTokenFile(port)) === token) await rm(tokenFilePath(port), { force: true });
}
