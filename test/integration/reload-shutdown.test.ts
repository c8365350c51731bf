// A config reload that meets a shutdown: the stop wins, as NGINX ignores a reload once it is
// quitting. The reload is refused (nothing changed, the error says why) and scales nothing.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { Scaleplane } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';

const yaml = (min: number) => `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
controller: { interval: 1s }
groups:
  web: { command: node server.js, cwd: ${DEMO_DIR}, min_instances: ${min}, max_instances: 5 }
`;

describe('a config reload during shutdown', () => {
  it('is refused and starts no instance once close() began', async () => {
    const path = await writeTempConfig(yaml(1));
    const app = await Scaleplane.start({
      config: await loadConfig(path),
      logger: createLogger({ level: 'silent' }),
      env: { SCALEPLANE_API_KEY: 'reload-shutdown-token' },
    });
    const provider = app.providers.get('web')!;
    const scaled: number[] = [];
    const scaleTo = provider.scaleTo.bind(provider);
    provider.scaleTo = (n: number) => {
      scaled.push(n);
      return scaleTo(n);
    };
    // min_instances 1 → 3: applied, this reload would scale out to 3.
    await writeFile(path, yaml(3));
    // The reload is asked first (SIGHUP arriving just before SIGTERM); it reads the file while
    // close() begins, so it would apply to a controller that is already stopping.
    const reload = app.reload('test');
    const closed = app.close();
    await assert.rejects(reload, /shutting down/, 'a reload that meets a shutdown is refused, naming why');
    await closed;
    assert.deepEqual(scaled, [], 'no scaleTo during shutdown');
    assert.deepEqual(provider.instances(), [], 'no instance left running after close()');
  });
});
