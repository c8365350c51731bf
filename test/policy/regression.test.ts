import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyRegression, foldObservation, predict, solveRegression } from '../../src/policy/regression.js';

function seeded(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('decayed least squares', () => {
  it('recovers the weights of a noiseless linear target', () => {
    const rand = seeded(5);
    let r = emptyRegression(3);
    for (let i = 0; i < 200; i++) {
      const x = [10 * rand(), 10 * rand(), 1];
      r = foldObservation(r, x, 2 * x[0]! - x[1]! + 3, 0.999);
    }
    const w = solveRegression(r, [0, 0, 0], 1e-9);
    const want = [2, -1, 3];
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(w[i]! - want[i]!) < 1e-4, `weights ${w.join(', ')}`);
  });

  it('falls back to the prior without data, and stays finite on identical features', () => {
    assert.deepEqual(solveRegression(emptyRegression(3), [0, 1, 0], 1e-3), [0, 1, 0]);
    let r = emptyRegression(3);
    for (let i = 0; i < 100; i++) r = foldObservation(r, [5, 5, 1], 5, 0.99);
    const w = solveRegression(r, [1, 0, 0], 1e-3);
    assert.ok(w.every(Number.isFinite), w.join(', '));
    assert.ok(Math.abs(predict(w, [5, 5, 1]) - 5) < 1e-3, `predicts ${predict(w, [5, 5, 1])}`);
  });

  it('forgets: after the target changes, the newer relation wins', () => {
    let r = emptyRegression(2);
    for (let i = 0; i < 500; i++) r = foldObservation(r, [i % 7, 1], 3 * (i % 7), 0.98);
    for (let i = 0; i < 500; i++) r = foldObservation(r, [i % 7, 1], -(i % 7), 0.98);
    const w = solveRegression(r, [0, 0], 1e-6);
    assert.ok(Math.abs(w[0]! + 1) < 1e-3, `slope ${w[0]}`);
  });
});
