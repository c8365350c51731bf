import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runShell } from '../../src/balancer/nginx/index.js';
import {
  configureArgument,
  discoverPidFile,
  nginxOption,
  pidDirective,
  shellWords,
  signalAsFlag,
  signaledPidFile,
  withFlag,
} from '../../src/balancer/nginx/pid-file.js';
import { NGINX } from '../helpers/nginx.js';

describe('nginx pid file discovery: parsing', () => {
  it('withFlag turns the -t of a test command into -T or -V, or says there is none', () => {
    const cases: [string, 'T' | 'V', string | undefined][] = [
      ['nginx -t', 'T', 'nginx -T'],
      [
        '/usr/sbin/nginx -t -q -c /etc/nginx/nginx.conf',
        'T',
        '/usr/sbin/nginx -T -q -c /etc/nginx/nginx.conf',
      ],
      ['sudo nginx -tq', 'V', 'sudo nginx -Vq'],
      ['nginx -qt -c /x/test.conf', 'T', 'nginx -qT -c /x/test.conf'],
      ['nginx -c /x/-t -t', 'T', 'nginx -c /x/-t -T'],
      ['test -f /x/ok', 'T', undefined],
      ['nginx -tc /x.conf', 'T', undefined],
      ['true', 'V', undefined],
    ];
    for (const [command, flag, want] of cases) assert.equal(withFlag(command, flag), want, command);
  });

  it('signalAsFlag turns the -s reload of a reload command into -T or -V, or says there is none', () => {
    const cases: [string, 'T' | 'V', string | undefined][] = [
      ['nginx -s reload', 'T', 'nginx -T'],
      [
        'sudo /usr/sbin/nginx -c /etc/nginx/nginx.conf -s reload',
        'V',
        'sudo /usr/sbin/nginx -c /etc/nginx/nginx.conf -V',
      ],
      ['nginx -q -sreload -p /srv', 'T', 'nginx -q -T -p /srv'],
      ['nginx -s stop', 'T', undefined],
      ['systemctl reload nginx', 'T', undefined],
      ['kill -HUP 1', 'V', undefined],
    ];
    for (const [command, flag, want] of cases) assert.equal(signalAsFlag(command, flag), want, command);
  });

  it('signaledPidFile reads the file a kill -HUP $(cat FILE) reload command signals, or says there is none', () => {
    const cases: [string, string | undefined][] = [
      ['kill -HUP $(cat /run/nginx.pid)', '/run/nginx.pid'],
      ['sudo /bin/kill -s HUP "$(cat /run/nginx.pid)"', '/run/nginx.pid'],
      ['kill -SIGHUP `cat /var/run/nginx.pid`', '/var/run/nginx.pid'],
      ['kill -1 $(< logs/nginx.pid)', '/srv/ng/logs/nginx.pid'],
      ['kill --signal HUP $(cat /run/nginx.pid)', '/run/nginx.pid'],
      ['kill -HUP $(cat /run/nginx.pid) && echo done', undefined],
      ['kill -TERM $(cat /run/nginx.pid)', undefined],
      ['kill -HUP $(cat "/run/my nginx.pid")', undefined],
      ['kill -HUP 1234', undefined],
      ['systemctl reload nginx', undefined],
      ['nginx -s reload', undefined],
    ];
    for (const [command, want] of cases) assert.equal(signaledPidFile(command, '/srv/ng'), want, command);
  });

  it('shellWords and nginxOption read -p and -g as sh and nginx do', () => {
    assert.deepEqual(shellWords(`nginx -t -g 'pid /run/a b.pid; daemon off;' -p"/srv/ng"\\ x`), [
      'nginx',
      '-t',
      '-g',
      'pid /run/a b.pid; daemon off;',
      '-p/srv/ng x',
    ]);
    const words = shellWords(`nginx -t -q -g "pid x.pid;" -p /srv/nginx`);
    assert.equal(nginxOption(words, 'g'), 'pid x.pid;');
    assert.equal(nginxOption(words, 'p'), '/srv/nginx');
    assert.equal(nginxOption(shellWords('nginx -qp/opt/n -t'), 'p'), '/opt/n');
    assert.equal(nginxOption(shellWords('nginx -t'), 'p'), undefined);
  });

  it('pidDirective finds the top-level pid, not one in a block or a comment, across a -T dump', () => {
    const cases: [string, string | undefined][] = [
      ['pid /run/nginx.pid;', '/run/nginx.pid'],
      ['worker_processes 2;\n  pid   "/run/my nginx.pid" ;\nevents {}', '/run/my nginx.pid'],
      ['# pid /no.pid;\nevents {}\n', undefined],
      ['http { map $a $b { pid 1; default 0; } }', undefined],
      ['http { map $a $b { default 0; } }\npid logs/n.pid;', 'logs/n.pid'],
      ['error_log /x#pid;\nuser nobody;', undefined],
      [
        '# configuration file /etc/nginx/nginx.conf:\nhttp {\n include /etc/nginx/conf.d/*.conf;\n}\n\n' +
          '# configuration file /etc/nginx/conf.d/a.conf:\nmap $x $y { pid 2; }\n\n' +
          '# configuration file /etc/nginx/modules-enabled/pid.conf:\npid /run/from-include.pid;\n',
        '/run/from-include.pid',
      ],
      ['', undefined],
    ];
    for (const [text, want] of cases) assert.equal(pidDirective(text), want, text);
  });

  it('configureArgument reads --pid-path and --prefix from nginx -V', () => {
    const v =
      'nginx version: nginx/1.22.1\nconfigure arguments: --with-cc-opt=-O2 --prefix=/usr/share/nginx --http-client-body-temp-path=/var/lib/nginx/body --pid-path=/run/nginx.pid';
    assert.equal(configureArgument(v, 'pid-path'), '/run/nginx.pid');
    assert.equal(configureArgument(v, 'prefix'), '/usr/share/nginx');
    assert.equal(configureArgument('configure arguments: --with-debug', 'pid-path'), undefined);
  });
});

