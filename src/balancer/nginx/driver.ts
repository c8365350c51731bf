import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { NginxDriverConfig } from '../../config/types.js';
import { BalancerError } from '../errors.js';
import type { BackendInstance, BalancerLogger } from '../types.js';
import { renderUpstreams } from './render.js';

/** NginxDriverErrorCode names how a sync can fail. */
export type NginxDriverErrorCode = 'NGINX_TEST_FAILED' | 'NGINX_RELOAD_FAILED' | 'NGINX_WRITE_FAILED';

/**
 * NginxDriverError is a failed sync; on a failed test the previous include file is restored (or
 * removed, when there was none).
 */
export class NginxDriverError extends Error {
  /** Stable machine-readable reason. */
  readonly code: NginxDriverErrorCode;

  constructor(code: NginxDriverErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NginxDriverError';
    this.code = code;
  }
}

/** CommandRunner runs a shell command and rejects with its stderr on a non-zero exit. */
export type CommandRunner = (command: string) => Promise<void>;

/** runShell is the default CommandRunner: `/bin/sh -c command`, 30 s at most. */
export const runShell: CommandRunner = (command) =>
  new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr).trim() }));
      else resolve();
    });
  });

/** NginxDriverOptions configures an NginxDriver. */
export interface NginxDriverOptions {
  config: NginxDriverConfig;
  /** @defaultValue runShell */
  run?: CommandRunner;
  /** @defaultValue a logger that drops everything */
  logger?: BalancerLogger;
}

/** NginxSync reports one sync that reached NGINX. */
export interface NginxSync {
  /** Whether NGINX was tested and reloaded: the file changed, or the flush was forced. */
  readonly reloaded: boolean;
  readonly text: string;
}

/** NginxDriverEvents are what an NginxDriver emits. */
export interface NginxDriverEvents {
  synced: [sync: NginxSync];
  error: [error: NginxDriverError];
}

const silentLogger: BalancerLogger = { info() {}, warn() {}, error() {} };

/**
 * NginxDriver keeps an NGINX include file in step with group membership: `update` records a group's
 * instances and schedules a sync after `debounce` ms, so a burst of changes costs one reload. A sync
 * renders, skips everything if the text is unchanged, writes atomically (temp file + rename), runs
 * the test command, and reloads gracefully. A failed test puts the previous file back (or removes
 * the file, when there was none). Failures are `error` events, never rejections in the background.
 */
export class NginxDriver extends EventEmitter<NginxDriverEvents> {
  readonly #config: NginxDriverConfig;
  readonly #run: CommandRunner;
  readonly #logger: BalancerLogger;
  readonly #groups = new Map<string, readonly BackendInstance[]>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #written: string | undefined;
  #closed = false;

  constructor(options: NginxDriverOptions) {
    super();
    if (!options.config.includeFile) {
      throw new BalancerError('BALANCER_INVALID_ARGUMENT', 'nginx.include_file must be set');
    }
    this.#config = options.config;
    this.#run = options.run ?? runShell;
    this.#logger = options.logger ?? silentLogger;
  }

  /** render is the include file's text for the membership recorded so far. */
  render(): string {
    return renderUpstreams(
      [...this.#groups].map(([name, instances]) => ({ name, instances })),
      this.#config,
    );
  }

  /** update records a group's instances and schedules a debounced sync. */
  update(group: string, instances: readonly BackendInstance[]): void {
    if (this.#closed) return;
    this.#groups.set(group, instances.slice());
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => undefined);
    }, this.#config.debounce);
  }

  /**
   * flush syncs now (after any sync in progress) and rejects with an NginxDriverError on failure.
   * `force` tests and reloads even when the file already holds this text: a one-off sync cannot know
   * whether the NGINX that runs has loaded it (an earlier reload may have failed).
   */
  flush(options: { force?: boolean } = {}): Promise<NginxSync> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const result = this.#running.then(() => this.#sync(options.force === true));
    this.#running = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** close stops scheduled syncs and waits for one in progress; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #sync(force: boolean): Promise<NginxSync> {
    const text = this.render();
    const file = this.#config.includeFile;
    this.#written ??= await readFile(file, 'utf8').catch(() => undefined);
    if (text === this.#written && !force) return { reloaded: false, text };
    const previous = this.#written;
    try {
      const temp = `${file}.${process.pid}.tmp`;
      await writeFile(temp, text);
      await rename(temp, file);
    } catch (err) {
      return this.#fail(
        new NginxDriverError('NGINX_WRITE_FAILED', `cannot write ${file}: ${String(err)}`, { cause: err }),
      );
    }
    try {
      await this.#run(this.#config.testCommand);
    } catch (err) {
      // Put back what was there; there was no file, so none may stay: an nginx reloaded by
      // anyone else would load the upstreams that just failed the test.
      if (previous !== undefined) await writeFile(file, previous).catch(() => undefined);
      else await rm(file, { force: true }).catch(() => undefined);
      return this.#fail(
        new NginxDriverError('NGINX_TEST_FAILED', `${this.#config.testCommand} failed: ${stderrOf(err)}`, {
          cause: err,
        }),
      );
    }
    this.#written = text;
    try {
      await this.#run(this.#config.reloadCommand);
    } catch (err) {
      return this.#fail(
        new NginxDriverError(
          'NGINX_RELOAD_FAILED',
          `${this.#config.reloadCommand} failed: ${stderrOf(err)}`,
          {
            cause: err,
          },
        ),
      );
    }
    this.#logger.info({ file, groups: this.#groups.size }, 'nginx upstreams rendered and reloaded');
    const sync = { reloaded: true, text };
    this.emit('synced', sync);
    return sync;
  }

  #fail(err: NginxDriverError): never {
    this.#logger.error({ code: err.code, err: err.message }, 'nginx sync failed');
    if (this.listenerCount('error') > 0) this.emit('error', err);
    throw err;
  }
}

function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: string }).stderr;
  return stderr || (err as Error).message;
}
