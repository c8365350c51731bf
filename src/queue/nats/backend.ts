/**
 * The NATS JetStream queue backend, and what it guarantees: at-least-once, never exactly-once.
 *
 * A job is stored once JetStream's PubAck says so. A PubAck that is lost (the link drops after the
 * server stored the message; the client's 5 s request timeout) leaves stored and not stored
 * indistinguishable, so the publish is sent again under the same `Nats-Msg-Id`, and the stream
 * drops a copy whose id it saw within `duplicateWindow`:
 * - `publish` uses the job id: re-sends until `publishTimeout` (30 s) stay inside the default
 *   window (2 min) and store the job once. A window shorter than `publishTimeout`, or a caller that
 *   publishes again after QUEUE_PUBLISH_TIMEOUT under a new id (the default id is a fresh UUID),
 *   can store it twice.
 * - A worker's retry, hand-back and dead letter publish a copy under an id of their own
 *   (`<id>:retry:<seq>`, `:back:`, `:dlq:`) and ack the delivered message only after its PubAck.
 *   With no PubAck within HANDBACK_TIMEOUT (10 s) the delivered message is naked (retry,
 *   hand-back; reported) or left to AckWait (dead letter) while the copy may be stored: the job
 *   runs twice. A worker that dies between the copy's PubAck and its ack (or whose ack is lost)
 *   leaves both copies too.
 * The duplicate window de-duplicates publishes of an id, never deliveries: handlers must be
 * idempotent, or the worker given a `dedup` store (every copy keeps the job id, so a job marked
 * done is skipped).
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type MsgRequest,
  type NextMsgRequest,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import {
  connect,
  headers,
  type NatsConnection,
  type NodeConnectionOptions,
  nanos,
  PermissionViolationError,
  RequestError,
} from '@nats-io/transport-node';
import { type NatsServers, natsServers } from '../../metrics/url-credentials.js';
import { backoffDelay } from '../backoff.js';
import { readDeadLetterBody, requeuable } from '../dead-letter.js';
import { readNatsDepth } from '../depth.js';
import { decodeEnvelope } from '../envelope.js';
import { errorMessage, InvalidArgumentError, QueueError, type QueueErrorCode } from '../errors.js';
import { BROKER_GRACE, settledWithin } from '../grace.js';
import { PullLoop } from '../pull-loop.js';
import { natsDeadLetterLimits } from '../retention.js';
import { natsDeliveryCounts, natsMaxDeliver } from '../stalls.js';
import type {
  BackendContext,
  ConsumeOptions,
  Consumption,
  DeadLetter,
  DeadLetterReason,
  Delivery,
  JobEnvelope,
  QueueBackend,
} from '../types.js';
import { delayedPattern, delayedSubject } from './delayed.js';
import { DEFAULT_INBOX_PREFIX, deniedInbox, deniedInboxText } from './inbox.js';

/** NatsBackendOptions configures the NATS JetStream backend. */
export interface NatsBackendOptions {
  /**
   * Server URL(s): one, an array, or a comma-separated list (`nats://a:4222,nats://b:4222`, as the
   * NATS CLI's `--server` takes a cluster's servers); the client connects to one that is up and
   * fails over to another. Credentials in a URL (`nats://user:pass@host:4222`, `nats://token@host`,
   * percent-decoded) are taken out and given to the client as `user`/`pass` or `token`; entries
   * that carry them must carry the same. A comma in a user, password or token may be written as
   * it is (see splitNatsServers for where a list is split). @defaultValue '127.0.0.1:4222'
   */
  servers?: string | string[];
  /**
   * Extra connection options (auth, TLS). `user`, `pass` and `token` given here win over the
   * credentials written in `servers` (`nats://user:pass@host:4222`, `nats://token@host:4222`).
   */
  nats?: Partial<NodeConnectionOptions>;
  /** Window in ms within which a job id published twice is stored once (`Nats-Msg-Id`). @defaultValue 120000 */
  duplicateWindow?: number;
  /**
   * Deliveries JetStream still makes past the one that dead-letters a job for stalling
   * (`retries + maxStalls + 2`, plus one for a delayed job's wait): slack for workers of the queue
   * with larger `retries` or `maxStalls` than the one that set MaxDeliver. @defaultValue 10
   */
  maxDeliverMargin?: number;
}

const CONSUMER = 'workers';
/** ms a pull request stays open on the server; also the longest `stop()` waits for it. */
const FETCH_EXPIRES = 1000;
/** ms a hand-back, retry or dead letter keeps re-sending its publish (then: a nak, or a failed settle). */
const HANDBACK_TIMEOUT = 10_000;
const NOT_BEFORE = 'Sp-Not-Before';
const ERROR = 'Sp-Error';
const FAILED_AT = 'Sp-Failed-At';
const REASON = 'Sp-Reason';

/** natsNames names the streams and subjects of one queue. */
export function natsNames(queue: string): {
  stream: string;
  subject: string;
  dlqStream: string;
  dlqSubject: string;
} {
  return {
    stream: `SP_${queue}`,
    subject: `sp.q.${queue}`,
    dlqStream: `SP_${queue}_DLQ`,
    dlqSubject: `sp.dlq.${queue}`,
  };
}

