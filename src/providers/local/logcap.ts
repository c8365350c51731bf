import { closeSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';

/** MAX_LOG_BYTES is the size an instance log file may reach before it is cut. */
export const MAX_LOG_BYTES = 64 * 1024 * 1024;
/** KEEP_LOG_BYTES is how much of its end a cut file leaves in `<file>.1`. */
export const KEEP_LOG_BYTES = 1024 * 1024;

/**
 * capLogFile cuts an instance log file (one the instance appends to with O_APPEND, as the provider
 * opens them) once it is larger than `max`: its last `keep` bytes go to `<file>.1`, replacing the
 * previous one, and the file is truncated to 0, where the instance's next write lands (logrotate's
 * copytruncate; what the instance writes between the copy and the truncation is lost). Returns the
 * bytes cut, 0 when the file is small enough or gone. Without it a chatty instance (`yes`) filled
 * the disk at 250 MB/s.
 */
export function capLogFile(file: string, max = MAX_LOG_BYTES, keep = KEEP_LOG_BYTES): number {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return 0;
  }
  if (size <= max) return 0;
  const fd = openSync(file, 'r+');
  try {
    const tail = Buffer.alloc(Math.min(keep, size));
    const read = readSync(fd, tail, 0, tail.length, size - tail.length);
    // Truncated even when the tail cannot be kept (a full disk, a name taken): the file stays bounded.
    try {
      writeOwnFile(`${file}.1`, tail.subarray(0, read));
    } finally {
      ftruncateSync(fd, 0);
    }
  } finally {
    closeSync(fd);
  }
  return size;
}

/**
 * writeOwnFile replaces `path` with a new file of this user, mode 0600. The default log folder is
 * the shared /tmp, where anyone may create `<file>.1` before the first cut: a symlink there was
 * followed, and a controller running as root wrote an instance's output (which clients can steer)
 * over whatever it pointed to; a file there kept its owner's mode and stayed readable to them.
 * Unlinking removes the name (a symlink itself, not its target); O_EXCL then creates a fresh file
 * or fails, following no symlink a race could plant in between.
 */
function writeOwnFile(path: string, data: Uint8Array): void {
  rmSync(path, { force: true });
  writeFileSync(path, data, { flag: 'wx', mode: 0o600 });
}
