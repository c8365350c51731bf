// Ports of local instances come from a range outside the kernel's ephemeral range
// (ip_local_port_range). A port found by bind(0) and closed again lies inside it: until the
// instance binds it, the kernel may hand it to another program's bind(0) or to an outgoing
// connection's source port, and the instance exits with EADDRINUSE right after it starts (a CI
// flake: a group lost an instance until lostItsPort restarted it). Outside that range only a
// program asking for the port by number takes it.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { type LocalProviderConfig, parseConfig } from '../../src/config/index.js';
import { ProviderError } from '../../src/providers/index.js';
import {
  choosePort,
  defaultPortRange,
  largestRangeOutside,
  type PortRange,
  PortReservations,
  parseEphemeralRange,
  parsePortRange,
  portRangeWarning,
  rangePortFinder,
  readEphemeralRange,
} from '../../src/providers/local/index.js';
import { runCli } from '../helpers/cli-process.js';
import { APP, httpGet, makeProvider, recordingLogger, tempDir } from './local-helpers.js';

const range = (low: number, high: number): PortRange => ({ low, high });

/** portOf reads the port of an instance's `host:port`. */
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/** parseLocal parses a one-group config whose group `web` has `extra` beside its command. */
function parseLocal(extra: Record<string, unknown>): LocalProviderConfig {
  const yaml = stringify({ groups: { web: { command: `"${process.execPath}" "${APP}"`, ...extra } } });
  const provider = parseConfig(yaml, { baseDir: process.cwd() }).groups.web!.provider;
  assert.equal(provider.provider, 'local');
  return provider as LocalProviderConfig;
}

/** listening holds 127.0.0.1 on a port (any free one) until the test ends. */
async function listening(t: { after: (fn: () => unknown) => void }): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  assert.ok(typeof address === 'object' && address, 'the listener has an address');
  return address.port;
}

