import { BalancerError } from './errors.js';

/** parseAddress splits `host:port` (or `[::1]:port`) into a host and a port number. */
export function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(portText);
  if (colon <= 0 || host === '' || !/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new BalancerError(
      'BALANCER_INVALID_ADDRESS',
      `invalid backend address "${address}" (want host:port)`,
    );
  }
  return { host, port };
}
