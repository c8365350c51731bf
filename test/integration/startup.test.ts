import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { tokenFilePath } from '../../src/api/index.js';
import { Scaleplane, StartupError } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { DEMO_DIR } from '../helpers/scaleplane.js';

describe('secure by default', () => {
  it('refuses an API beyond loopback without a token, and says how to set one', async () => {
    const config = parseConfig(
      `api: { listen: 0.0.0.0:0 }\nbalancer: { listen: 127.0.0.1:0 }\ngroups: { web: { command: node server.js } }\n`,
      { baseDir: DEMO_DIR },
    );
    await assert.rejects(
      Scaleplane.start({ config, logger: createLogger({ level: 'silent', pretty: false }), env: {} }),
      (err: unknown) => err instanceof StartupError && /SCALEPLANE_API_KEY/.test(err.message),
    );
  });

  it('refuses an API beyond loopback whose environment token is shorter than 16 characters', async () => {
    const config = parseConfig(
      `api: { listen: 0.0.0.0:0 }\nbalancer: { listen: 127.0.0.1:0 }\ngroups: { web: { command: node server.js } }\n`,
      { baseDir: DEMO_DIR },
    );
    await assert.rejects(
      Scaleplane.start({
        config,
        logger: createLogger({ level: 'silent', pretty: false }),
        env: { SCALEPLANE_API_KEY: 'secret' },
      }),
      (err: unknown) => err instanceof StartupError && /6 characters: use at least 16/.test(err.message),
    );
  });

  it('a generated token goes to a 0600 file, never into the log (debug level)', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const config = parseConfig(
      `api: { listen: 127.0.0.1:0 }\nbalancer: { listen: 127.0.0.1:0 }\n` +
        `groups: { web: { command: node server.js, cwd: ${DEMO_DIR} } }\n`,
      { baseDir: DEMO_DIR },
    );
    const app = await Scaleplane.start({
      config,
      logger: pino({ level: 'debug', base: undefined }, sink),
      env: {},
    });
    try {
      assert.equal(app.tokenGenerated, true);
      const path = tokenFilePath(app.apiAddress!.port);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await readFile(path, 'utf8')).trim(), app.token);
      assert.ok(
        lines.some((line) => line.includes(path)),
        'the log says where the token is',
      );
      assert.equal(lines.filter((line) => line.includes(app.token!)).length, 0, 'the token is not logged');
    } finally {
      await app.close();
    }
  });
});

describe('api.token_file', () => {
  it('loads named tokens relative to the config file; no token is generated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-tokens-'));
    await writeFile(
      join(dir, 'tokens'),
      'grafana read read-token-0123456789\nops admin admin-token-0123456789\n',
    );
    const config = parseConfig(
      `api: { listen: 127.0.0.1:0, token_file: tokens }\nbalancer: { listen: 127.0.0.1:0 }\n` +
        `groups: { web: { command: node server.js, cwd: ${DEMO_DIR} } }\n`,
      { baseDir: dir },
    );
    const app = await Scaleplane.start({
      config,
      logger: createLogger({ level: 'silent', pretty: false }),
      env: {},
    });
    try {
      assert.equal(app.tokenGenerated, false);
      const url = `http://127.0.0.1:${app.apiAddress!.port}/api/scalability/groups/web`;
      const read = await fetch(url, { headers: { authorization: 'Bearer read-token-0123456789' } });
      assert.equal(read.status, 200);
      const none = await fetch(url);
      assert.equal(none.status, 401);
    } finally {
      await app.close();
    }
  });

  it('a token file other users may read or write is named in a warning at start, with its mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-tokens-'));
    const tokens = join(dir, 'tokens');
    const envFile = join(dir, 'api-key');
    await writeFile(tokens, 'ops admin admin-token-0123456789\n');
    await writeFile(envFile, 'env-admin-token-0123456789\n');
    const start = async (tokensMode: number, envMode: number) => {
      await chmod(tokens, tokensMode);
      await chmod(envFile, envMode);
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      });
      const config = parseConfig(
        `api: { listen: 127.0.0.1:0, token_file: tokens }\nbalancer: { listen: 127.0.0.1:0 }\n` +
          `groups: { web: { command: node server.js, cwd: ${DEMO_DIR} } }\n`,
        { baseDir: dir },
      );
      const app = await Scaleplane.start({
        config,
        logger: pino({ level: 'warn', base: undefined }, sink),
        env: { SCALEPLANE_API_KEY_FILE: envFile },
      });
      await app.close();
      return lines
        .map((line) => JSON.parse(line).msg as string)
        .filter((msg) => msg.includes('holds API tokens'));
    };
    // Before: started without a word, the admin tokens readable by every local user.
    assert.deepEqual(await start(0o644, 0o640), [
      `api.token_file ${tokens} holds API tokens and is open to every local user (mode 644): chmod 600 it (a Kubernetes secret volume: defaultMode: 0400)`,
    ]);
    assert.deepEqual(await start(0o600, 0o620), [
      `$SCALEPLANE_API_KEY_FILE ${envFile} holds API tokens and is writable by its group (mode 620): chmod 600 it (a Kubernetes secret volume: defaultMode: 0400)`,
    ]);
    assert.deepEqual(await start(0o600, 0o440), [], 'owner and a group reading: no warning');
  });

  it('a bad token file stops startup and names the line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-tokens-'));
    await writeFile(join(dir, 'tokens'), 'grafana reader read-token-0123456789\n');
    const config = parseConfig(`api: { token_file: tokens }\ngroups: { web: { command: x } }\n`, {
      baseDir: dir,
    });
    await assert.rejects(
      Scaleplane.start({ config, logger: createLogger({ level: 'silent', pretty: false }), env: {} }),
      /tokens \(line 1\): role must be read or admin/,
    );
  });

  it('a token on two lines stops startup, naming both lines and not the token', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-tokens-'));
    const token = 'admin-token-0123456789';
    await writeFile(join(dir, 'tokens'), `ops admin ${token}\nci read ${token}\n`);
    const config = parseConfig(`api: { token_file: tokens }\ngroups: { web: { command: x } }\n`, {
      baseDir: dir,
    });
    await assert.rejects(
      Scaleplane.start({ config, logger: createLogger({ level: 'silent', pretty: false }), env: {} }).then(
        // Started anyway (the defect): close it, so the test fails rather than hangs.
        async (app) => {
          await app.close();
          return app;
        },
      ),
      (err: Error) =>
        /tokens \(line 2\): duplicate token \(the token of line 1\)/.test(err.message) &&
        !err.message.includes(token),
    );
  });
});
