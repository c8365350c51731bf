import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { formatListen } from './config/listen.js';
import type { HostPort } from './config/types.js';

/** PortHolder is the process found listening on a port. */
export interface PortHolder {
  pid: number;
  /** Its command line, shortened to fit a log line. */
  command: string;
}

/** TCP_LISTEN is the `st` column of a listening socket in /proc/net/tcp (include/net/tcp_states.h). */
const TCP_LISTEN = '0A';

/**
 * listenerInodes reads a /proc/net/tcp or /proc/net/tcp6 table and returns the socket inodes of the
 * entries listening on `port` (whatever their address: a wildcard listener holds every address).
 */
export function listenerInodes(table: string, port: number): string[] {
  const inodes: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const inode = fields[9];
    if (local === undefined || inode === undefined || fields[3] !== TCP_LISTEN) continue;
    if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && inode !== '0')
      inodes.push(inode);
  }
  return inodes;
}

/**
 * listenersOn lists the inodes of the sockets listening on TCP `port` (any address) in this network
 * namespace, from /proc/net/tcp and tcp6; undefined when neither can be read (not Linux).
 */
async function listenersOn(port: number): Promise<string[] | undefined> {
  const tables = await Promise.all(
    ['/proc/net/tcp', '/proc/net/tcp6'].map((file) => readFile(file, 'utf8').catch(() => undefined)),
  );
  if (tables.every((table) => table === undefined)) return undefined;
  return tables.flatMap((table) => (table === undefined ? [] : listenerInodes(table, port)));
}

/** MAX_COMMAND is how much of the holder's command line a message shows. */
const MAX_COMMAND = 80;

/**
 * findPortHolder says which process listens on TCP `port`, from Linux's /proc: the socket's inode in
 * /proc/net/tcp{,6}, then the process with a descriptor on it. Undefined when that cannot be told:
 * not Linux, or the holder belongs to another user (its descriptors are not ours to read), as `ss -p`.
 */
export async function findPortHolder(port: number): Promise<PortHolder | undefined> {
  const inodes = await listenersOn(port);
  const wanted = new Set((inodes ?? []).map((i) => `socket:[${i}]`));
  if (wanted.size === 0) return undefined;
  const pids = (await readdir('/proc').catch(() => [])).filter((entry) => /^\d+$/.test(entry));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (!wanted.has(target)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      const command = cmdline.split('\0').join(' ').replace(/\s+/g, ' ').trim();
      return {
        pid: Number(pid),
        command: command.length > MAX_COMMAND ? `${command.slice(0, MAX_COMMAND - 1)}…` : command,
      };
    }
  }
  return undefined;
}

/** PortInUseError: a listen address of the config is taken; the message names the key and the holder. */
export class PortInUseError extends Error {
  readonly code = 'SCALEPLANE_PORT_IN_USE';
}

/** portInUseMessage says which key's address is taken and, when known, by which process. */
export function portInUseMessage(key: string, address: HostPort, holder: PortHolder | undefined): string {
  const by = holder === undefined ? '' : ` by pid ${holder.pid} (${holder.command || 'command unknown'})`;
  return `${key} ${formatListen(address)}: the port is in use${by}; stop it or choose another port`;
}

/** isAddressInUse tells a listen that failed because the port was taken. */
export function isAddressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'EADDRINUSE';
}

/** addressInUse builds the PortInUseError for `key`, looking up who holds the port. */
export async function addressInUse(key: string, address: HostPort, cause: unknown): Promise<PortInUseError> {
  return new PortInUseError(portInUseMessage(key, address, await findPortHolder(address.port)), { cause });
}

/**
 * ensurePortFree fails when `address` is taken, so that the start fails before any instance is
 * started for it: the balancer binds only once its groups are up (or at `warmup_timeout`), and a
 * taken port was found after that. Port 0 is always free.
 *
 * A port nothing listens on (as /proc says) is free without binding it. It used to be bound and let
 * go at once, always: a controller restarted under load then accepted, for that moment, the
 * connects of the clients retrying its port, and closing the probe reset them (an ECONNRESET 2.3 s
 * after the old controller's death in ha-restart-load). A refused connect is retried safely; a
 * reset leaves the client unsure whether its request was sent. A port some socket listens on (at
 * this address or another) is still bound to find out, as is any port where /proc cannot be read.
 */
export async function ensurePortFree(key: string, address: HostPort): Promise<void> {
  if (address.port === 0) return;
  if ((await listenersOn(address.port))?.length === 0) return;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ port: address.port, host: address.host, exclusive: true }, resolve);
    });
  } catch (err) {
    // Another failure (EACCES below 1024, EADDRNOTAVAIL) is the balancer's own to report when it binds.
    if (isAddressInUse(err)) throw await addressInUse(key, address, err);
    return;
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