interface Clients {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function isNotFound(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamNotFound || error.code === JetStreamApiCodes.ConsumerNotFound)
  );
}

/**
 * noStreamTakes says a JetStream publish found no responder on its subject: no stream takes it. The
 * client reports that as "jetstream is not enabled", with the request's no-responders error as cause.
 */
function noStreamTakes(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause instanceof RequestError && cause.isNoResponders();
}

/**
 * deniedPublish says the server refused to take a publish to `subject` from this user (a
 * `Permissions Violation for Publish to …`): it routed it nowhere, so no stream stored it, and the
 * same user sending it again is refused again. The client rejects the request it was for with a
 * RequestError caused by it. A denied subscription to the reply inbox is not this: the publish
 * itself may have been stored then, only its PubAck cannot come back.
 */
function deniedPublish(error: unknown, subject: string): boolean {
  const cause = error instanceof RequestError ? error.cause : error;
  return (
    cause instanceof PermissionViolationError && cause.operation === 'publish' && cause.subject === subject
  );
}

/**
 * JetStream API errors by which a stream refused to store a publish (nothing stored): full with
 * DiscardNew (max_msgs, max_bytes) or over its max_msg_size. Publishing again cannot help until an
 * operator makes room.
 */
const REFUSALS = new Set([10077, 10078, 10054]);

/** refusedByStream says the stream answered a publish with a refusal (see REFUSALS). */
function refusedByStream(error: unknown): error is JetStreamApiError {
  return error instanceof JetStreamApiError && REFUSALS.has(error.code);
}

/**
 * natsErrorText renders an error of the NATS client for a message: a JetStream API error with its
 * code (`subjects overlap with an existing stream, JetStream API error 10065`), anything else its
 * text. The code is what the NATS documentation and the server's log name the error by.
 */
function natsErrorText(error: unknown): string {
  if (error instanceof JetStreamApiError) return `${error.message}, JetStream API error ${error.code}`;
  return errorMessage(error);
}

/**
 * requestFailed is the error of a JetStream request that failed: `doing` says what the caller was
 * doing (`depth of queue "jobs" not read`), `request` the request and its stream or consumer
 * (`stream add of SP_jobs`). Before, these failures went up as the client's own errors, with no
 * QueueError code and neither the queue nor the operation named: `Permissions Violation for Publish
 * to "$JS.API.STREAM.MSG.GET.SP_jobs_DLQ"` from a dead-letter listing, `subjects overlap with an
 * existing stream` from a depth read.
 */
function requestFailed(
  doing: string,
  request: string,
  cause: unknown,
  code: QueueErrorCode = 'QUEUE_BACKEND',
): QueueError {
  return new QueueError(code, `nats: ${doing}: ${request} failed (${natsErrorText(cause)})`, { cause });
}

/**
 * serverList is `servers` as the client's list and the credentials its URLs carried, read as the
 * `nats` metric source reads its url (natsServers: entries split at the commas between servers,
 * each array item on its own; `user:pass@` or
 * `token@` taken out). Before, the entries went to the client as written: a string was read as one
 * server (fixed before), and credentials in a URL were ignored by the client, which connected
 * without any and was refused ("Authorization Violation") for good. Throws InvalidArgumentError
 * naming `servers` for an empty or unreadable entry, or entries with different credentials; the
 * message never holds a password or token.
 */
function serverList(servers: string | string[]): NatsServers {
  try {
    return natsServers(servers);
  } catch (error) {
    // natsServers names the entry and shows a URL as hideUserinfo does: never its secret.
    throw new InvalidArgumentError('servers', (error as Error).message);
  }
}

