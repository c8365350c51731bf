/**
 * Exponentially weighted least squares over a few features, as plain numbers (persisted as is):
 * the forecaster's way of combining its smoothers. Pure.
 *
 *   fold:  gram ← decay × gram + x xᵀ, moments ← decay × moments + x y
 *   solve: (gram + λ I) w = moments + λ prior, λ = ridge × mean diagonal of gram
 *
 * Why a ridge towards a prior: the features (averages of the same load at different speeds) are
 * nearly collinear, and a group whose load never moves makes them exactly so. The prior is what
 * the forecaster would use alone, so a short or flat history falls back to it instead of to noise.
 */

/** Regression is the decayed normal equations of one least-squares fit. */
export interface Regression {
  /** Row-major p × p: the weighted sum of x xᵀ. */
  gram: number[];
  /** The weighted sum of x y. */
  moments: number[];
}

/** emptyRegression has no observations over `p` features. */
export function emptyRegression(p: number): Regression {
  return { gram: new Array<number>(p * p).fill(0), moments: new Array<number>(p).fill(0) };
}

/** foldObservation decays what was learnt and adds one observation (features x, target y). */
export function foldObservation(r: Regression, x: readonly number[], y: number, decay: number): Regression {
  const p = x.length;
  const gram = r.gram.map((g, k) => g * decay + x[Math.floor(k / p)]! * x[k % p]!);
  const moments = r.moments.map((m, i) => m * decay + x[i]! * y);
  return { gram, moments };
}

/** solveRegression returns the weights, shrunk towards `prior` by `ridge` (relative to the data). */
export function solveRegression(r: Regression, prior: readonly number[], ridge: number): number[] {
  const p = prior.length;
  let trace = 0;
  for (let i = 0; i < p; i++) trace += r.gram[i * p + i]!;
  const lambda = ridge * (trace / p) + 1e-9;
  // Gaussian elimination with partial pivoting on [gram + λI | moments + λ prior].
  const a = Array.from({ length: p }, (_, i) => {
    const row = r.gram.slice(i * p, i * p + p);
    row[i] = row[i]! + lambda;
    row.push(r.moments[i]! + lambda * prior[i]!);
    return row;
  });
  for (let col = 0; col < p; col++) {
    let pivot = col;
    for (let i = col + 1; i < p; i++) if (Math.abs(a[i]![col]!) > Math.abs(a[pivot]![col]!)) pivot = i;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const d = a[col]![col]!;
    for (let i = col + 1; i < p; i++) {
      const f = a[i]![col]! / d;
      if (f === 0) continue;
      for (let k = col; k <= p; k++) a[i]![k] = a[i]![k]! - f * a[col]![k]!;
    }
  }
  const w = new Array<number>(p).fill(0);
  for (let i = p - 1; i >= 0; i--) {
    let s = a[i]![p]!;
    for (let k = i + 1; k < p; k++) s -= a[i]![k]! * w[k]!;
    w[i] = s / a[i]![i]!;
  }
  return w.every(Number.isFinite) ? w : [...prior];
}

/** predict is w · x. */
export function predict(w: readonly number[], x: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += w[i]! * x[i]!;
  return s;
}
