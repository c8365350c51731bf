import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instanceEnv } from '../../src/providers/local/env.js';
import { makeProvider, recordingLogger } from './local-helpers.js';

// Prints the instance's view of the variables, then stays up as a worker.
const PRINT =
  'echo "api=[$SCALEPLANE_API_KEY] service=[$SERVICE_API_KEY] keep=[$KEEP_ME] port=[$PORT]"; exec sleep 30';

describe('local provider: the environment an instance gets', () => {
  it("does not hand Scaleplane's API token to the app; the rest of the environment and the group's env pass", async (t) => {
    const saved = { api: process.env.SCALEPLANE_API_KEY, service: process.env.SERVICE_API_KEY };
    process.env.SCALEPLANE_API_KEY = 'admin-token-of-the-controller-1';
    process.env.SERVICE_API_KEY = 'admin-token-of-the-controller-2';
    process.env.KEEP_ME = 'inherited';
    t.after(() => {
      for (const [name, value] of [
        ['SCALEPLANE_API_KEY', saved.api],
        ['SERVICE_API_KEY', saved.service],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      delete process.env.KEEP_ME;
    });
    let printed!: (line: string) => void;
    const line = new Promise<string>((resolve) => {
      printed = resolve;
    });
    const logger = recordingLogger((l) => {
      if (l.msg.startsWith('api=')) printed(l.msg);
    });
    const provider = makeProvider(t, { command: PRINT }, { healthPath: '', logger });
    await provider.scaleTo(1);
    const port = provider.instances()[0]?.address.split(':')[1];
    assert.equal(await line, `api=[] service=[] keep=[inherited] port=[${port}]`);
  });

  it("passes a token variable the group's env names on purpose", () => {
    const env = instanceEnv(
      { PATH: '/bin', SCALEPLANE_API_KEY: 'ours', SERVICE_API_KEY: 'ours too' },
      { SERVICE_API_KEY: 'the app’s own' },
      'PORT',
      4242,
    );
    assert.deepEqual(env, { PATH: '/bin', SERVICE_API_KEY: 'the app’s own', PORT: '4242' });
  });
  it('tells the instance its stop timeout (SCALEPLANE_STOP_TIMEOUT_MS), unless the group sets it', () => {
    assert.equal(instanceEnv({}, {}, 'PORT', 4242, 10_000).SCALEPLANE_STOP_TIMEOUT_MS, '10000');
    assert.equal(
      instanceEnv({}, { SCALEPLANE_STOP_TIMEOUT_MS: '5000' }, 'PORT', 4242, 10_000)
        .SCALEPLANE_STOP_TIMEOUT_MS,
      '5000',
      "the group's env wins",
    );
  });
});
