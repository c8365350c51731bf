// The RabbitMQ backend publishes until the broker confirms, trying again with backoff until the
// caller's signal gives up. Each attempt raced its connect against that signal through an 'abort'
// listener it never removed: a publish the broker kept refusing left one listener per attempt on
// the signal (and a confirmed publish one), and past ten Node printed MaxListenersExceededWarning.
// The broker refuses through a policy on this test's work queue alone (max-length 0,
// reject-publish), so every attempt is nacked until the caller gives up. The backend is driven
// directly, as the Queue does, so the test owns the signal and can count its listeners.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, test } from 'node:test';
import { DEFAULT_DEAD_LETTER_RETENTION, type JobEnvelope } from '../../src/queue/index.js';
import { createRabbitBackend } from '../../src/queue/rabbitmq/backend.js';
import { until } from '../helpers/until.js';
import { backendOptions, uniqueName } from './helpers.js';
import { deletePolicy, setPolicy } from './rabbitmq-admin.js';

/** Attempts refused before the listeners are counted: past Node's default of 10 per event. */
const REFUSALS = 15;

const envelope = (queue: string, id: string): JobEnvelope => ({
  id,
  queue,
  payload: id,
  attempt: 1,
  publishedAt: Date.now(),
});

/**
 * refusedBackend is a RabbitMQ backend that backs off `backoff` ms between attempts and calls
 * `onRepublish` as each refused attempt ends.
 */
function refusedBackend(backoff: number, onRepublish: () => void) {
  const { url, queueType } = backendOptions('rabbitmq') as { url: string; queueType?: 'classic' };
  return createRabbitBackend(
    { url, ...(queueType ? { queueType } : {}) },
    {
      reconnect: { initial: backoff, factor: 1, max: backoff, jitter: 0 },
      deadLetterRetention: DEFAULT_DEAD_LETTER_RETENTION,
      random: Math.random,
      publishTimeout: 30_000,
      onError: () => {},
      onConnection: () => {},
      onRepublish,
    },
  );
}

test('a publish the broker keeps refusing leaves no abort listener per attempt on its signal (RabbitMQ)', async () => {
  const name = uniqueName('abort-listeners');
  const policy = `${name}-refuse`;
  let refused = 0;
  let countedAt!: (listeners: number) => void;
  const counted = new Promise<number>((resolve) => {
    countedAt = resolve;
  });
  const controller = new AbortController();
  // Attempts follow each other closely (5 ms apart): the refusals, not the time, are what is counted.
  const backend = refusedBackend(5, () => {
    // Read as the refused attempt ends, before the next one starts.
    if (++refused === REFUSALS) countedAt(getEventListeners(controller.signal, 'abort').length);
  });
  const warnings: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  after(async () => {
    process.off('warning', onWarning);
    controller.abort();
    await deletePolicy(policy).catch(() => {});
    await backend.destroy(name).catch(() => {});
    await backend.close();
  });

  // Declares the queue, so the policy has one to apply to; a confirmed publish lets go of its signal.
  const first = new AbortController();
  await backend.publish(envelope(name, 'first'), 0, first.signal);
  const leftByConfirmed = getEventListeners(first.signal, 'abort').length;

  await setPolicy(policy, `sp.${name}`, { 'max-length': 0, overflow: 'reject-publish' });
  const refusedPublish = backend.publish(envelope(name, 'refused'), 0, controller.signal);
  const listeners = await counted;
  assert.ok(
    listeners <= 1,
    `${listeners} abort listeners on the signal after ${REFUSALS} refused attempts (at most 1 expected)`,
  );
  // The caller gives up, the other way a publish ends: lifting the policy did not end the refusals
  // (the queue, holding the first job, went on nacking).
  controller.abort(new Error('the caller gives up'));
  const outcome = await refusedPublish.then(
    () => 'confirmed',
    () => 'rejected',
  );
  assert.equal(outcome, 'rejected', 'the publish the broker refused was confirmed');
  assert.equal(
    getEventListeners(controller.signal, 'abort').length,
    0,
    'the publish, given up by its caller, left abort listeners on its signal',
  );
  assert.equal(leftByConfirmed, 0, 'a confirmed publish left abort listeners on its signal');
  // A warning is emitted on the next tick: the awaits above have let it through, had there been one.
  assert.deepEqual(warnings, [], 'Node warned of too many listeners on the signal');
});

test('a publish given up during its backoff ends then, not when the backoff would have (RabbitMQ)', async () => {
  const name = uniqueName('abort-backoff');
  const policy = `${name}-refuse`;
  const controller = new AbortController();
  let refusedOnce!: () => void;
  const refused = new Promise<void>((resolve) => {
    refusedOnce = resolve;
  });
  // A backoff of ten minutes after the first refusal: the caller gives up within it.
  const backend = refusedBackend(600_000, () => refusedOnce());
  after(async () => {
    controller.abort();
    await deletePolicy(policy).catch(() => {});
    await backend.destroy(name).catch(() => {});
    await backend.close();
  });
  await backend.publish(envelope(name, 'first'), 0, new AbortController().signal);
  await setPolicy(policy, `sp.${name}`, { 'max-length': 0, overflow: 'reject-publish' });
  let outcome: string | undefined;
  const publishing = backend.publish(envelope(name, 'refused'), 0, controller.signal).then(
    () => (outcome = 'confirmed'),
    (err: Error) => (outcome = `rejected: ${err.message}`),
  );
  await refused;
  controller.abort(new Error('the caller gives up'));
  await until(() => outcome !== undefined, 10_000, 'the publish settled once its caller gave up').catch(
    (err: Error) => {
      throw new Error(`${err.message}: it still sleeps out its ten-minute backoff`);
    },
  );
  await publishing;
  assert.match(outcome!, /^rejected: /, 'the publish the broker refused was not confirmed');
  assert.doesNotMatch(
    outcome!,
    /aborted|AbortError/i,
    'it rejects with why the publish failed, not the abort',
  );
});
