import {
  defaultPortRange,
  largestRangeOutside,
  type PortRange,
  PortReservations,
  rangePortFinder,
  readEphemeralRange,
} from '../../src/providers/local/index.js';
import { freePort as kernelPort } from '../../src/providers/local/system.js';

/** TEST_PORTS_WITHIN: test servers' ports stay above the ports services commonly listen on. */
const TEST_PORTS_WITHIN: PortRange = { low: 10000, high: 65535 };

/**
 * TEST_PORT_RANGE is where freePort takes ports from: the largest range above 10000 outside both
 * the kernel's ephemeral range and the local provider's default instance range (10000-19999 with
 * Linux's default 32768-60999). Undefined where that range is unknown (not Linux): bind(0) then.
 */
export const TEST_PORT_RANGE: PortRange | undefined = (() => {
  const ephemeral = readEphemeralRange();
  if (ephemeral === undefined) return undefined;
  return largestRangeOutside(TEST_PORTS_WITHIN, [ephemeral, defaultPortRange(ephemeral)]);
})();

/** given holds every port freePort handed out in this process: it never hands one out twice. */
const given = new PortReservations();

/**
 * freePort finds a loopback port nobody listens on, for a server started later that cannot listen
 * on 0 itself (nginx, prometheus, redis-server, a config written before the server runs): a random
 * one of TEST_PORT_RANGE, checked by a real bind, never one it gave before. A port found by bind(0)
 * and closed again lay in the ephemeral range, where the kernel could hand it to another test's
 * bind(0) or to an outgoing connection's source port before the server bound it (three test files
 * run at once, with hundreds of connections); the kernel hands out no port of TEST_PORT_RANGE.
 * `options.random` (in [0, 1)) picks where the search starts.
 */
export function freePort(options: { random?: () => number } = {}): Promise<number> {
  const random = options.random ?? Math.random;
  if (TEST_PORT_RANGE === undefined) return given.reserve('127.0.0.1', kernelPort);
  return given.reserve('127.0.0.1', rangePortFinder(TEST_PORT_RANGE, { random, field: 'TEST_PORT_RANGE' }));
}

/**
 * closedPort finds a loopback port nothing listens on, for a test that expects its connection
 * REFUSED (an unreachable server, a dead backend): freePort's port, of which no server is started.
 * A port found by bind(0) and closed again lay in the ephemeral range, where another test's bind(0)
 * or an outgoing connection could take it before the test connected: the refusal expected became a
 * connection. freePort never hands the port out again in this process, so no later server here
 * takes it either.
 */
export function closedPort(): Promise<number> {
  return freePort();
}
