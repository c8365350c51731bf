import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
});