describe('nginx pid file discovery with the real nginx binary', {
  skip: NGINX === undefined && 'nginx not installed',
}, () => {
  /** conf writes an nginx.conf with `head` on top into a fresh folder. */
  async function conf(head: string): Promise<{ dir: string; file: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-pid-'));
    const file = join(dir, 'nginx.conf');
    await writeFile(file, `${head}error_log ${dir}/error.log;\nevents { worker_connections 16; }\n`);
    return { dir, file };
  }

  it('from the pid directive (nginx -T), absolute or under -p; from -g; else --pid-path of nginx -V', async (t) => {
    const absolute = await conf('');
    await writeFile(absolute.file, `pid ${absolute.dir}/here.pid;\n`, { flag: 'a' });
    const relative = await conf('pid run/rel.pid;\n');
    // nginx -t opens the pid file (to see that it could write it), so its folder must exist.
    await mkdir(join(relative.dir, 'run'));
    const none = await conf('');
    t.after(() =>
      Promise.all([absolute, relative, none].map((c) => rm(c.dir, { recursive: true, force: true }))),
    );
    const ran: string[] = [];
    const run = (command: string) => {
      ran.push(command.replace(/^\S+ /, 'nginx '));
      return runShell(command);
    };

    assert.deepEqual(await discoverPidFile(`${NGINX} -t -q -c ${absolute.file}`, run), {
      pidFile: join(absolute.dir, 'here.pid'),
      source: `the pid directive in ${NGINX} -T -q -c ${absolute.file}`,
    });
    assert.deepEqual(ran, [`nginx -T -q -c ${absolute.file}`], 'absolute: no nginx -V');

    const rel = await discoverPidFile(`${NGINX} -t -q -p ${relative.dir} -c ${relative.file}`, run);
    assert.equal(rel.pidFile, join(relative.dir, 'run/rel.pid'));

    const g = await discoverPidFile(`${NGINX} -t -q -c ${none.file} -g 'pid ${none.dir}/g.pid;'`, run);
    assert.equal(g.pidFile, `${none.dir}/g.pid`);

    // No pid directive: nginx -T would open the compiled-in pid file (/run/nginx.pid here) to see
    // that it could write it, creating it as root; its dump is made up, nginx -V is the real one.
    const compiled = configureArgument((await runShell(`${NGINX} -V`))?.stderr ?? '', 'pid-path');
    const fallback = await discoverPidFile(`${NGINX} -t -q -c ${none.file}`, (command) =>
      / -T /.test(command)
        ? Promise.resolve({ stdout: `# configuration file ${none.file}:\nevents {}\n`, stderr: '' })
        : run(command),
    );
    if (compiled?.startsWith('/')) assert.equal(fallback.pidFile, compiled);
    else assert.ok(fallback.pidFile?.endsWith(compiled ?? 'logs/nginx.pid'), JSON.stringify(fallback));
    assert.match(
      (fallback as { source: string }).source,
      /--pid-path in .* -V -q -c .* \(no pid directive\)|nginx's default/,
    );
  });

  it('a test_command with no -t (a wrapper script): from the reload command, its -s reload turned into -T', async (t) => {
    const absolute = await conf('');
    await writeFile(absolute.file, `pid ${absolute.dir}/here.pid;\n`, { flag: 'a' });
    t.after(() => rm(absolute.dir, { recursive: true, force: true }));
    const check = join(absolute.dir, 'check-nginx');
    await writeFile(check, `#!/bin/sh\nexec ${NGINX} -t -q -c ${absolute.file}\n`, { mode: 0o755 });
    assert.deepEqual(await discoverPidFile(check, runShell, `${NGINX} -c ${absolute.file} -s reload`), {
      pidFile: join(absolute.dir, 'here.pid'),
      source: `the pid directive in ${NGINX} -c ${absolute.file} -T`,
    });
  });

  it('no -t, or an nginx -T that fails: a reason, no pid file', async (t) => {
    const broken = await conf('this_is_not_a_directive on;\n');
    t.after(() => rm(broken.dir, { recursive: true, force: true }));
    assert.deepEqual(await discoverPidFile('test -f /x', runShell), {
      reason: 'test_command "test -f /x" has no -t to turn into -T (nginx -T prints the config)',
    });
    const failed = await discoverPidFile(`${NGINX} -t -q -c ${broken.file}`, runShell);
    assert.equal(failed.pidFile, undefined);
    assert.match(
      (failed as { reason: string }).reason,
      /-T -q -c .* failed: .*unknown directive "this_is_not_a_directive"/,
    );
    // A reload command that signals the pid in a file: that file, nothing asked (this runner fails).
    assert.deepEqual(
      await discoverPidFile(
        'test -f /x',
        async () => assert.fail('nothing to ask'),
        'kill -HUP $(cat /run/ng.pid)',
      ),
      { pidFile: '/run/ng.pid', source: 'the file reload_command "kill -HUP $(cat /run/ng.pid)" signals' },
    );
    // No -t, and a reload command without -s reload either: both named.
    assert.deepEqual(await discoverPidFile('test -f /x', runShell, 'systemctl reload nginx'), {
      reason:
        'test_command "test -f /x" has no -t to turn into -T (nginx -T prints the config), nor reload_command "systemctl reload nginx" a -s reload to turn into -T or a kill -HUP $(cat FILE)',
    });
    // A runner that prints nothing (as a test's fake does).
    assert.deepEqual(await discoverPidFile('nginx -t', async () => {}), {
      reason: 'nginx -T printed no configuration',
    });
  });
});
