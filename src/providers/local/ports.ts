import { ProviderError } from '../errors.js';
import { choosePort, formatPortRange, type PortRange, portCount } from './port-range.js';
import { freePort, portFreeOn } from './system.js';

/**
 * PortFinder asks for a port free on `host` now (freePort: bind to 0, read it, close). `held` says
 * which ports instances hold, for a finder that can pass them over (rangePortFinder).
 */
export type PortFinder = (host: string, held?: (port: number) => boolean) => Promise<number>;

/**
 * rangePortFinder finds ports in `range`: a random one (choosePort) no instance holds, checked by a
 * real bind on the host; one in use is passed over for the next. It rejects with NO_PORT, naming
 * the range, once every port of it is held or in use. `field` names the setting in that error.
 */
export function rangePortFinder(
  range: PortRange,
  options: { random?: () => number; field?: string; isFree?: typeof portFreeOn } = {},
): PortFinder {
  const random = options.random ?? Math.random;
  const isFree = options.isFree ?? portFreeOn;
  return async (host, held = () => false) => {
    const inUse = new Set<number>();
    for (;;) {
      const port = choosePort(range, (p) => held(p) || inUse.has(p), random);
      if (port === undefined)
        throw new ProviderError(
          'NO_PORT',
          `no free port in ${options.field ?? 'port_range'} ${formatPortRange(range)} on ${host}: all ${portCount(range)} are held by instances (${portCount(range) - inUse.size}) or in use by other programs (${inUse.size})`,
        );
      if (await isFree(host, port)) return port;
      inUse.add(port);
    }
  };
}

/** MAX_PORT_ATTEMPTS bounds how often a finder that keeps answering held ports is asked again. */
const MAX_PORT_ATTEMPTS = 50;

/**
 * PortReservations are the ports Scaleplane's own instances (starting, ready, stopping, adopted)
 * were given. freePort's port is free only at the moment it is asked; nothing holds it until the
 * instance binds it, and the kernel may hand the same port to the next bind(0) meanwhile: two
 * instances started together could get one port. A port held here is never handed out again until
 * its instance is gone. One set per process (the default), shared by every group's provider.
 */
export class PortReservations {
  readonly #held = new Set<number>();

  /**
   * reserve asks `find` for a port until it answers one not held, holds it and returns it.
   * It rejects with find's error, or after MAX_PORT_ATTEMPTS answers that were all held.
   */
  async reserve(host: string, find: PortFinder = freePort): Promise<number> {
    for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt++) {
      const port = await find(host, (p) => this.#held.has(p));
      if (this.#held.has(port)) continue;
      this.#held.add(port);
      return port;
    }
    throw new Error(`no port on ${host} that no instance holds after ${MAX_PORT_ATTEMPTS} attempts`);
  }

  /** hold marks a port in use (an adopted instance's), so reserve never hands it out. */
  hold(port: number): void {
    if (port > 0) this.#held.add(port);
  }

  /** release gives a port back once its instance is gone. */
  release(port: number): void {
    this.#held.delete(port);
  }

  /** held says whether a port is held. */
  held(port: number): boolean {
    return this.#held.has(port);
  }
}

/** localPorts are the process-wide reservations every LocalProvider uses by default. */
export const localPorts = new PortReservations();

/** ADDR_IN_USE matches the line a runtime prints when its listen fails on a taken port. */
const ADDR_IN_USE = /EADDRINUSE|address already in use/i;

/** saysAddressInUse: an output line reports a bind on a taken port (Node, Go, Python, Java alike). */
export function saysAddressInUse(line: string): boolean {
  return ADDR_IN_USE.test(line);
}

/**
 * lostItsPort decides whether an instance that exited before it was ready failed because its port
 * was taken (start it again on another port: not a crash) rather than by a fault of its own. Its
 * output said EADDRINUSE, or after it exited something else listens on the port it was given.
 * Something, not its own processes: an app that went to the background (`node server.js &`, a
 * daemonizing server) leaves its leader exited and its own child listening there. Taken for a
 * lost port, it was started again on 3 more ports, each warned as "the port was taken", before
 * failing with only "exit code 0".
 */
export function lostItsPort(input: {
  saidAddressInUse: boolean;
  portAfterExit: 'open' | string;
  /** Processes of its own group still ran when its leader exited (see Slot.leftGroupRunning). */
  leftGroupRunning?: boolean;
}): boolean {
  return input.saidAddressInUse || (input.portAfterExit === 'open' && input.leftGroupRunning !== true);
}
