// Loaded into every test file's process by scripts/run-tests.mjs. --test-timeout bounds each test,
// but not a file whose `after` hook never returns, or whose handles never close: such a file held
// a run for ever (a MariaDB test file, its sockets to a killed primary left in CLOSE-WAIT, idle
// for 19 minutes after its last test). After TEST_FILE_TIMEOUT_MS (15 minutes) the file says what
// keeps it alive and exits 1, so the run fails with a reason instead of eating CI's 90 minutes.
import { basename } from 'node:path';

const limit = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 15 * 60_000);
// Only the test file's own process: the children a test starts with process.execArgv (balancer
// workers) inherit this module too.
if (/\.test\.[jt]s$/.test(process.argv[1] ?? '') && limit > 0) {
  setTimeout(() => {
    const handles = process._getActiveHandles().map((handle) => {
      const name = handle?.constructor?.name ?? typeof handle;
      if (handle?.remoteAddress)
        return `${name} ${handle.localPort}→${handle.remoteAddress}:${handle.remotePort}`;
      if (handle?.pid) return `${name} pid ${handle.pid}`;
      return name;
    });
    console.error(
      `\n${basename(process.argv[1])}: still running after ${limit / 1000} s (TEST_FILE_TIMEOUT_MS); ` +
        `what keeps it alive: ${process.getActiveResourcesInfo().join(', ')}; handles: ${handles.join('; ')}`,
    );
    process.exit(1);
  }, limit).unref();
}

// TEST_CPU_LOG=FILE appends, when a test file's process exits, the CPU it used with the children it
// reaped (CLI processes, and through them the instances they ran): `file user-s system-s`. The
// suite is CPU-bound on 2 cores (vmstat: 0 % idle for most of a run), so CPU, not wall time, is
// what a file costs the others.
const cpuLog = process.env.TEST_CPU_LOG;
if (cpuLog && /\.test\.[jt]s$/.test(process.argv[1] ?? '')) {
  const { appendFileSync, readFileSync } = await import('node:fs');
  process.on('exit', () => {
    // /proc/self/stat fields 14–17 (utime, stime, cutime, cstime) in clock ticks of 1/100 s;
    // the command name (field 2) may hold spaces, so count from after its closing parenthesis.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
    const user = (utime + cutime) / 100;
    const system = (stime + cstime) / 100;
    const file = process.argv[1].replace(/^.*?(?=test\/)/, '');
    appendFileSync(cpuLog, `${file} ${user.toFixed(2)} ${system.toFixed(2)}\n`);
  });
}
