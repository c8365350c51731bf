// RabbitMQ blocks a connection that publishes while a memory (or disk) alarm is on: it stops reading
// it, acks included. The queue ran consumers on its one connection, so a worker whose handler
// published once during an alarm (a follow-up job, a retry, a dead letter) acked nothing more until
// the alarm cleared, and consumers acking is what frees the broker's memory. Measured: jobs done
// 0.5 s into an alarm completed only when it was cleared 6 s later. Consumers now run on a
// connection of their own. The alarm is raised on a private broker (its own node, ports and
// folder), never the shared one.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { createQueue } from '../../src/queue/index.js';
import { freePort } from '../helpers/ports.js';
import { uniqueName, waitFor } from './helpers.js';

const run = promisify(execFile);

/** OwnRabbit is a RabbitMQ node of this test's own, run as the rabbitmq user from a temp folder. */
class OwnRabbit {
  #process: ChildProcess | undefined;

  constructor(
    readonly dir: string,
    readonly node: string,
    readonly port: number,
  ) {}

  static async start(): Promise<OwnRabbit> {
    const dir = await mkdtemp(join(tmpdir(), 'sp-rabbit-'));
    const port = await freePort();
    const rabbit = new OwnRabbit(dir, `sp-test-${port}@localhost`, port);
    await writeFile(join(dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${port}\n`);
    await writeFile(join(dir, 'enabled_plugins'), '[].\n');
    await run('chown', ['-R', 'rabbitmq:rabbitmq', dir]);
    await chown(dir, ...(await ids()));
    rabbit.#process = spawn('runuser', ['-u', 'rabbitmq', '--', '/usr/lib/rabbitmq/bin/rabbitmq-server'], {
      stdio: 'ignore',
      cwd: '/',
      env: {
        ...process.env,
        HOME: '/var/lib/rabbitmq',
        RABBITMQ_NODENAME: rabbit.node,
        RABBITMQ_NODE_PORT: String(port),
        RABBITMQ_DIST_PORT: String(await freePort()),
        RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
        RABBITMQ_LOG_BASE: join(dir, 'log'),
        RABBITMQ_PID_FILE: join(dir, 'pid'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
        RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
      },
    });
    await waitFor(() => rabbit.#answers(), `RabbitMQ node ${rabbit.node} to accept connections`, 90_000);
    return rabbit;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  async #answers(): Promise<boolean> {
    try {
      await (await connect(this.url)).close();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
      return false;
    }
  }

  /** ctl runs rabbitmqctl against this node only. */
  async ctl(...args: string[]): Promise<void> {
    await run('runuser', ['-u', 'rabbitmq', '--', 'rabbitmqctl', '-q', '-n', this.node, ...args], {
      timeout: 60_000,
      cwd: '/',
      env: { ...process.env, HOME: '/var/lib/rabbitmq' },
    });
  }

  async close(): Promise<void> {
    await this.ctl('stop').catch(() => {});
    const child = this.#process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function ids(): Promise<[number, number]> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    run('id', ['-u', 'rabbitmq']),
    run('id', ['-g', 'rabbitmq']),
  ]);
  return [Number(uid), Number(gid)];
}

let rabbit: OwnRabbit;
before(async () => {
  rabbit = await OwnRabbit.start();
});
after(async () => {
  await rabbit?.close();
});

test('a worker acks its jobs during a memory alarm although its handler published (RabbitMQ)', async () => {
  const queue = createQueue({ backend: 'rabbitmq', url: rabbit.url, publishTimeout: 2000 });
  queue.on('error', () => {});
  const name = uniqueName('blocked');
  after(async () => {
    await rabbit.ctl('set_vm_memory_high_watermark', '0.4').catch(() => {});
    await queue.destroy(name).catch(() => {});
    await queue.destroy(`${name}-next`).catch(() => {});
    await queue.close();
  });
  for (const payload of ['publishes', 'plain-1', 'plain-2']) await queue.publish(name, payload);
  let raise!: () => void;
  const alarmOn = new Promise<void>((resolve) => {
    raise = resolve;
  });
  let published!: () => void;
  const publishTried = new Promise<void>((resolve) => {
    published = resolve;
  });
  const completed: string[] = [];
  const worker = queue.worker(
    name,
    async (payload) => {
      await alarmOn;
      // A handler publishing a follow-up job through the worker's own queue object: refused
      // (blocked) while the alarm lasts, which must not hold the other jobs' acks.
      if (payload === 'publishes') {
        await queue.publish(`${name}-next`, 'follow-up').catch(() => {});
        published();
        return;
      }
      await publishTried;
    },
    { concurrency: 3, closeTimeout: 0 },
  );
  worker.on('completed', (event) => completed.push(event.id));
  worker.on('error', () => {});
  await waitFor(() => worker.inFlight === 3, 'the three jobs to be running');
  await rabbit.ctl('set_vm_memory_high_watermark', '0.000001');
  raise();
  await publishTried;
  // The alarm stays on: the two plain jobs must complete now, not once it is cleared.
  await waitFor(() => completed.length >= 2, 'the two plain jobs to be acked during the alarm', 10_000).catch(
    () => assert.fail(`${completed.length} of the jobs done during the alarm were acked (want 2 or more)`),
  );
});
