// Acceptance: a Scaleplane with `balancer.nginx` fires `nginx-sync` when the test command fails and
// resolves it once the driver's own retry succeeds, with no membership change in between. Real
// Scaleplane and instance; the test command is `test -f FLAG` (the real nginx runs in
// test/integration/balancer-nginx.test.ts), so creating the flag is "the cause is gone".
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { alertKeys } from '../../src/alerts/index.js';
import type { Scaleplane } from '../../src/app.js';
import type { NginxDriver, NginxRetry } from '../../src/balancer/index.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';
import { startReceiver } from './receiver.js';

const APP = resolve(import.meta.dirname, '../fixtures/provider-app.mjs');

describe('nginx-sync alert', () => {
  let app: Scaleplane | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  let dir: string | undefined;
  after(async () => {
    await app?.close();
    await receiver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fires while NGINX cannot take the upstreams, and resolves on the retry that succeeds', async () => {
    receiver = await startReceiver();
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-nginx-alert-'));
    const flag = join(dir, 'nginx-ok');
    const include = join(dir, 'upstreams.conf');
    app = await startInProcess(
      `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  nginx: { include_file: "${include}", test_command: 'test -f "${flag}"', reload_command: "true", debounce: 0s }
alerts:
  sinks:
    - webhook: { url: "${receiver.url}", retries: 2 }
groups:
  web:
    command: exec "${process.execPath}" "${APP}"
    min_instances: 1
    max_instances: 1
`,
      dir,
    );
    // Count membership changes handed to the driver, to show that none made it converge.
    const nginx = app.nginx!;
    let updates = 0;
    const update = nginx.update.bind(nginx);
    nginx.update = (group, instances) => {
      updates++;
      update(group, instances);
    };
    await settled(app, 'web', 1, 20_000);
    await receiver.waitFor(1, 20_000);
    const [firing] = receiver.json();
    assert.equal(firing!.key, alertKeys.nginxSync());
    assert.equal(firing!.status, 'firing');
    assert.match(String(firing!.summary), /NGINX_TEST_FAILED/);

    // Wait for a failed sync of the settled membership: a retry scheduled with no change since.
    const address = app.providers.get('web')!.instances()[0]!.address;
    let before = -1;
    while (before !== updates || !nginx.render().includes(address)) {
      before = updates;
      await nextRetry(nginx);
    }
    assert.notEqual(nginx.pendingRetry, undefined);
    await writeFile(flag, '');
    await receiver.waitFor(2, 20_000);
    assert.equal(updates, before, 'no membership change since the last failure');
    assert.deepEqual(
      receiver.json().map((a) => `${a.key} ${a.status}`),
      ['nginx-sync firing', 'nginx-sync resolved'],
    );
    assert.match(String(receiver.json()[1]!.summary), /in sync again/);
    assert.match(await readFile(include, 'utf8'), new RegExp(`server ${address.replace(/\./g, '\\.')}`));
  });
});

/** nextRetry resolves with the driver's next `retry` event. */
function nextRetry(driver: NginxDriver): Promise<NginxRetry> {
  return new Promise((resolve) => driver.once('retry', resolve));
}
