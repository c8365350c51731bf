// A reload refused for an alert sink's missing secret names the sink and its line, as a schema
// error does: with several sinks, "alerts.sinks" alone did not say which one to fix.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { Scaleplane } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';

const yaml = (alerts: string) => `api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
groups:
  web: { command: node server.js, cwd: ${DEMO_DIR}, min_instances: 1, max_instances: 3 }
${alerts}`;

const SINKS = `alerts:
  sinks:
    - webhook: { url: 'http://127.0.0.1:9/hook' }
    - slack: { url_env: RELOAD_SINK_ERROR_NO_SUCH_VAR }
`;

describe('a reload refused by an alert sink', () => {
  it('names the sink (alerts.sinks.1) and its line, and changes nothing', async (t) => {
    const path = await writeTempConfig(yaml(''));
    const app = await Scaleplane.start({
      config: await loadConfig(path),
      logger: createLogger({ level: 'silent' }),
      env: { SCALEPLANE_API_KEY: 'reload-sink-error-token' },
    });
    t.after(() => app.close());
    await writeFile(path, yaml(SINKS).replace('max_instances: 3', 'max_instances: 5'));
    const err = await app.reload('test').then(
      () => assert.fail('a reload with a sink missing its secret is refused'),
      (e: Error) => e,
    );
    // The slack sink is the second one, on line 8 of the file.
    assert.match(
      err.message,
      /alerts\.sinks\.1 \(line 8\): slack needs a URL in \$RELOAD_SINK_ERROR_NO_SUCH_VAR$/m,
      `the error names the sink and line: ${err.message}`,
    );
    assert.equal(app.config.groups.web?.maxInstances, 3, 'the running config is unchanged');
    assert.equal(app.alerts.sinks.length, 0, 'no sink was added');
  });
});