describe('port ranges (pure)', () => {
  it('parsePortRange: LOW-HIGH, or an error saying what is wrong', () => {
    assert.deepEqual(parsePortRange('20000-29999'), range(20000, 29999));
    assert.deepEqual(parsePortRange(' 20000 - 20000 '), range(20000, 20000));
    for (const [text, error] of [
      ['20000', /not a port range such as 20000-29999/],
      ['20000-', /not a port range/],
      ['twenty-thirty', /not a port range/],
      ['20000:29999', /not a port range/],
      ['0-100', /port 0 is outside 1-65535/],
      ['60000-70000', /port 70000 is outside 1-65535/],
      ['29999-20000', /reversed: 29999 is above 20000/],
    ] as const) {
      assert.throws(() => parsePortRange(text), error, text);
    }
  });

  it('the config: port_range parsed, bad values named by their field', (t) => {
    assert.deepEqual(parseLocal({ port_range: '21000-21999' }).portRange, range(21000, 21999));
    assert.equal(parseLocal({}).portRange, undefined, 'not set: the provider computes the default');
    for (const [value, error] of [
      ['29999-20000', /groups\.web\.port_range.*reversed/],
      ['20000', /groups\.web\.port_range.*not a port range/],
      [20000, /groups\.web\.port_range.*expected a port range such as 20000-29999/],
      ['1-99999', /groups\.web\.port_range.*port 99999 is outside/],
    ] as const) {
      assert.throws(() => parseLocal({ port_range: value }), error, String(value));
    }
    // The library's own check, for a config not read from a file.
    assert.throws(
      () => makeProvider(t, { portRange: range(29999, 20000) }),
      /local provider web: port_range must be ports 1-65535, the lower first/,
    );
    assert.throws(
      () =>
        parseConfig(
          stringify({ groups: { web: { provider: 'kubernetes', name: 'web', port_range: '20000-20999' } } }),
          { baseDir: '/srv' },
        ),
      /groups\.web\.port_range/,
      'a local key on a kubernetes group',
    );
  });

  it('parseEphemeralRange reads ip_local_port_range', () => {
    assert.deepEqual(parseEphemeralRange('32768\t60999\n'), range(32768, 60999));
    assert.equal(parseEphemeralRange('32768'), undefined);
    assert.equal(parseEphemeralRange('60999 32768'), undefined);
  });

  it('defaultPortRange lies outside the ephemeral range, or is none (bind(0))', () => {
    for (const [ephemeral, expected] of [
      [range(32768, 60999), range(20000, 29999)], // Linux's default
      [range(49152, 65535), range(20000, 29999)], // the IANA range
      [range(15000, 25000), range(25001, 29999)], // the part of 20000-29999 above it
      [range(22000, 40000), range(20000, 21999)], // the part below it
      [range(20500, 29500), range(10500, 20499)], // both parts too small: right below it
      [range(10000, 60000), range(60001, 65535)], // nothing below 10000 is taken: right above it
      [range(10500, 64800), undefined], // 500 and 735 ports: too few
      [range(1024, 65535), undefined],
      [undefined, undefined], // not Linux: unknown
    ] as const) {
      const chosen = defaultPortRange(ephemeral);
      assert.deepEqual(chosen, expected, JSON.stringify(ephemeral));
      if (chosen !== undefined && ephemeral !== undefined)
        assert.ok(chosen.high < ephemeral.low || chosen.low > ephemeral.high, 'outside the ephemeral range');
    }
  });

  it('largestRangeOutside: the largest run of ports none of the ranges holds (test ports)', () => {
    const within = range(10000, 65535);
    for (const [avoid, expected] of [
      [[range(32768, 60999), range(20000, 29999)], range(10000, 19999)], // Linux's default
      [[range(20000, 29999), range(32768, 60999)], range(10000, 19999)], // in any order
      [[range(15000, 25000), range(25001, 29999)], range(30000, 65535)],
      [[range(1024, 40000), undefined], range(40001, 65535)], // no default range: one to avoid
      [[range(10000, 30000), range(40000, 65535)], range(30001, 39999)], // between them
      [[range(11000, 65535)], range(10000, 10999)], // starting at `within`'s end
      [[range(20000, 30000), range(25000, 40000)], range(40001, 65535)], // overlapping ranges
      [[range(1, 65535)], undefined], // nothing left
      [[], within],
    ] as const) {
      assert.deepEqual(largestRangeOutside(within, avoid), expected, JSON.stringify(avoid));
    }
  });

  it('choosePort: a random port, passing over skipped ones (wrapping around), none when all are', () => {
    const r = range(20000, 20009);
    assert.equal(
      choosePort(
        r,
        () => false,
        () => 0,
      ),
      20000,
    );
    assert.equal(
      choosePort(
        r,
        () => false,
        () => 0.99999,
      ),
      20009,
    );
    assert.equal(
      choosePort(
        r,
        () => false,
        () => 0.5,
      ),
      20005,
    );
    const held = new Set([20005, 20006]);
    assert.equal(
      choosePort(
        r,
        (p) => held.has(p),
        () => 0.5,
      ),
      20007,
    );
    assert.equal(
      choosePort(
        r,
        (p) => p >= 20005,
        () => 0.5,
      ),
      20000,
      'wraps around',
    );
    assert.equal(
      choosePort(
        r,
        () => true,
        () => 0.5,
      ),
      undefined,
    );
  });

  it('portRangeWarning: only a range sharing ports with the ephemeral range', () => {
    const field = 'groups.web.port_range';
    assert.equal(portRangeWarning(field, range(20000, 29999), range(32768, 60999)), undefined);
    assert.equal(portRangeWarning(field, range(20000, 29999), undefined), undefined);
    const warning = portRangeWarning(field, range(30000, 40000), range(32768, 60999));
    assert.match(
      warning ?? '',
      /^groups\.web\.port_range 30000-40000 overlaps .* 32768-60999 .* in 32768-40000/,
    );
  });
});

describe('rangePortFinder (real binds)', () => {
  it('passes over held ports and ports in use; exhausted, it names the range', async (t) => {
    const inUse = await listening(t);
    const field = 'groups.web.port_range';
    // Deterministic: the three ports are checked by an injected bind, in the order choosePort walks.
    const checked: number[] = [];
    const find = rangePortFinder(range(20000, 20002), {
      field,
      random: () => 0,
      isFree: async (_host, port) => {
        checked.push(port);
        return port !== 20001;
      },
    });
    assert.equal(await find('127.0.0.1', (p) => p === 20000), 20002);
    assert.deepEqual(checked, [20001, 20002], 'the held port is not even checked');
    await assert.rejects(
      find('127.0.0.1', (p) => p !== 20001),
      (err: unknown) =>
        err instanceof ProviderError &&
        err.code === 'NO_PORT' &&
        /no free port in groups\.web\.port_range 20000-20002 on 127\.0\.0\.1: all 3 are held by instances \(2\) or in use by other programs \(1\)/.test(
          err.message,
        ),
    );
    // A real bind finds the port another program listens on taken.
    const real = rangePortFinder(range(inUse, inUse), { field });
    await assert.rejects(
      real('127.0.0.1'),
      /no free port in groups\.web\.port_range .* in use by other programs \(1\)/,
    );
    // PortReservations hands its held ports to the finder: one held port left nothing to find.
    const ports = new PortReservations();
    ports.hold(20000);
    await assert.rejects(
      ports.reserve('127.0.0.1', rangePortFinder(range(20000, 20000), { field })),
      /held by instances \(1\)/,
    );
  });
});

