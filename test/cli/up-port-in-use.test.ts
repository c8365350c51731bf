import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { ensurePortFree, listenerInodes, portInUseMessage } from '../../src/port-holder.js';
import { runCli } from '../helpers/cli-process.js';
import { freePort } from '../helpers/ports.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';

/** hold listens on a port of the kernel's choosing in this process, closed after the test. */
async function hold(t: { after: (fn: () => unknown) => void }, host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as { port: number }).port;
}

/** config is a one-group config with the API and the balancer on the given ports. */
function config(api: number, balancer: number): Promise<string> {
  return writeTempConfig(
    [
      `api: { listen: 127.0.0.1:${api} }`,
      `balancer: { listen: 127.0.0.1:${balancer} }`,
      'groups:',
      `  web: { command: node server.js, cwd: ${DEMO_DIR} }`,
      '',
    ].join('\n'),
  );
}

/** startedInstances are the log lines of instances `up` started. */
function startedInstances(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /"msg":"starting web-/.test(line));
}

describe('scaleplane up on a port already taken: the key, the port and who holds it', () => {
  it('api.listen: named with the holder (it said only "listen EADDRINUSE: address already in use")', async (t) => {
    const port = await hold(t);
    const { code, stdout, stderr } = await runCli(['up', '-c', await config(port, 0)]);
    assert.equal(code, 1, stdout);
    // The holder is this test's process: node, running the test runner.
    assert.match(
      stderr,
      new RegExp(
        `^scaleplane: api\\.listen 127\\.0\\.0\\.1:${port}: the port is in use by pid ${process.pid} \\([^)]*node[^)]*\\); stop it or choose another port\\n$`,
      ),
    );
    assert.deepEqual(startedInstances(stdout), []);
  });

  it('balancer.listen: refused before any instance starts (it started them, then failed)', async (t) => {
    const port = await hold(t);
    const { code, stdout, stderr } = await runCli(['up', '-c', await config(0, port)]);
    assert.equal(code, 1, stdout);
    assert.match(
      stderr,
      new RegExp(
        `^scaleplane: balancer\\.listen 127\\.0\\.0\\.1:${port}: the port is in use by pid ${process.pid} \\(`,
      ),
    );
    assert.deepEqual(startedInstances(stdout), []);
  });
});

/**
 * CONNECT_LOOP connects to 127.0.0.1:argv[1] back to back from 8 clients until stdin closes (at most
 * 30 s), and prints how many connects were refused and how many accepted.
 */
const CONNECT_LOOP = `
const { connect } = require('node:net');
const port = Number(process.argv[1]);
const outcomes = { refused: 0, accepted: 0 };
let stop = false;
const limit = setTimeout(() => { stop = true; }, 30000);
process.stdin.on('end', () => { stop = true; clearTimeout(limit); }).resume();
const attempt = () => new Promise((resolve) => {
  const socket = connect(port, '127.0.0.1');
  socket.once('connect', () => { outcomes.accepted++; socket.destroy(); resolve(); });
  socket.once('error', () => { outcomes.refused++; resolve(); });
});
const client = async () => { while (!stop) await attempt(); };
process.stdout.write('connecting\\n');
Promise.all(Array.from({ length: 8 }, client)).then(() => console.log(JSON.stringify(outcomes)));
`;

describe('ensurePortFree', () => {
  it('checks a free port without listening on it: clients retrying the port are refused, never reset', async () => {
    // A controller restarted under load: clients keep connecting to the balancer's port, refused
    // while nothing listens. The check used to listen for a moment, which accepted some of them,
    // then reset them on closing (ha-restart-load: an ECONNRESET 2.3 s after the old one died).
    // The clients are another process, as they are: this one's event loop does not run between
    // the check's listen and its close.
    const port = await freePort();
    const clients = spawn(process.execPath, ['-e', CONNECT_LOOP, String(port)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    clients.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    const exited = once(clients, 'exit');
    await once(clients.stdout, 'data'); // connecting
    for (let i = 0; i < 200; i++) await ensurePortFree('balancer.listen', { host: '127.0.0.1', port });
    clients.stdin.end();
    await exited;
    const outcomes = JSON.parse(out.trim().split('\n').at(-1)!) as { refused: number; accepted: number };
    assert.ok(outcomes.refused > 0, `the clients ran: ${out}`);
    assert.equal(outcomes.accepted, 0, `connects accepted during the checks: ${out}`);
  });

  it('still finds a port that is taken, naming the key', async (t) => {
    const port = await hold(t);
    await assert.rejects(ensurePortFree('balancer.listen', { host: '127.0.0.1', port }), {
      code: 'SCALEPLANE_PORT_IN_USE',
      message: new RegExp(
        `^balancer\\.listen 127\\.0\\.0\\.1:${port}: the port is in use by pid ${process.pid} `,
      ),
    });
  });
});

describe('listenerInodes', () => {
  // A /proc/net/tcp excerpt: 127.0.0.1:8080 listening (inode 111), a connection from port 8080
  // (not a listener), 0.0.0.0:9090 listening (222), a TIME_WAIT without an inode.
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1',
    '   2: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0',
    '   3: 0100007F:2382 0100007F:C351 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0',
    '',
  ].join('\n');
  const cases: [number, string[]][] = [
    [8080, ['111']],
    [9090, ['222']],
    [50000, []],
  ];
  for (const [port, want] of cases) {
    it(`port ${port}`, () => assert.deepEqual(listenerInodes(table, port), want));
  }
  it('an IPv6 table (tcp6)', () => {
    const tcp6 =
      'sl local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode\n' +
      '0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 444 1 0 100 0 0 10 0\n';
    assert.deepEqual(listenerInodes(tcp6, 8080), ['444']);
  });
});

describe('portInUseMessage', () => {
  it('names the key, the address and the holder when known', () => {
    const address = { host: '::1', port: 8080 };
    assert.equal(
      portInUseMessage('balancer.listen', address, { pid: 42, command: 'nginx: master process' }),
      'balancer.listen [::1]:8080: the port is in use by pid 42 (nginx: master process); stop it or choose another port',
    );
    assert.equal(
      portInUseMessage('api.listen', address, undefined),
      'api.listen [::1]:8080: the port is in use; stop it or choose another port',
    );
  });
});
