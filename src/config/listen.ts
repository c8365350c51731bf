import { isIPv4 } from 'node:net';
import type { HostPort } from './types.js';

/** DEFAULT_LISTEN_HOST is where a bare port listens: loopback, so nothing is exposed by accident. */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';

const BARE_PORT = /^\d+$/;
const BRACKETED = /^\[([0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[\w.-]+)?)\]:(\d+)$/;
const HOST_PORT = /^([^\s:[\]/]+):(\d+)$/;

/**
 * parseListen reads a listen address: `host:port`, `[::1]:port` for IPv6, or a bare port (number or
 * string) meaning 127.0.0.1. Ports are 0..65535; 0 asks the OS for a free port (tests, embedding). Throws an Error naming the bad input.
 */
export function parseListen(value: string | number): HostPort {
  if (typeof value === 'number') return { host: DEFAULT_LISTEN_HOST, port: checkPort(value, value) };
  const text = value.trim();
  if (BARE_PORT.test(text)) return { host: DEFAULT_LISTEN_HOST, port: checkPort(Number(text), value) };
  const match = BRACKETED.exec(text) ?? HOST_PORT.exec(text);
  if (!match) throw listenError(value, listenHint(text));
  const host = match[1]!;
  // Digits and dots are no host name: `999.1.1.1` was valid, then `up` failed on getaddrinfo ENOTFOUND.
  if (/^[\d.]+$/.test(host) && !isIPv4(host))
    throw listenError(value, `${host} is not an IPv4 address (four numbers 0-255, such as 127.0.0.1)`);
  return { host, port: checkPort(Number(match[2]), value) };
}

/** formatListen writes a HostPort back as `host:port`, bracketing IPv6 hosts. */
export function formatListen(address: HostPort): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function checkPort(port: number, original: string | number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw listenError(original, 'the port must be an integer from 0 to 65535');
  }
  return port;
}

function listenHint(text: string): string {
  // Checked before the colons: `http://127.0.0.1:8080` has two, and was told to bracket an IPv6 host.
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/]*)/.exec(text);
  if (scheme) return `write host:port without a scheme, such as ${scheme[1]}`;
  const colons = text.split(':').length - 1;
  if (colons > 1 && !text.startsWith('[')) return 'write IPv6 hosts in brackets, such as [::1]:8080';
  if (text.startsWith(':')) return 'give a host too, such as 127.0.0.1:8080 or 0.0.0.0:8080';
  return 'use host:port, [ipv6]:port or a bare port';
}

function listenError(value: string | number, detail: string): Error {
  return new Error(`invalid listen address ${JSON.stringify(value)}: ${detail}`);
}
