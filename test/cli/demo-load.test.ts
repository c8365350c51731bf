// examples/demo/load.js, the quick start's load generator: a bad flag is one line and exit 2 (it
// used to be a stack trace, or for a typo in a number no client at all and "done: ok 0").
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { runNode } from '../helpers/cli-process.js';

const runLoad = (args: string[]) => runNode(['examples/demo/load.js', ...args]);

describe('examples/demo/load.js', () => {
  const refusals: [args: string[], first: RegExp][] = [
    [['--duration', 'abc'], /^--duration: expected seconds > 0, got "abc"$/],
    [
      ['--concurrency', 'eight'],
      /^--concurrency: expected a whole number of clients, at least 1, got "eight"$/,
    ],
    [['--concurrency', '0'], /^--concurrency: /],
    [['--url', 'not a url'], /^--url: not a URL: not a url$/],
    [['--bogus'], /^Unknown option '--bogus'/],
    [['--url', 'http://example.com/'], /^refusing to send load to example\.com/],
  ];
  for (const [args, first] of refusals) {
    it(`${args.join(' ')}: one line, exit 2, no load`, async () => {
      const { code, stdout, stderr } = await runLoad(args);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr.split('\n')[0]!, first);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('--help prints the usage', async () => {
    const { code, stdout } = await runLoad(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^usage: node examples\/demo\/load\.js /);
  });

  it('sends load to a loopback server and counts the answers', async (t) => {
    let served = 0;
    const server = createServer((_req, res) => {
      served++;
      res.end('ok');
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/`;
    const { code, stdout } = await runLoad(['--url', url, '--concurrency', '2', '--duration', '0.5']);
    assert.equal(code, 0);
    const done = /done: ok (\d+) {2}failed (\d+)/.exec(stdout);
    assert.ok(done, stdout);
    assert.equal(Number(done[2]), 0);
    assert.equal(Number(done[1]), served);
    assert.ok(served > 0, 'served > 0');
  });
});
