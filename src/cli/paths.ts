import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { CliError } from './client.js';

/** fsCode is the errno code of a failed file call (`ENOENT`), else its message. */
function fsCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * readableFile refuses (exit 2, naming the flag) an input that is not a readable file, before
 * any of it is read: otherwise a missing `.csv` surfaced as a bare `ENOENT: … open '…'`.
 */
export async function readableFile(flag: string, file: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await stat(file)).isFile();
    await access(file, constants.R_OK);
  } catch (error) {
    throw new CliError(`${flag} ${file}: cannot read it (${fsCode(error)})`, 2);
  }
  if (!isFile) throw new CliError(`${flag} ${file}: not a file`, 2);
}

/**
 * writableFile creates (or empties) an output file up front, so that a path that cannot be
 * written fails in a moment, naming its flag, instead of after the whole run (or, for a stream,
 * as an unhandled 'error' event).
 */
export async function writableFile(flag: string, file: string): Promise<void> {
  try {
    await (await open(file, 'w')).close();
  } catch (error) {
    throw new CliError(`${flag} ${file}: cannot write it (${fsCode(error)})`, 2);
  }
}