/** createNatsBackend runs each queue as a JetStream work-queue stream with one durable pull consumer. */
export function createNatsBackend(options: NatsBackendOptions, context: BackendContext): QueueBackend {
  const duplicateWindow = options.duplicateWindow ?? 120_000;
  const margin = options.maxDeliverMargin ?? 10;
  // Before connecting: a negative margin would make JetStream stop delivering before the retries end.
  if (!Number.isInteger(duplicateWindow) || duplicateWindow < 1)
    throw new InvalidArgumentError('duplicateWindow', 'must be an integer number of ms >= 1');
  if (!Number.isInteger(margin) || margin < 0)
    throw new InvalidArgumentError('maxDeliverMargin', 'must be an integer >= 0');
  const { servers, auth: urlAuth } = serverList(options.servers ?? '127.0.0.1:4222');
  // Credentials given as options win: the URL's are then not sent at all (no user beside a token).
  const { user, pass, token, authenticator } = options.nats ?? {};
  const auth = [user, pass, token, authenticator].some((v) => v !== undefined) ? {} : urlAuth;
  let closed = false;
  let attempt = 0;
  const timers = new Set<NodeJS.Timeout>();
  const streams = new Set<string>();
  /** Where the client takes JetStream's replies (inbox.ts); named in the error when it is refused. */
  const inboxPrefix = options.nats?.inboxPrefix ?? DEFAULT_INBOX_PREFIX;

  /** Ends the wait between first-connection attempts at once when the backend closes. */
  let cutWait = () => {};
  /**
   * The first connection is tried here, not by the client's `waitOnFirstConnect`: that one cannot
   * be stopped, so a backend closed before its server was ever reachable kept trying for good and
   * its process never exited.
   */
  const firstConnect = async (): Promise<NatsConnection> => {
    for (let n = 1; ; n++) {
      if (closed) throw new QueueError('QUEUE_CLOSED', 'nats backend closed before it connected');
      try {
        return await connect({
          servers,
          // The client ignores credentials in a URL; given ones (options.nats) win over them.
          ...auth,
          ...options.nats,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => backoffDelay(++attempt, context.reconnect, context.random),
        });
      } catch (error) {
        if (closed) throw new QueueError('QUEUE_CLOSED', 'nats backend closed before it connected');
        const delay = backoffDelay(n, context.reconnect, context.random);
        context.onConnection({ state: 'reconnecting', attempt: n, delay, error: (error as Error).message });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          cutWait = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  };
  const clients: Promise<Clients> = (async () => {
    const nc = await firstConnect();
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') context.onConnection({ state: 'disconnected' });
        else if (status.type === 'reconnecting') context.onConnection({ state: 'reconnecting', attempt });
        else if (status.type === 'reconnect') {
          attempt = 0;
          context.onConnection({ state: 'connected' });
        } else if (status.type === 'error') {
          const inbox = deniedInbox(status.error, inboxPrefix);
          const what = inbox ? deniedInboxText(inbox, inboxPrefix) : String(status.error);
          context.onError(new QueueError('QUEUE_CONNECTION', `nats: ${what}`, { cause: status.error }));
        }
      }
    })().catch(() => {});
    // jetstreamManager's first request (account info) can fail, as for a user refused the reply
    // inbox; that fails the backend for good, so its connection is closed. Before, it stayed open,
    // out of close()'s reach, reconnecting for good, and its process never exited.
    const jsm = await jetstreamManager(nc).catch(async (error: unknown) => {
      await nc.close().catch(() => {});
      throw error;
    });
    return { nc, js: jetstream(nc), jsm };
  })();
  // Connection failures surface through the calls that await it; this only silences the unawaited copy.
  let connected = false;
  clients.then(
    () => {
      connected = true;
    },
    () => {},
  );

  /**
   * ensureStreams makes `queue`'s streams, or brings them up to date; a request that fails rejects
   * with requestFailed(`doing`, …, `code`).
   */
  const ensureStreams = async (
    queue: string,
    doing = `streams of queue "${queue}" not made`,
    code: QueueErrorCode = 'QUEUE_BACKEND',
  ) => {
    if (streams.has(queue)) return;
    const { jsm } = await clients;
    const fail = (request: string) => (cause: unknown) => {
      throw requestFailed(doing, request, cause, code);
    };
    const names = natsNames(queue);
    // The dead-letter stream keeps the retention's letters, the oldest discarded first (DiscardOld).
    const dead = natsDeadLetterLimits(context.deadLetterRetention, duplicateWindow);
    const deadLimits = {
      max_msgs: dead.maxMsgs,
      max_age: nanos(dead.maxAge),
      duplicate_window: nanos(dead.duplicateWindow),
    };
    const add = async (name: string, subject: string, workQueue: boolean) => {
      // The work stream also takes delayed jobs, on subjects naming their due second (delayed.ts).
      const subjects = workQueue ? [subject, delayedPattern(subject)] : [subject];
      const limits = workQueue ? {} : deadLimits;
      try {
        const { config } = await jsm.streams.info(name);
        // A stream made before delayed subjects: without them a delayed publish has no stream.
        const missing = subjects.filter((s) => !config.subjects?.includes(s));
        // A DLQ made before retention, or with another one: JetStream takes new limits in place.
        const changed = Object.entries(limits).some(
          ([key, value]) => config[key as keyof typeof limits] !== value,
        );
        if (missing.length > 0 || changed)
          await jsm.streams
            .update(name, {
              subjects: [...(config.subjects ?? []), ...missing],
              ...limits,
            })
            .catch(fail(`stream update of ${name} (subjects ${subjects.join(', ')})`));
      } catch (error) {
        if (error instanceof QueueError) throw error;
        if (!isNotFound(error)) fail(`stream info of ${name}`)(error);
        await jsm.streams
          .add({
            name,
            subjects,
            retention: workQueue ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
            storage: StorageType.File,
            duplicate_window: nanos(duplicateWindow),
            ...limits,
          })
          .catch(fail(`stream add of ${name} (subjects ${subjects.join(', ')})`));
      }
    };
    await add(names.stream, names.subject, true);
    await add(names.dlqStream, names.dlqSubject, false);
    streams.add(queue);
  };

  const ensureConsumer = async (queue: string, opts: ConsumeOptions, doing: string) => {
    const { jsm } = await clients;
    const { stream } = natsNames(queue);
    const fail = (request: string) => (cause: unknown) => {
      throw requestFailed(doing, request, cause);
    };
    const maxDeliver = natsMaxDeliver(opts.maxAttempts, opts.maxStalls, margin);
    const ackWait = nanos(opts.stallTimeout);
    try {
      const { config } = await jsm.consumers.info(stream, CONSUMER);
      const update: { max_deliver?: number; ack_wait?: number } = {};
      // A consumer made by an older version, or a worker with fewer retries or stalls, would stop
      // delivering a crash-looping job before this worker could dead-letter it: raise MaxDeliver.
      const current = config.max_deliver ?? -1;
      if (current !== -1 && current < maxDeliver) update.max_deliver = maxDeliver;
      // AckWait is the consumer's, shared by all workers of the queue: the worker started last sets
      // it, so a deploy with a new stallTimeout takes effect (refusing would stall the rollout).
      if (config.ack_wait !== ackWait) update.ack_wait = ackWait;
      if (Object.keys(update).length > 0)
        await jsm.consumers
          .update(stream, CONSUMER, update)
          .catch(fail(`consumer update of ${stream}/${CONSUMER}`));
    } catch (error) {
      if (error instanceof QueueError) throw error;
      if (!isNotFound(error)) fail(`consumer info of ${stream}/${CONSUMER}`)(error);
      await jsm.consumers
        .add(stream, {
          durable_name: CONSUMER,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: ackWait,
          max_deliver: maxDeliver,
          max_ack_pending: -1,
        })
        .catch(fail(`consumer add of ${stream}/${CONSUMER}`));
    }
  };

  /**
   * publishWithRetry publishes until the stream's PubAck, re-sending with the same Nats-Msg-Id until
   * `signal`. A subject no stream takes (`queue`'s streams deleted by `destroy` in another process,
   * or by an operator) gets them made again and the publish sent once more, as a process starting
   * now would: before, this process's cache said they existed, and every publish of the queue was
   * re-sent until publishTimeout, never stored (RabbitMQ and Redis declare theirs again).
   */
  const publishWithRetry = async (
    queue: string,
    subject: string,
    data: Uint8Array,
    msgID: string,
    signal: AbortSignal,
    hdrs?: Record<string, string>,
    refusedFails = false,
  ) => {
    const { js, nc } = await clients;
    let remade = false;
    for (let n = 1; ; n++) {
      try {
        const h = headers();
        for (const [k, v] of Object.entries(hdrs ?? {})) h.set(k, v);
        await js.publish(subject, data, { msgID, headers: h, timeout: 5000 });
        return;
      } catch (error) {
        // The client refuses a message over the server's max_payload before sending it: re-sending
        // cannot help. Before, it was re-sent until publishTimeout and reported as
        // QUEUE_PUBLISH_TIMEOUT ("may still arrive") after 30 s.
        if (error instanceof Error && error.name === 'InvalidArgumentError')
          throw new InvalidArgumentError(
            'payload',
            `job ${msgID} is ${data.length} bytes as sent (headers apart), over the NATS server's max_payload of ${nc.info?.max_payload} (${error.message}; not stored)`,
          );
        // Before, re-sent until publishTimeout and reported as QUEUE_PUBLISH_TIMEOUT ("may still
        // arrive"), though the server had refused it: it never could have been stored.
        if (deniedPublish(error, subject))
          throw new QueueError(
            'QUEUE_PUBLISH_FAILED',
            `nats: job ${msgID} not stored: the server refused its publish to ${subject} (${errorMessage(error)})`,
            { cause: error },
          );
        // Sent, so maybe stored, but no PubAck can come back while the reply inbox is refused, and
        // every retry is refused again: final at once, rather than re-sent until publishTimeout.
        const inbox = deniedInbox(error, inboxPrefix);
        if (inbox)
          throw new QueueError(
            'QUEUE_PUBLISH_FAILED',
            `nats: job ${msgID} not confirmed (it may have been stored): ${deniedInboxText(inbox, inboxPrefix)}`,
            { cause: error },
          );
        // With refusedFails, a stream's refusal (see REFUSALS) is final at once: nothing was stored.
        if (refusedFails && refusedByStream(error)) throw error;
        // The retry carries the same Nats-Msg-Id, so a first copy that did land is not stored twice.
        if (signal.aborted || closed) throw error;
        if (noStreamTakes(error) && !remade) {
          remade = true;
          streams.delete(queue);
          try {
            await ensureStreams(queue);
          } catch (cause) {
            throw new QueueError(
              'QUEUE_PUBLISH_FAILED',
              `nats: no stream takes ${subject}, and making ${natsNames(queue).stream} again failed: ${(cause as Error).message}`,
              { cause },
            );
          }
          continue;
        }
        await new Promise((r) => setTimeout(r, backoffDelay(n, context.reconnect, context.random)));
      }
    }
  };

  return {
    name: 'nats',

    async publish(envelope, delay, signal) {
      // The connection's first JetStream request (jetstreamManager's account info) is refused its
      // reply inbox before any publish is sent. Before, that failed every publish as QUEUE_PUBLISH_FAILED
      // "job … not stored", the refusal and the inbox only in its cause.
      const notStored = `job ${envelope.id} not stored`;
      await ensureStreams(envelope.queue, notStored, 'QUEUE_PUBLISH_FAILED').catch((error: unknown) => {
        const inbox = deniedInbox(error, inboxPrefix);
        if (!inbox) throw error;
        throw new QueueError(
          'QUEUE_PUBLISH_FAILED',
          `nats: ${notStored}: ${deniedInboxText(inbox, inboxPrefix)}`,
          { cause: error },
        );
      });
      const notBefore = Date.now() + delay;
      const hdrs = delay > 0 ? { [NOT_BEFORE]: String(notBefore) } : undefined;
      const { subject } = natsNames(envelope.queue);
      await publishWithRetry(
        envelope.queue,
        delay > 0 ? delayedSubject(subject, notBefore) : subject,
        encoder.encode(JSON.stringify(envelope)),
        envelope.id,
        signal,
        hdrs,
      );
    },

    async consume(queue, opts) {
      const doing = `worker of queue "${queue}" not started`;
      await ensureStreams(queue, doing);
      await ensureConsumer(queue, opts, doing);
      return startConsumer(queue, opts);
    },

    async depth(queue) {
      const { jsm } = await clients;
      await ensureStreams(queue, `depth of queue "${queue}" not read`);
      return readNatsDepth(jsm, queue, { consumer: CONSUMER });
    },

    async listDeadLetters(queue, limit) {
      const { jsm } = await clients;
      const doing = `dead letters of queue "${queue}" not listed`;
      await ensureStreams(queue, doing);
      const { dlqStream, dlqSubject } = natsNames(queue);
      const { state } = await jsm.streams
        .info(dlqStream)
        .catch((cause: unknown) =>
          Promise.reject(requestFailed(doing, `stream info of ${dlqStream}`, cause)),
        );
      const out: DeadLetter[] = [];
      // Each read asks for the first letter at or after `seq` (next_by_subj), so the gaps that
      // retried, purged or retention-dropped letters leave cost nothing. Before, every sequence
      // number from first to last was fetched one by one, each deleted one an empty round trip
      // (and a failed fetch was skipped as if deleted). null: no letter past `seq`.
      for (let seq = state.first_seq; out.length < limit && state.messages > 0; ) {
        // The server's message get takes next_by_subj (nats-server 2.9+); the client types it
        // for the direct get alone, which needs allow_direct on the stream (ours predate it).
        const next: NextMsgRequest = { seq, next_by_subj: dlqSubject };
        const msg = await jsm.streams
          .getMessage(dlqStream, next as unknown as MsgRequest)
          .catch((cause: unknown) =>
            Promise.reject(requestFailed(doing, `message get of ${dlqStream} (from seq ${seq})`, cause)),
          );
        if (!msg) break;
        seq = msg.seq + 1;
        const ref = String(msg.seq);
        const { job, notJob } = readDeadLetterBody(decoder.decode(msg.data), queue, ref);
        out.push({
          ref,
          job,
          ...(notJob === undefined ? {} : { notJob }),
          error: msg.header.get(ERROR),
          ...(msg.header.get(REASON) ? { reason: msg.header.get(REASON) as DeadLetterReason } : {}),
          failedAt: Number(msg.header.get(FAILED_AT)),
        });
      }
      return out;
    },

    async retryDeadLetters(queue, refs) {
      const { jsm } = await clients;
      const names = natsNames(queue);
      const letters = (await this.listDeadLetters(queue, Number.MAX_SAFE_INTEGER)).filter(
        (l) => (refs === undefined || refs.includes(l.ref)) && requeuable(l),
      );
      let moved = 0;
      const kept: string[] = [];
      let refusal: unknown;
      /** Letters whose job the work stream refused to store: they stay, the others go on. */
      const refused: string[] = [];
      let why = '';
      for (const letter of letters) {
        const job = { ...letter.job, attempt: 1, stalls: 0 };
        try {
          // A fresh Nats-Msg-Id: the original id is likely still inside the duplicate window.
          await publishWithRetry(
            queue,
            names.subject,
            encoder.encode(JSON.stringify(job)),
            `${job.id}:dlq-retry:${letter.ref}`,
            AbortSignal.timeout(30_000),
            undefined,
            true,
          );
        } catch (error) {
          if (refusedByStream(error)) {
            refused.push(`${letter.ref} (job ${letter.job.id})`);
            why = error.message;
            continue;
          }
          // Before, the error went up alone: nothing said how many letters had moved already.
          throw new QueueError(
            error instanceof QueueError ? error.code : 'QUEUE_PUBLISH_FAILED',
            `nats: retry of the dead letters of queue "${queue}" stopped at letter ${letter.ref} (${errorMessage(error)}); it and the letters after it stay in ${names.dlqStream}; ${moved} moved`,
            { cause: error },
          );
        }
        moved++;
        const removed = await jsm.streams
          .deleteMessage(names.dlqStream, Number(letter.ref))
          .catch((error) => {
            refusal = error;
            return false;
          });
        if (!removed) kept.push(letter.ref);
      }
      // Re-queued but still listed: retried again, each would be queued again (a duplicate once the
      // retry's Nats-Msg-Id has left JetStream's duplicate window). Before, counted as moved, silently.
      if (kept.length > 0)
        throw new QueueError(
          'QUEUE_BACKEND',
          `${moved} dead letter${moved === 1 ? '' : 's'} re-queued, but letter${kept.length === 1 ? '' : 's'} ${kept.join(', ')} could not be removed from ${names.dlqStream}${refusal === undefined ? '' : ` (${errorMessage(refusal)})`}: still listed, and a retry of ${kept.length === 1 ? 'it' : 'them'} queues the job again`,
          { cause: refusal },
        );
      if (refused.length > 0)
        throw new QueueError(
          'QUEUE_PUBLISH_FAILED',
          `nats: ${names.stream} refused to store ${refused.length} dead letter${refused.length === 1 ? '' : 's'} of queue "${queue}" (${why}; a stream at its max_msgs or max_bytes with DiscardNew refuses so): ${refused.join(', ')} stay${refused.length === 1 ? 's' : ''} in ${names.dlqStream}; ${moved} moved`,
        );
      return moved;
    },

    async purgeDeadLetters(queue) {
      const { jsm } = await clients;
      const doing = `dead letters of queue "${queue}" not purged`;
      await ensureStreams(queue, doing);
      const { dlqStream } = natsNames(queue);
      const { purged } = await jsm.streams
        .purge(dlqStream)
        .catch((cause: unknown) => Promise.reject(requestFailed(doing, `purge of ${dlqStream}`, cause)));
      return purged;
    },

    async destroy(queue) {
      const { jsm } = await clients;
      const names = natsNames(queue);
      for (const name of [names.stream, names.dlqStream]) {
        await jsm.streams.delete(name).catch((error) => {
          if (!isNotFound(error))
            throw requestFailed(`queue "${queue}" not destroyed`, `stream delete of ${name}`, error);
        });
      }
      streams.delete(queue);
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      // Never connected (server unreachable): waiting for it kept close() from returning. The next
      // attempt is not made; one under way is closed if it connects.
      if (!connected) {
        cutWait();
        void clients.then(({ nc }) => nc.close()).catch(() => {});
        return;
      }
      const { nc } = await clients;
      // A drain waits for the server: one that stopped answering would hold close() for good.
      if (!(await settledWithin(nc.drain(), BROKER_GRACE))) await settledWithin(nc.close(), BROKER_GRACE);
    },
  };

  function startConsumer(queue: string, opts: ConsumeOptions): Consumption {
    const names = natsNames(queue);
    const inFlight = new Set<JsMsg>();
    /** Jobs a stopped worker's open pull still brought: handed back once that pull has expired. */
    const held: JsMsg[] = [];
    const loop = new PullLoop({ label: `nats consumer ${queue}`, context, freeSlots: opts.freeSlots });

    const countsOf = (m: JsMsg, envelope: JobEnvelope) => {
      const notBefore = Number(m.headers?.get(NOT_BEFORE) || 0);
      // A delayed job's first delivery is never a run (handle gives it back, early or late), so it
      // is not an attempt. Before, only a delivery before the due time was taken for one, counted
      // as any second delivery of a due job: one first delivered late that stalled ran again as
      // the same attempt, a stall never counted (nats-delayed-stall.test.ts).
      const waited = notBefore > 0 && m.info.deliveryCount > 1;
      return natsDeliveryCounts(
        envelope.attempt,
        envelope.stalls ?? 0,
        m.info.deliveryCount,
        waited,
        opts.maxAttempts,
      );
    };

    /**
     * handBack gives a job back without spending a delivery of it: a nak would, and JetStream counts
     * every delivery toward MaxDeliver and the attempts. The job is published anew with its counts
     * (confirmed: PubAck), then the old copy is acked. Its Nats-Msg-Id is new, so the duplicate
     * window that still holds the job's own id does not drop it; a re-send of this publish keeps it,
     * so the stream stores the copy once. The copy joins the tail of the stream. A copy that cannot
     * be published falls back to a nak, reported as a QUEUE_BACKEND error (see reportNak).
     */
    /**
     * When the server last surely restarted each message's AckWait: its receipt, then the sending of
     * each heartbeat round the server confirmed in time (see the heartbeat below). On the monotonic
     * clock (performance.now), as the server times AckWait: on Date.now, a step back of the system
     * clock kept the lease held for as long as the step, with the link to the server cut past
     * AckWait, and a retry published then ran as a second copy.
     */
    const leaseFrom = new WeakMap<JsMsg, number>();
    /** leaseAge is how long ago the server last surely held `m` for this worker, ms. */
    const leaseAge = (m: JsMsg) => performance.now() - (leaseFrom.get(m) ?? Number.NEGATIVE_INFINITY);
    /** Messages whose AckWait may have run out: the server may have given them to another worker. */
    const leaseLost = new WeakSet<JsMsg>();
    /**
     * leaseHeld says whether `m` is surely still this worker's: AckWait (stallTimeout) runs from
     * leaseFrom, and a third of it is kept for the publish and ack that follow. Past that (the
     * server unreachable, partitioned, or this process too busy to send heartbeats) the server may
     * have delivered it to another worker, and a retry, hand-back or dead letter published now was
     * a second copy: measured with the link to the server paused past AckWait, the job ran three
     * times (here, redelivered elsewhere, then the retry). A lease lost stays lost: a heartbeat
     * the server reads later does not bring the job back from the worker it went to.
     */
    const leaseHeld = (m: JsMsg) => !leaseLost.has(m) && leaseAge(m) < (opts.stallTimeout * 2) / 3;
    /** silence is what a refusal says: how long the server has not surely held `m` for this worker. */
    const silence = (m: JsMsg) =>
      leaseLost.has(m)
        ? `its AckWait (stallTimeout ${opts.stallTimeout} ms) ran out unrenewed while the link was down or the process busy`
        : `no word from the server for ${Math.round(leaseAge(m))} ms (stallTimeout ${opts.stallTimeout})`;

    /**
     * reportNak says a hand-back or retry fell back to a nak because its publish failed: the job is
     * not lost (the nak, or AckWait, delivers it again), but the nak costs what the publish avoids.
     */
    const reportNak = (message: string, cause: unknown) =>
      context.onError(new QueueError('QUEUE_BACKEND', `nats consumer ${queue}: ${message}`, { cause }));

    const handBack = async (m: JsMsg, job: JobEnvelope) => {
      // Perhaps redelivered already: a copy would be a second job. AckWait returns it if not.
      if (!leaseHeld(m)) return;
      const notBefore = Number(m.headers?.get(NOT_BEFORE) || 0);
      const delayed = notBefore > Date.now();
      const hdrs = delayed ? { [NOT_BEFORE]: String(notBefore) } : undefined;
      const subject = delayed ? delayedSubject(names.subject, notBefore) : names.subject;
      try {
        await publishWithRetry(
          queue,
          subject,
          encoder.encode(JSON.stringify(job)),
          `${job.id}:back:${m.seq}`,
          AbortSignal.timeout(HANDBACK_TIMEOUT),
          hdrs,
        );
      } catch (error) {
        // No broker to publish to, or one refusing the copy: the nak returns it as before (one
        // delivery spent), and if that is lost too, AckWait does. Before, silently: nothing said the
        // job's next run would count one attempt more than it had made.
        m.nak();
        reportNak(
          `job ${job.id} handed back with a nak: its copy could not be published to ${subject} (${errorMessage(error)}); the nak spends one of its deliveries, so its next run counts as attempt ${job.attempt + 1}, not ${job.attempt}, toward retries and MaxDeliver`,
          error,
        );
        return;
      }
      await m.ackAck();
    };

    /**
     * retryLater publishes the job's next attempt as a delayed job (on its due-second subject, see
     * nats/delayed.ts), confirmed, then acks this copy. A nak with the delay kept the job on the
     * queue's own subject, unacked, so backlog readings counted a retry waiting out its backoff as
     * pending, and a group scaled out for jobs that could not run yet. The Nats-Msg-Id names this
     * stream message, so a re-sent publish stores the copy once. No broker to publish to, or one
     * refusing the copy: the nak keeps the job (counted as pending, as before), reported as a
     * QUEUE_BACKEND error; if the nak is lost too, AckWait returns the job.
     */
    const retryLater = async (m: JsMsg, job: JobEnvelope, delay: number) => {
      if (!leaseHeld(m))
        throw new QueueError(
          'QUEUE_ACK_FAILED',
          `nats: job ${job.id} not retried: ${silence(m)}, so it may run elsewhere already; AckWait returns it otherwise`,
        );
      const notBefore = Date.now() + delay;
      const subject = delay > 0 ? delayedSubject(names.subject, notBefore) : names.subject;
      try {
        await publishWithRetry(
          queue,
          subject,
          encoder.encode(JSON.stringify(job)),
          `${job.id}:retry:${m.seq}`,
          AbortSignal.timeout(HANDBACK_TIMEOUT),
          delay > 0 ? { [NOT_BEFORE]: String(notBefore) } : undefined,
        );
      } catch (error) {
        m.nak(delay);
        // Before, silently: the retry is not lost, but nothing said why it counted as pending.
        reportNak(
          `retry of job ${job.id} (attempt ${job.attempt}) kept on ${names.subject} with a nak${delay > 0 ? ` of ${delay} ms` : ''}: its copy could not be published to ${subject} (${errorMessage(error)})${delay > 0 ? '; until it is due, backlog readings count it as pending' : ''}`,
          error,
        );
        return;
      }
      await m.ackAck();
    };

    const deliveryFor = (m: JsMsg, envelope: JobEnvelope, malformed?: string): Delivery => {
      inFlight.add(m);
      if (!leaseFrom.has(m)) leaseFrom.set(m, performance.now());
      const { attempt, stalls } = countsOf(m, envelope);
      const settled = <T>(p: Promise<T>) => p.finally(() => inFlight.delete(m));
      return {
        envelope,
        attempt,
        stalls,
        ...(malformed === undefined ? {} : { malformed }),
        ack: () => settled(m.ackAck().then(() => undefined)),
        retry: (delay) => settled(retryLater(m, { ...envelope, attempt: attempt + 1, stalls }, delay)),
        deadLetter: (error, reason) =>
          settled(
            (async () => {
              // As for a retry: perhaps run elsewhere already (completed there, or to be dead-lettered
              // by that worker). Before, the letter was written all the same: a dead letter of a job
              // that completed, which a dlq retry ran again.
              if (!leaseHeld(m))
                throw new QueueError(
                  'QUEUE_ACK_FAILED',
                  `nats: job ${envelope.id} not dead-lettered: ${silence(m)}, so it may run elsewhere already; AckWait returns it otherwise`,
                );
              // Through publishWithRetry, so a dead-letter stream deleted meanwhile is made again.
              await publishWithRetry(
                queue,
                names.dlqSubject,
                encoder.encode(JSON.stringify({ ...envelope, attempt, stalls })),
                `${envelope.id}:dlq:${m.seq}`,
                AbortSignal.timeout(HANDBACK_TIMEOUT),
                {
                  [ERROR]: error.replace(/[\r\n]+/g, ' ').slice(0, 4000),
                  [REASON]: reason,
                  [FAILED_AT]: String(Date.now()),
                },
              );
              await m.ackAck();
            })(),
          ),
        release: () => settled(handBack(m, { ...envelope, attempt, stalls })),
      };
    };

    const decode = (m: JsMsg) => decodeEnvelope(decoder.decode(m.data), queue, `${names.stream}:${m.seq}`);

    const handle = (m: JsMsg) => {
      const notBefore = Number(m.headers?.get(NOT_BEFORE) || 0);
      const wait = notBefore - Date.now();
      if (wait > 0) {
        m.nak(wait);
        return;
      }
      // First delivered after it was due (no worker pulled meanwhile: a group scaled to zero, all
      // slots busy): given back at once, as one delivered early is given back to wait. So every
      // delayed job spends its first delivery unrun, and a redelivery after a stall counts.
      if (notBefore > 0 && m.info.deliveryCount === 1) {
        m.nak();
        return;
      }
      const { envelope, problem } = decode(m);
      opts.deliver(deliveryFor(m, envelope, problem));
    };

    const handBackHeld = async () => {
      for (const m of held.splice(0)) {
        const { envelope, problem } = decode(m);
        if (problem !== undefined) {
          // Not a job: the worker dead-letters it (a hand-back would publish its stand-in as a job).
          inFlight.delete(m);
          opts.deliver(deliveryFor(m, envelope, problem));
          continue;
        }
        const { attempt, stalls } = countsOf(m, envelope);
        await handBack(m, { ...envelope, attempt, stalls }).finally(() => inFlight.delete(m));
      }
    };

    const consumeUntilStopped = async () => {
      const { js, jsm } = await clients;
      let consumer = await js.consumers.get(names.stream, CONSUMER);
      /**
       * After a failed pull: a stream or consumer deleted under the worker (`destroy` in another
       * process, an operator) is made again, as a worker starting now would. Before, the worker
       * pulled from the deleted consumer for good ("consumer deleted", then "heartbeats missed"
       * every second) and ran no job again; RabbitMQ and Redis workers declare theirs again.
       */
      const remake = async () => {
        const exists = await jsm.consumers.info(names.stream, CONSUMER).then(
          () => true,
          (error) => {
            if (isNotFound(error)) return false;
            throw error;
          },
        );
        if (exists || loop.stopped) return;
        streams.delete(queue);
        const doing = `consumer of queue "${queue}" not made again`;
        await ensureStreams(queue, doing);
        await ensureConsumer(queue, opts, doing);
        consumer = await js.consumers.get(names.stream, CONSUMER);
      };
      try {
        await loop.run(
          async (free) => {
            const batch = await consumer.fetch({ max_messages: free, expires: FETCH_EXPIRES });
            for await (const m of batch) {
              if (!loop.stopped) {
                handle(m);
                continue;
              }
              // Published anew only after this request expired, so the request does not take it again.
              inFlight.add(m);
              leaseFrom.set(m, performance.now());
              held.push(m);
            }
            loop.succeeded();
          },
          () =>
            remake().catch((cause) =>
              context.onError(
                new QueueError(
                  'QUEUE_BACKEND',
                  `nats consumer ${queue}: cannot make its stream and consumer again`,
                  { cause },
                ),
              ),
            ),
        );
      } finally {
        await handBackHeld();
      }
    };

    const heartbeat = setInterval(
      () => {
        const round = [...inFlight];
        for (const m of round) m.working();
        if (round.length > 0) {
          const sent = performance.now();
          void clients
            .then(({ nc }) => nc.flush())
            .then(
              () => {
                // The server read this round by now. In time, AckWait restarted at its reading (after
                // `sent`). Late, the lease may have run out before: the job may be another
                // worker's, whatever the server does with this round. Before, any confirmed round
                // renewed every lease: once a cut link was back, the job counted as held again
                // although it had been given away meanwhile, and a retry ran it a third time.
                for (const m of round) {
                  if (leaseLost.has(m)) continue;
                  if (leaseAge(m) < opts.stallTimeout)
                    leaseFrom.set(m, Math.max(leaseFrom.get(m) ?? Number.NEGATIVE_INFINITY, sent));
                  else leaseLost.add(m);
                }
              },
              () => {},
            );
        }
        if (loop.stopped && inFlight.size === 0) clearInterval(heartbeat);
      },
      Math.max(50, Math.floor(opts.stallTimeout / 3)),
    );
    heartbeat.unref();
    timers.add(heartbeat);
    const done = consumeUntilStopped().catch((error) =>
      context.onError(new QueueError('QUEUE_BACKEND', `nats consumer ${queue} stopped`, { cause: error })),
    );
    let stopping: Promise<void> | undefined;
    return {
      wake: () => loop.wake(),
      stop() {
        stopping ??= (async () => {
          loop.stop();
          // The open pull request runs to its expiry (at most FETCH_EXPIRES) and what it brings is
          // handed back. Stopping it early would only unsubscribe here: the server keeps the request
          // and sends a job published meanwhile to no one, where it waits out AckWait (stallTimeout).
          await done;
        })();
        return stopping;
      },
    };
  }
}
