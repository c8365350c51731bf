// Disk full for what Scaleplane writes to disk: its log (stdout to a file), on a 64 KiB tmpfs.

import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KnownGroups } from '../../helpers/kill-groups.js';
import {
  type ChaosRow,
  chaosConfig,
  check,
  describeFailures,
  failuresOf,
  freePort,
  SIZE,
  serving,
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

/** useUpInodes creates empty files in `dir` until the file system has no inode left. */
async function useUpInodes(dir: string): Promise<string[]> {
  const made: string[] = [];
  for (let i = 0; ; i++) {
    const path = join(dir, `inode-${i}`);
    try {
      await writeFile(path, '');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      return made;
    }
    made.push(path);
  }
}

/** crashes reads `scaleplane_instance_crashes_total` of group web from /metrics. */
async function crashes(api: ControlApi): Promise<number> {
  const text = await api.metrics();
  const m = /^scaleplane_instance_crashes_total\{group="web"\} (\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * diskFull: everything `scaleplane up` writes — its log (stdout to a file), its state file
 * (`controller.state: file`) and its instances' log files — is on a 64 KiB tmpfs with 64 inodes,
 * which is then filled: no byte and no inode left. While full, the group is scaled 2 → 3 (the new
 * instance cannot get a log file, so it cannot start) and back to 2; then space is freed and the
 * group scaled to 3 again.
 * Bounds: zero failed requests; Scaleplane stays up and answers every scale call (200); the
 * failed start is reported (instance crash counter) and costs no running instance; once space is
 * freed the group reaches 3 and the log says how long writes failed; the state file is valid JSON
 * throughout (replaced atomically) and holds desired 3 at the end; SIGTERM still stops it cleanly.
 */
export async function diskFull(): Promise<ChaosRow> {
  const dir = await mkdtemp(join(tmpdir(), 'chaos-disk-'));
  const full = join(dir, 'full');
  await run('mkdir', [full]);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,nr_inodes=64', 'tmpfs', full]);
  const [apiPort, balancerPort] = [await freePort(), await freePort()];
  const configPath = join(dir, 'scaleplane.yaml');
  const statePath = join(full, 'state.json');
  await writeFile(
    configPath,
    chaosConfig(
      { min: 2, max: 3 },
      { api: `127.0.0.1:${apiPort}`, balancer: `127.0.0.1:${balancerPort}` },
    ).replace(
      'controller: { interval: 500ms }',
      `controller: { interval: 500ms, state: { backend: file, path: ${JSON.stringify(statePath)} } }`,
    ),
  );
  const logPath = join(full, 'scaleplane.log');
  const filler = join(full, 'filler');
  const up = new UpChild(configPath, logPath);
  const api = new ControlApi(apiPort);
  const stateDesired = async () => {
    try {
      return (JSON.parse(await readFile(statePath, 'utf8')) as { desired: { web?: number } }).desired.web;
    } catch {
      return undefined; // missing or not JSON
    }
  };
  // With a state store, instances outlive a killed `up` on purpose: remember them to clean up.
  const groups = new KnownGroups();
  const remember = async () => {
    for (const i of (await api.group('web'))?.instances ?? []) if (i.pid !== undefined) groups.add(i.pid);
  };
  try {
    await api.settled('web', 2, 60_000);
    await serving(`http://127.0.0.1:${balancerPort}/`, 60_000);
    await remember();
    const load = steadyLoad(`http://127.0.0.1:${balancerPort}/`);
    await load.reached(SIZE.before);
    await fillUp(filler, 0);
    // And no inode left either: a file cannot even be created (an instance's log file, a temp file).
    const inodes = await useUpInodes(full);
    // Newlines are blank log lines: they fill the log's own last page without breaking a line.
    await fillUp(logPath, 0x0a);
    const sizeWhenFull = (await stat(logPath)).size;
    const crashesBefore = await crashes(api);
    // While the state file cannot be written, a scale takes effect here but is answered 503
    // SCALEPLANE_NOT_STORED with inEffect (a restart would restore the stored count); once space is
    // freed, 200 again.
    const answers: { status: number; body: { code?: string; inEffect?: boolean } }[] = [];
    answers.push(await api.setWithAnswer('web', 3));
    await until(
      async () => (await crashes(api)) > crashesBefore,
      30_000,
      'the failed start is reported',
      100,
    );
    const readyWhileFull = (await api.group('web'))?.ready ?? 0;
    const stateWhileFull = await stateDesired();
    answers.push(await api.setWithAnswer('web', 2));
    await api.settled('web', 2, 60_000);
    await load.reached(SIZE.during);
    const aliveThroughout = up.alive;
    const grewWhileFull = (await stat(logPath)).size - sizeWhenFull;
    await Promise.all([filler, ...inodes].map((f) => unlink(f)));
    const freedAt = performance.now();
    answers.push(await api.setWithAnswer('web', 3));
    await api.settled('web', 3, 60_000);
    const recoveryMs = performance.now() - freedAt;
    await remember();
    // The first log write that works flushes what was kept and says how long writing failed.
    await until(
      async () => (await readFile(logPath, 'utf8')).includes('log writes failed'),
      30_000,
      'the log says writing works again',
      50,
    ).catch(() => {});
    const logged = (await readFile(logPath, 'utf8')).slice(sizeWhenFull);
    const notice = logged.split('\n').find((l) => l.includes('log writes failed')) ?? '';
    const stateAtEnd = await stateDesired();
    await load.reached(SIZE.after);
    const r = await load.stop();
    const exit = await up.stop();
    return {
      fault: 'disk full (log, state, instance logs)',
      requests: r.ok + r.non2xx + r.errors,
      failures: failuresOf(r),
      recoveryMs,
      recoveredWhen: 'space freed → scaled to 3, all ready',
      checks: [
        check('zero failed requests', failuresOf(r) === 0, describeFailures(r)),
        check('stayed up while full', aliveThroughout, up.stderr.slice(-300)),
        check(
          'scale calls while full: 503 not stored, in effect; after: 200',
          answers.length === 3 &&
            answers
              .slice(0, 2)
              .every(
                (a) =>
                  a.status === 503 && a.body.code === 'SCALEPLANE_NOT_STORED' && a.body.inEffect === true,
              ) &&
            answers[2]?.status === 200,
          answers.map((a) => `${a.status} ${a.body.code ?? ''}`.trim()).join(', '),
        ),
        check('the log could not grow while full', grewWhileFull === 0, `${grewWhileFull} bytes`),
        check(
          'failed start reported, no running instance lost',
          readyWhileFull >= 2,
          `ready ${readyWhileFull}`,
        ),
        check('state file valid JSON while full', stateWhileFull === 2, `desired ${stateWhileFull}`),
        check('state file holds desired 3 at the end', stateAtEnd === 3, `desired ${stateAtEnd}`),
        check('the log says how long writes failed', notice !== '', notice.slice(0, 200)),
        check('SIGTERM stops it cleanly', exit.code === 0, JSON.stringify(exit)),
      ],
      note: (JSON.parse(notice || '{}') as { msg?: string }).msg ?? 'no notice in the log',
    };
  } finally {
    if (up.alive) {
      up.child.kill('SIGKILL');
      await up.exited;
    }
    // Those still ours: the clean stop took them, and their pids may be reused since.
    groups.killAll('SIGKILL');
    await run('umount', ['-l', full]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
