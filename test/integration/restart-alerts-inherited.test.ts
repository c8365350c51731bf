// A single controller with a file state store, restarted while its group's crash-loop alert fires:
// the new process resolves at the receiver what the old one left open, once its group is healthy.
// Before, the restarted controller had never seen the alert fire, so the receiver showed the group
// crash-looping for good.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { alertKeys } from '../../src/alerts/index.js';
import type { Scaleplane } from '../../src/app.js';
import { startReceiver } from '../alerts/receiver.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const APP = resolve(import.meta.dirname, '../fixtures/provider-app.mjs');

describe('an alert left open by a controller that restarted (file state)', () => {
  const apps: Scaleplane[] = [];
  let dir = '';
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await receiver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the restarted controller resolves crash-loop once its group is healthy', async () => {
    receiver = await startReceiver();
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-restart-alerts-'));
    const flag = join(dir, 'fixed');
    const statePath = join(dir, 'state.json');
    const yaml = `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
controller:
  state: { backend: file, path: "${statePath}" }
alerts:
  sinks:
    - webhook: { url: "${receiver.url}", retries: 0 }
groups:
  web:
    command: test -e "${flag}" || exit 1; exec "${process.execPath}" "${APP}"
    min_instances: 1
    max_instances: 1
    crash_loop: { limit: 2, window: 60s }
`;
    const key = alertKeys.crashLoop('web');
    const statuses = () =>
      receiver!
        .json()
        .filter((b) => b.key === key)
        .map((b) => b.status);
    const first = await startInProcess(yaml, dir);
    apps.push(first);
    await until(() => statuses().includes('firing'), 30_000, `${key} sent`);
    await until(
      async () => key in (JSON.parse(await readFile(statePath, 'utf8')).alerts ?? {}),
      10_000,
      `${key} kept in the state file`,
    );
    // The process goes while the alert fires (closing sends no resolve); the command is fixed.
    await first.close();
    await writeFile(flag, '');

    const second = await startInProcess(yaml, dir);
    apps.push(second);
    await settled(second, 'web', 1, 30_000);
    await until(() => statuses().includes('resolved'), 10_000, `${key} resolved by the restarted controller`);
    await second.alerts.flush();
    assert.deepEqual(statuses(), ['firing', 'resolved']);
    const kept = JSON.parse(await readFile(statePath, 'utf8')).alerts ?? {};
    await until(
      async () => !(key in (JSON.parse(await readFile(statePath, 'utf8')).alerts ?? {})),
      10_000,
      `${key} removed from the state file (kept: ${JSON.stringify(Object.keys(kept))})`,
    );
  });
});
