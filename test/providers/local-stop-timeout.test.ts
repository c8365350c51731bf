import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { createProvider, type LocalProvider } from '../../src/providers/index.js';
import { APP, waitGone } from './local-helpers.js';

describe('local provider: stop_timeout', () => {
  it('0s, which the config accepts, starts the group; a stop SIGKILLs an instance ignoring SIGTERM', async (t) => {
    const yaml = [
      'groups:',
      '  web:',
      `    command: '"${process.execPath}" "${APP}"'`,
      '    env: { IGNORE_SIGTERM: "1" }',
      '    stop_timeout: 0s',
      '    min_instances: 1',
    ].join('\n');
    const config = parseConfig(yaml, { baseDir: process.cwd() });
    const group = config.groups.web!;
    assert.equal(group.provider.provider === 'local' && group.provider.stopTimeout, 0);
    const provider = createProvider(group) as LocalProvider;
    t.after(() => provider.close());
    await provider.scaleTo(1);
    const pid = provider.instances()[0]?.pid;
    assert.ok(pid !== undefined, 'a started instance has a pid');
    await provider.scaleTo(0);
    assert.deepEqual(await waitGone([pid], 0), [], `pid ${pid} survived the stop`);
  });
});
