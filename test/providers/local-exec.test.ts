// An instance's pid (what `scaleplane status` shows) is its app's, the process a user would `kill`
// or find in `top`, when its command is one simple command: the shell execs it. Before, it was
// the `/bin/sh -c` wrapper's, idling at 0 % CPU, on every instance: dash runs even a lone command
// as its child, and the cgroup prefix makes every command a list.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { execForm } from '../../src/providers/local/exec-form.js';
import { APP, makeProvider } from './local-helpers.js';

/** argv of a running process, from /proc. */
const argv = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

describe('execForm (pure)', () => {
  const cases: Array<[string, string]> = [
    ['node server.js', 'exec node server.js'],
    ['"/usr/bin/node" "/srv/app.mjs" --port $PORT', 'exec "/usr/bin/node" "/srv/app.mjs" --port $PORT'],
    ['  python3 -m http.server  ', 'exec python3 -m http.server'],
    ['node server.js >> /var/log/app.log 2>&1', 'exec node server.js >> /var/log/app.log 2>&1'],
    // Operators inside quotes are the program's arguments.
    ['node -e "a(); b() || c()"', 'exec node -e "a(); b() || c()"'],
    ["sh -c 'a; b'", "exec sh -c 'a; b'"],
    ['echo a\\;b', 'exec echo a\\;b'],
    // Lists, pipelines, background, subshells keep their shell.
    ['cd app && node server.js', 'cd app && node server.js'],
    ['node a.js; node b.js', 'node a.js; node b.js'],
    ['node server.js | tee log', 'node server.js | tee log'],
    ['node server.js &', 'node server.js &'],
    ['(node server.js)', '(node server.js)'],
    ['node $(cat args)', 'node $(cat args)'],
    ['node a.js\nnode b.js', 'node a.js\nnode b.js'],
    // A leading assignment, keyword or builtin is not a program exec could run.
    ['PORT=1 node server.js', 'PORT=1 node server.js'],
    ['exec node server.js', 'exec node server.js'],
    ['if true; then node s.js; fi', 'if true; then node s.js; fi'],
    ['ulimit -n 4096', 'ulimit -n 4096'],
    ['>log node server.js', '>log node server.js'],
    ['node "unclosed', 'node "unclosed'],
    ['node server.js &>log', 'node server.js &>log'],
  ];
  for (const [command, want] of cases) {
    it(JSON.stringify(command), () => assert.equal(execForm(command), want));
  }
});

describe('local provider: the pid is the app’s', () => {
  it('a simple command: the instance pid runs the app itself, not sh', async (t) => {
    const provider = makeProvider(t);
    await provider.scaleTo(1);
    const [instance] = provider.instances();
    const args = argv(instance!.pid!);
    assert.deepEqual(args, [process.execPath, APP], `pid ${instance!.pid} runs ${JSON.stringify(args)}`);
  });

  it('a list keeps its shell, and still starts and stops', async (t) => {
    const provider = makeProvider(t, { command: `true && "${process.execPath}" "${APP}"` });
    await provider.scaleTo(1);
    const [instance] = provider.instances();
    assert.equal(argv(instance!.pid!)[0], '/bin/sh', 'the shell leads a list');
    await provider.scaleTo(0);
    assert.equal(provider.instances().length, 0, 'stopped');
  });
});
