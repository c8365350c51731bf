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
