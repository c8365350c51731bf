// Disk full for what Scaleplane writes to disk: its log (stdout to a file), on a 64 KiB tmpfs.

import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type ChaosRow,
  chaosConfig,
  check,
  describeFailures,
  failuresOf,
  freePort,
  SIZE,
  steadyLoad,
  until,
} from '../harness.js';
import { ControlApi, UpChild } from '../up-child.js';

const run = promisify(execFile);

/**
 * fillUp appends `byte` to `path` until the file system says ENOSPC, in big chunks and then byte
 * by byte, so not even the slack of the file's last page is left.
 */
async function fillUp(path: string, byte: number): Promise<void> {
  const file = await open(path, 'a');
  try {
    for (const size of [4096, 1]) await fillWith(file, Buffer.alloc(size, byte));
  } finally {
    await file.close();
  }
}

async function fillWith(file: Awaited<ReturnType<typeof open>>, chunk: Buffer): Promise<void> {
  try {
    for (;;) await file.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
}

/** canMount says whether this process may mount a tmpfs (root with CAP_SYS_ADMIN). */
export function canMount(): boolean {
  return process.getuid?.() === 0;
}

/**
 * diskFull: `scaleplane up` logs to a file on a 64 KiB tmpfs, which is then filled to ENOSPC;
 * while it is full the group is scaled 2 → 3 → 2 through the API (every step logs), and the
 * journal is read; then the space is freed.
 * Bounds: zero failed requests; Scaleplane stays up and applies every scale call while the disk
 * is full; log lines written after space is freed reach the file; SIGTERM still stops it cleanly.
 */
export async function diskFull(): Promise<ChaosRow> {
  const dir = await mkdtemp(join(tmpdir(), 'chaos-disk-'));
  const full = join(dir, 'full');
  await run('mkdir', [full]);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
  const [apiPort, balancerPort] = [await freePort(), await freePort()];
  const configPath = join(dir, 'scaleplane.yaml');
  await writeFile(
    configPath,
    chaosConfig({ min: 2, max: 3 }, { api: `127.0.0.1:${apiPort}`, balancer: `127.0.0.1:${balancerPort}` }),
  );
  const logPath = join(full, 'scaleplane.log');
  const filler = join(full, 'filler');
  const up = new UpChild(configPath, logPath);
  const api = new ControlApi(apiPort);
  try {
    await api.settled('web', 2, 60_000);
    const load = steadyLoad(`http://127.0.0.1:${balancerPort}/`);
    await load.reached(SIZE.before);
    await fillUp(filler, 0);
    // Newlines are blank log lines: they fill the log's own last page without breaking a line.
    await fillUp(logPath, 0x0a);
    const sizeWhenFull = (await stat(logPath)).size;
    const statuses: number[] = [];
    let aliveThroughout = true;
    for (const n of [3, 2]) {
      statuses.push(await api.set('web', n));
      await api.settled('web', n, 60_000);
      aliveThroughout &&= up.alive;
    }
    await load.reached(SIZE.during);
    aliveThroughout &&= up.alive;
    const grewWhileFull = (await stat(logPath)).size - sizeWhenFull;
    await unlink(filler);
    statuses.push(await api.set('web', 3));
    // The scale call logs a line; the first write that works flushes what was kept and says so.
    const recoveryMs = await until(
      async () => (await readFile(logPath, 'utf8')).includes('log writes failed'),
      30_000,
      'the log says writing works again',
      50,
    ).catch(() => undefined);
    const logged = (await readFile(logPath, 'utf8')).slice(sizeWhenFull);
    const notice = logged.split('\n').find((l) => l.includes('log writes failed')) ?? '';
    const resumed = recoveryMs !== undefined && logged.includes('"after":3');
    await api.settled('web', 3, 60_000);
    await load.reached(SIZE.after);
    const r = await load.stop();
    const exit = await up.stop();
    return {
      fault: 'disk full (log file, 64 KiB tmpfs)',
      requests: r.ok + r.non2xx + r.errors,
      failures: failuresOf(r),
      recoveryMs,
      recoveredWhen: 'log lines reach the file again after space is freed',
      checks: [
        check('zero failed requests', failuresOf(r) === 0, describeFailures(r)),
        check('the log could not grow while full', grewWhileFull === 0, `${grewWhileFull} bytes`),
        check('stayed up while full', aliveThroughout, up.stderr.slice(-300)),
        check(
          'every scale call applied',
          statuses.every((s) => s === 200),
          statuses.join(','),
        ),
        check('logging resumes after space is freed, with a notice', resumed, notice.slice(0, 200)),
        check('SIGTERM stops it cleanly', exit.code === 0, JSON.stringify(exit)),
      ],
      note: `disk full while scaling 2 → 3 → 2 via the API; then: ${(JSON.parse(notice || '{}') as { msg?: string }).msg ?? 'no notice'}`,
    };
  } finally {
    if (up.alive) {
      up.child.kill('SIGKILL');
      await up.exited;
    }
    await run('umount', ['-l', full]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