describe('local instances get their ports from the range', () => {
  it('port_range from the config: every instance listens in it and serves', async (t) => {
    const config = parseLocal({ port_range: '23000-23999' });
    const logger = recordingLogger();
    const provider = makeProvider(t, config, { ports: new PortReservations(), logger });
    await provider.scaleTo(3);
    const instances = provider.instances();
    assert.deepEqual(
      instances.map((i) => i.state),
      ['ready', 'ready', 'ready'],
    );
    for (const instance of instances) {
      const port = portOf(instance.address);
      assert.ok(port >= 23000 && port <= 23999, `${instance.address} in 23000-23999`);
      const answer = await httpGet(instance.address, '/');
      assert.equal(answer.status, 200);
      assert.match(answer.body, new RegExp(String(port)));
    }
    assert.deepEqual(
      logger.lines.filter((l) => l.level === 'warn'),
      [],
    );
  });

  it('port_range not set: ports outside ip_local_port_range (bind(0) gave ports inside it)', async (t) => {
    const ephemeral = readEphemeralRange();
    if (ephemeral === undefined) return t.skip('no ip_local_port_range here');
    const expected = defaultPortRange(ephemeral);
    if (expected === undefined) return t.skip(`no default range outside ${ephemeral.low}-${ephemeral.high}`);
    const provider = makeProvider(t, {}, { ports: new PortReservations() });
    await provider.scaleTo(2);
    for (const instance of provider.instances()) {
      const port = portOf(instance.address);
      assert.ok(
        port < ephemeral.low || port > ephemeral.high,
        `${instance.address} outside the ephemeral ports ${ephemeral.low}-${ephemeral.high}`,
      );
      assert.ok(port >= expected.low && port <= expected.high, `${instance.address} in the default range`);
      assert.equal((await httpGet(instance.address, '/healthz')).status, 200);
    }
  });

  it('a port_range overlapping ip_local_port_range is warned of, naming the field, and still used', async (t) => {
    const ephemeral = readEphemeralRange();
    if (ephemeral === undefined) return t.skip('no ip_local_port_range here');
    const logger = recordingLogger();
    const overlapping = range(ephemeral.low, Math.min(ephemeral.high, ephemeral.low + 999));
    const provider = makeProvider(t, { portRange: overlapping }, { ports: new PortReservations(), logger });
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg);
    assert.equal(warnings.length, 1, `warnings: ${warnings}`);
    assert.match(warnings[0]!, /^groups\.web\.port_range \d+-\d+ overlaps this machine's ephemeral ports/);
    await provider.scaleTo(1);
    const [instance] = provider.instances();
    const port = portOf(instance!.address);
    assert.ok(port >= overlapping.low && port <= overlapping.high, instance!.address);
  });
});

describe('scaleplane validate', () => {
  it('warns of a port_range overlapping ip_local_port_range, naming the field; valid all the same', async (t) => {
    const ephemeral = readEphemeralRange();
    if (ephemeral === undefined) return t.skip('no ip_local_port_range here');
    const dir = await tempDir(t, 'port-range');
    const file = join(dir, 'scaleplane.yaml');
    const write = (portRange: string) =>
      writeFile(file, stringify({ groups: { web: { command: 'node server.js', port_range: portRange } } }));
    await write(`${ephemeral.low}-${ephemeral.low + 99}`);
    const overlapping = await runCli(['validate', '-c', file]);
    assert.equal(overlapping.code, 0, overlapping.stderr);
    assert.match(
      overlapping.stderr,
      /^warning: groups\.web\.port_range \d+-\d+ overlaps this machine's ephemeral ports/m,
    );
    const outside = defaultPortRange(ephemeral);
    if (outside === undefined) return;
    await write(`${outside.low}-${outside.high}`);
    const clear = await runCli(['validate', '-c', file]);
    assert.equal(clear.code, 0, clear.stderr);
    assert.doesNotMatch(clear.stderr, /port_range/);
  });
});
