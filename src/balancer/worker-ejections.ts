/** EjectedBackend names a backend that some data-path worker has ejected. */
export interface EjectedBackend {
  readonly group: string;
  readonly id: string;
  readonly address: string;
}

interface Entry extends EjectedBackend {
  readonly workers: Set<number>;
}

/**
 * WorkerEjections is the controller process's view of passive outlier ejections across data-path
 * workers: each worker ejects on its own traffic, so one failing instance is ejected by several
 * workers, each at its own moment. What the journal and alerts want is the instance's state — out
 * of rotation somewhere, or back everywhere — so `eject` says when the first worker took it out and
 * `recover` when the last one let it back; the transitions in between are the same event seen
 * again. State only: no clock, no I/O.
 */
export class WorkerEjections {
  readonly #entries = new Map<string, Entry>();

  /** eject records that `worker` ejected a backend; true when no worker had it ejected before. */
  eject(backend: EjectedBackend, worker: number): boolean {
    const key = keyOf(backend.group, backend.id);
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.workers.add(worker);
      return false;
    }
    const { group, id, address } = backend;
    this.#entries.set(key, { group, id, address, workers: new Set([worker]) });
    return true;
  }

  /** recover records that `worker` let a backend back; true when no worker has it ejected any more. */
  recover(group: string, id: string, worker: number): boolean {
    const key = keyOf(group, id);
    const entry = this.#entries.get(key);
    if (entry === undefined || !entry.workers.delete(worker)) return false;
    if (entry.workers.size > 0) return false;
    this.#entries.delete(key);
    return true;
  }

  /**
   * workerGone drops the ejections of a worker that exited (its replacement starts with none) and
   * returns the backends no worker has ejected any more: they are back in rotation everywhere.
   */
  workerGone(worker: number): EjectedBackend[] {
    const back: EjectedBackend[] = [];
    for (const [key, entry] of this.#entries) {
      if (!entry.workers.delete(worker) || entry.workers.size > 0) continue;
      this.#entries.delete(key);
      back.push({ group: entry.group, id: entry.id, address: entry.address });
    }
    return back;
  }

  /** forget drops a backend that left its group: nothing comes back, so nothing is reported. */
  forget(group: string, id: string): void {
    this.#entries.delete(keyOf(group, id));
  }

  /** forgetGroup drops every backend of a removed group. */
  forgetGroup(group: string): void {
    for (const [key, entry] of this.#entries) if (entry.group === group) this.#entries.delete(key);
  }

  /** ejected says whether any worker has the backend ejected. */
  ejected(group: string, id: string): boolean {
    return this.#entries.has(keyOf(group, id));
  }
}

function keyOf(group: string, id: string): string {
  return `${group}\u0000${id}`;
}
