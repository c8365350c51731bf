// The token file `scaleplane up` leaves is per API port; `--api https://localhost` reaches port 443,
// and the CLI and `scaleplane mcp` looked it up for port 80 (an API that is not it), so such a
// call went without the token: 401.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { API_KEY_ENV, API_KEY_FILE_ENV } from '../../src/api/auth.js';
import { apiPort, tokenFilePath, writeTokenFile } from '../../src/api/token-file.js';
import { ApiClient } from '../../src/cli/client.js';

describe('the token file of a local API without a port in its URL', () => {
  it('is the one of the scheme’s port: 443 for https, 80 for http', async (t) => {
    // A temp folder of this test's own: the token files live in tmpdir(), read at each call.
    const dir = await mkdtemp(join(tmpdir(), 'token-https-'));
    const saved = {
      TMPDIR: process.env.TMPDIR,
      ...Object.fromEntries([...API_KEY_ENV, API_KEY_FILE_ENV].map((k) => [k, process.env[k]])),
    };
    process.env.TMPDIR = dir;
    for (const name of [...API_KEY_ENV, API_KEY_FILE_ENV]) delete process.env[name];
    t.after(async () => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await rm(dir, { recursive: true, force: true });
    });
    assert.equal(tmpdir(), dir, 'tmpdir() follows TMPDIR');
    await writeTokenFile(443, 'token-of-443');
    await writeTokenFile(80, 'token-of-80');

    const https = await ApiClient.connect('https://localhost', undefined, () => {});
    assert.equal(https.token, 'token-of-443');
    assert.equal(https.tokenSource, tokenFilePath(443));
    const http = await ApiClient.connect('http://localhost', undefined, () => {});
    assert.equal(http.token, 'token-of-80');
    assert.equal(apiPort(new URL('https://127.0.0.1:8443/')), 8443);
  });
});
