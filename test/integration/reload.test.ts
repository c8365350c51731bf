// Validated config reload: `POST /api/scalability/reload` (admin) and SIGHUP re-read the file; a good
// one changes max_instances at once, a bad one (YAML syntax, a bad value) is refused with the
// ConfigError naming the line, and the running config and process are untouched.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { alertKeys } from '../../src/alerts/index.js';
import { Scaleplane } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { UpProcess } from '../helpers/cli-process.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const ADMIN = 'reload-admin-0123456789';
const READ = 'reload-read-0123456789';

const yaml = (max: string, extra = '') => `
api: { listen: 127.0.0.1:0, token_file: tokens }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
controller: { interval: 1s }
groups:
  web:
    command: node server.js
    cwd: ${DEMO_DIR}
    min_instances: 1
    max_instances: ${max}
${extra}`;

describe('config reload on a running Scaleplane', () => {
  let app: Scaleplane;
  let path: string;
  let base: string;
  const call = async (route: string, token = ADMIN, method = 'GET') => {
    const res = await fetch(`${base}${route}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: string } };
  };
  const bounds = async () => {
    const { body } = await call('/api/scalability/groups/web');
    return [body.minInstances, body.maxInstances];
  };

  before(async () => {
    path = await writeTempConfig(yaml('3'));
    await writeFile(join(dirname(path), 'tokens'), `ops admin ${ADMIN}\ngrafana read ${READ}\n`);
    // ops' admin token pasted for ci: refused on reload, naming both lines, never the token.
    await writeFile(join(dirname(path), 'dup-tokens'), `ops admin ${ADMIN}\nci read ${ADMIN}\n`);
    app = await Scaleplane.start({
      config: await loadConfig(path),
      logger: createLogger({ level: 'silent' }),
      env: {},
    });
    base = `http://127.0.0.1:${app.apiAddress!.port}`;
  });
  after(() => app?.close());

  it('a read token cannot reload (403)', async () => {
    assert.equal((await call('/api/scalability/reload', READ, 'POST')).status, 403);
  });

  it('a good reload changes max_instances at once, journaled with who asked', async () => {
    assert.deepEqual(await bounds(), [1, 3]);
    await writeFile(path, yaml('6'));
    const res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.applied, ['groups.web.max_instances']);
    assert.deepEqual(res.body.needsRestart, []);
    assert.deepEqual(await bounds(), [1, 6]);
    const last = app.controller.journal.last('web')!;
    assert.equal(last.source, 'reload');
    assert.deepEqual(last.reasons, ['ConfigReload']);
    assert.match(last.message, /by ops .*groups\.web\.max_instances/);
    // The new bound is the one manual scaling is held to.
    const set = await fetch(`${base}/api/scalability/scale-group`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ group: 'web', action: 'set', instances: 5 }),
    });
    assert.equal(set.status, 200);
    const back = await fetch(`${base}/api/scalability/scale-group`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ group: 'web', action: 'set', instances: 1 }),
    });
    assert.equal(back.status, 200);
  });

  const bad: { name: string; text: (good: string) => string; error: RegExp }[] = [
    {
      name: 'a YAML syntax error',
      text: (good) => good.replace('max_instances: 6', 'max_instances: [6'),
      error: /invalid config .*:\nline \d+, column \d+: YAML syntax error/,
    },
    {
      name: 'a bad value',
      text: (good) => good.replace('max_instances: 6', 'max_instances: -2'),
      error: /groups\.web\.max_instances \(line 10\): must be >= 1/,
    },
    {
      name: 'a token file that does not parse',
      text: (good) => good.replace('token_file: tokens', 'token_file: missing-tokens'),
      error: /api\.token_file .*missing-tokens/,
    },
    {
      name: 'a token file with one token on two lines',
      text: (good) => good.replace('token_file: tokens', 'token_file: dup-tokens'),
      error: /dup-tokens \(line 2\): duplicate token \(the token of line 1\)/,
    },
  ];
  for (const b of bad) {
    it(`${b.name} is refused (400, naming the problem) and the running config is untouched`, async (t) => {
      const good = await readFile(path, 'utf8');
      const entries = app.controller.journal.entries({ limit: 1000 }).length;
      const before = app.config;
      await writeFile(path, b.text(good));
      t.after(() => writeFile(path, good));
      const res = await call('/api/scalability/reload', ADMIN, 'POST');
      assert.equal(res.status, 400);
      assert.match(res.body.error ?? '', b.error);
      assert.ok(!(res.body.error ?? '').includes(ADMIN), 'the token is not in the error');
      assert.deepEqual(await bounds(), [1, 6], 'GET group shows the old bounds');
      assert.equal(app.config, before, 'the running config object is the same');
      assert.equal(app.controller.journal.entries({ limit: 1000 }).length, entries, 'nothing journaled');
      // Still serving: the API with the old tokens, the balancer in front of the group.
      assert.equal((await call('/api/scalability/groups', READ)).status, 200);
      const served = await fetch(`http://127.0.0.1:${app.balancerAddress!.port}/`);
      assert.equal(served.status, 200);
    });
  }

  it('a reload that changes the metrics reads the new ones from the next decision, and drops the old sources', async (t) => {
    const scaling = (metric: string) => `    scaling:\n      metrics:\n        - ${metric}\n`;
    const metricsOf = async () => {
      const { body } = await call('/api/scalability/groups/web');
      return body.metrics as { name: string; average: number | null }[];
    };
    t.after(() => writeFile(path, yaml('6')));
    // A Prometheus nobody listens to: its source fails, an alert fires.
    await writeFile(
      path,
      yaml('6', scaling("prometheus: { url: 'http://127.0.0.1:1', query: up, target: 1 }")),
    );
    let res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual(res.body.applied, ['groups.web.scaling']);
    const failing = alertKeys.metricSource('web', 'prometheus');
    await until(() => app.alerts.isFiring(failing), 15_000, 'the unreachable Prometheus fires its alert');
    // Now the balancer's in-flight count: it has a value at once, so the next decision reads it.
    await writeFile(path, yaml('6', scaling('inflight: { target: 5 }')));
    res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual(res.body.applied, ['groups.web.scaling']);
    assert.equal(app.alerts.isFiring(failing), false, 'the replaced source no longer counts as failing');
    await until(
      async () => {
        const metrics = await metricsOf();
        return metrics.length === 1 && metrics[0]!.name === 'inflight' && metrics[0]!.average !== null;
      },
      15_000,
      'a decision read the inflight metric',
    );
    // Back to no scaling: nothing is read, nothing decided.
    await writeFile(path, yaml('6'));
    res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual(res.body.applied, ['groups.web.scaling']);
    assert.deepEqual(await metricsOf(), []);
  });

  // Keys added on 2026-11-29, each through a real reload: a provider setting and a balancer cache
  // setting need a restart (reported, running value kept); a Prometheus metric's url is part of
  // `scaling` and is read from the new address at once.
  it('log_lines_per_second and a cache hit_for_miss need a restart; a prometheus url applies live', async (t) => {
    t.after(() => writeFile(path, yaml('6')));
    await writeFile(path, yaml('6', '    log_lines_per_second: 5\n'));
    let res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual([res.body.applied, res.body.needsRestart], [[], ['groups.web.provider']]);
    const provider = app.config.groups.web!.provider as { logLinesPerSecond?: number };
    assert.equal(provider.logLinesPerSecond, 100, 'the running rate is kept');

    await writeFile(
      path,
      yaml('6').replace('interval: 500ms }', 'interval: 500ms }, cache: { hit_for_miss: 10s }'),
    );
    res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual([res.body.applied, res.body.needsRestart], [[], ['balancer']]);
    assert.equal(app.config.balancer.cache, undefined, 'the running balancer is kept');

    const prometheus = await startPrometheus([]);
    t.after(() => prometheus.close());
    const scaling = (url: string) =>
      `    scaling:\n      metrics:\n        - prometheus: { url: '${url}', query: 'vector(1)', target: 1 }\n`;
    await writeFile(path, yaml('6', scaling('http://127.0.0.1:1')));
    res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual([res.body.applied, res.body.needsRestart], [['groups.web.scaling'], []]);
    const failing = alertKeys.metricSource('web', 'prometheus');
    await until(() => app.alerts.isFiring(failing), 15_000, 'nothing listens at the first url');
    await writeFile(path, yaml('6', scaling(prometheus.url)));
    res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual([res.body.applied, res.body.needsRestart], [['groups.web.scaling'], []]);
    await until(
      async () => {
        const { body } = await call('/api/scalability/groups/web');
        const metrics = body.metrics as { name: string; average: number | null }[];
        return metrics.length === 1 && metrics[0]!.average !== null;
      },
      15_000,
      'a decision read vector(1) from the new url',
    );
    assert.equal(app.alerts.isFiring(failing), false);
    // Back to the file the next test starts from.
    await writeFile(path, yaml('6'));
    res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.deepEqual(res.body.applied, ['groups.web.scaling']);
  });

  it('a change that needs a restart is reported and kept as running; a min above desired scales out', async () => {
    await writeFile(
      path,
      yaml('6')
        .replace('listen: 127.0.0.1:0, health', 'listen: 127.0.0.1:1, health')
        .replace('min_instances: 1', 'min_instances: 2'),
    );
    const res = await call('/api/scalability/reload', ADMIN, 'POST');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.applied, ['groups.web.min_instances']);
    assert.deepEqual(res.body.needsRestart, ['balancer']);
    assert.notEqual(app.config.balancer.listen.port, 1);
    assert.equal(app.controller.group('web').desired(), 2);
    const last = app.controller.journal.last('web')!;
    assert.deepEqual([last.before, last.after], [1, 2]);
  });
});

