import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
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

/** CONFIG_NAMES are the names a config in the current folder is taken to have. */
const CONFIG_NAMES = ['scaleplane.yaml', 'scaleplane.yml'];

/**
 * demoConfigNote is the warning `up` without `-c` gives when the current folder holds a config of
 * its own (`scaleplane.yaml`), undefined when it holds none. `up` without `-c` runs the bundled
 * demo, as the quick start says; a user who wrote `scaleplane.yaml` beside their app and typed
 * `scaleplane up` got the demo's app on the demo's ports, said only by a `config …/examples/demo/…`
 * line. The demo still runs (the contract), but the warning names the file and the command.
 */
export function demoConfigNote(
  cwd: string,
  demoPath: string,
  exists: (path: string) => boolean,
): string | undefined {
  const found = CONFIG_NAMES.find((name) => exists(join(cwd, name)));
  if (found === undefined) return undefined;
  return `no -c: running the bundled demo (${demoPath}), not ./${found} of this folder; to run yours: scaleplane up -c ${found}`;
}
