// The CLI's default API (127.0.0.1:9090) refused while a Scaleplane of this user runs with its API
// elsewhere (api.listen, as the README's own example moves it): the error names the port that
// Scaleplane left its token file for. Before: `connect ECONNREFUSED 127.0.0.1:9090` and nothing else.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { otherApiHint } from '../../src/cli/client.js';
import { runCli } from '../helpers/cli-process.js';
import { closedPort } from '../helpers/ports.js';

/** refuses says whether a connection to 127.0.0.1:port is refused (nothing listens there). */
function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

const TOKEN_PORT = 19191;
const defaultFree = (await refuses(9090)) ? false : 'something listens on 127.0.0.1:9090, the default --api';

describe('CLI: the default API refused, another port has a token file of ours', () => {
  /** env gives the CLI a temp folder of its own holding a token file for TOKEN_PORT (or none). */
  function env(t: { after: (fn: () => void) => void }, withToken = true): NodeJS.ProcessEnv {
    const dir = mkdtempSync(join(tmpdir(), 'api-hint-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    if (withToken)
      writeFileSync(join(dir, `scaleplane-api-${TOKEN_PORT}.token`), 'x'.repeat(32), { mode: 0o600 });
    return { TMPDIR: dir, SCALEPLANE_API_KEY: '', SCALEPLANE_API_KEY_FILE: '', SERVICE_API_KEY: '' };
  }

  it('no --api: the error names that port', { skip: defaultFree }, async (t) => {
    const { code, stderr } = await runCli(['status'], env(t));
    assert.equal(code, 1);
    assert.equal(
      stderr,
      `scaleplane: cannot reach the control API at http://127.0.0.1:9090: connect ECONNREFUSED 127.0.0.1:9090; a Scaleplane of yours left its API token for port ${TOKEN_PORT} on this machine: try --api http://127.0.0.1:${TOKEN_PORT}\n`,
    );
  });

  it('no --api, no token file: the error alone', { skip: defaultFree }, async (t) => {
    const { stderr } = await runCli(['status'], env(t, false));
    assert.equal(
      stderr,
      'scaleplane: cannot reach the control API at http://127.0.0.1:9090: connect ECONNREFUSED 127.0.0.1:9090\n',
    );
  });

  it('--api given: the error alone (the user chose it)', async (t) => {
    const port = await closedPort();
    const { code, stderr } = await runCli(
      ['scale', 'web', '+1', '--api', `http://127.0.0.1:${port}`],
      env(t),
    );
    assert.equal(code, 1);
    assert.equal(
      stderr,
      `scaleplane: cannot reach the control API at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });

  it('otherApiHint (pure)', () => {
    const url = new URL('http://127.0.0.1:9090');
    assert.equal(otherApiHint(url, []), undefined);
    assert.equal(otherApiHint(url, [9090]), undefined);
    assert.match(
      otherApiHint(url, [9090, 19191]) ?? '',
      /for port 19191 on this machine: try --api http:\/\/127\.0\.0\.1:19191$/,
    );
    assert.match(
      otherApiHint(url, [29292, 19191, 19191]) ?? '',
      /for ports 19191, 29292 on this machine: try --api http:\/\/127\.0\.0\.1:19191 \(or another of them\)$/,
    );
  });
});