describe('SIGHUP to scaleplane up', () => {
  it('reloads the file; a bad file is logged and the old config keeps running', async () => {
    const path = await writeTempConfig(yaml('3'));
    await writeFile(join(dirname(path), 'tokens'), `ops admin ${ADMIN}\n`);
    const up = new UpProcess(path);
    try {
      const apiLine = await up.waitFor((l) => String(l.msg).startsWith('control API on'), 20_000);
      await up.waitFor((l) => String(l.msg).startsWith('group web is up'), 30_000);
      const api = apiLine.address as { host: string; port: number };
      const max = async () => {
        const res = await fetch(`http://${api.host}:${api.port}/api/scalability/groups/web`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        return ((await res.json()) as { maxInstances: number }).maxInstances;
      };
      await writeFile(path, yaml('4'));
      up.child.kill('SIGHUP');
      // A SIGHUP in the instant between "group web is up" and the end of start is ignored (logged): resend.
      const first = await up.waitFor(
        (l) => /^(config reloaded|SIGHUP while starting)/.test(String(l.msg)),
        10_000,
      );
      if (String(first.msg).startsWith('SIGHUP while starting')) up.child.kill('SIGHUP');
      await up.waitFor((l) => String(l.msg).startsWith('config reloaded'), 10_000);
      assert.equal(await max(), 4);

      await writeFile(path, yaml('4').replace('max_instances: 4', 'max_instances: four'));
      up.child.kill('SIGHUP');
      const refused = await up.waitFor((l) => String(l.msg).startsWith('config reload refused'), 10_000);
      assert.match(String(refused.msg), /groups\.web\.max_instances \(line 10\)/);
      assert.equal(await max(), 4, 'the old config keeps running');
      assert.equal(up.child.exitCode, null, 'the process keeps serving');
    } finally {
      up.child.kill('SIGTERM');
      await up.exited;
    }
  });
});
