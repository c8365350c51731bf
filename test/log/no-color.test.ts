import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runNode } from '../helpers/cli-process.js';

// The human-readable log (`scaleplane up` on a terminal) in a child process, forced pretty since
// the test's stdout is a pipe: what it writes is what a terminal would get.
const PRETTY_LINE = [
  '--import',
  'tsx',
  '--input-type=module',
  '-e',
  "const { createLogger } = await import('./src/log/index.ts'); createLogger({ pretty: true }).info('hello');",
];
const ESCAPE = '\u001b[';

describe('pretty log colours (https://no-color.org)', () => {
  it('NO_COLOR set: no escape codes (it was coloured regardless)', async () => {
    const { code, stdout, stderr } = await runNode(PRETTY_LINE, { NO_COLOR: '1' });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /INFO: hello/);
    assert.ok(!stdout.includes(ESCAPE), JSON.stringify(stdout));
  });

  it('NO_COLOR unset or empty: coloured', async () => {
    for (const NO_COLOR of [undefined, '']) {
      const { code, stdout, stderr } = await runNode(PRETTY_LINE, { NO_COLOR });
      assert.equal(code, 0, stderr);
      assert.ok(stdout.includes(`${ESCAPE}32mINFO`), JSON.stringify(stdout));
    }
  });
});
