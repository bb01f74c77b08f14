/**
 * Which nodes connected to this coordinator hold which blobs (their `have` frames), so that a
 * lease can name peers for its inputs. In memory, per coordinator: a peer is named only while
 * its socket is open here, which is what the coordinator can vouch for; with several
 * coordinators a node is named by the one it is connected to. A holder names at most
 * `perHolderMax` blobs (a node's cache, not a flood); picking is a random sample, so the load
 * spreads over the holders.
 */
export class BlobHolders<T> {
  #byBlob = new Map<string, Set<T>>();
  #byHolder = new Map<T, Set<string>>();

  constructor(readonly perHolderMax = 10_000) {}

  add(holder: T, blobs: string[]) {
    const held = this.#byHolder.get(holder) ?? new Set<string>();
    this.#byHolder.set(holder, held);
    for (const sha of blobs) {
      if (held.size >= this.perHolderMax) break;
      held.add(sha);
      const holders = this.#byBlob.get(sha) ?? new Set<T>();
      holders.add(holder);
      this.#byBlob.set(sha, holders);
    }
  }

  drop(holder: T, blobs: string[]) {
    const held = this.#byHolder.get(holder);
    for (const sha of blobs) {
      held?.delete(sha);
      const holders = this.#byBlob.get(sha);
      holders?.delete(holder);
      if (holders?.size === 0) this.#byBlob.delete(sha);
    }
  }

  /** A holder gone (its socket closed). */
  forget(holder: T) {
    this.drop(holder, [...(this.#byHolder.get(holder) ?? [])]);
    this.#byHolder.delete(holder);
  }

  /** Up to `n` holders of `sha` other than `except` that `usable` accepts, drawn at random from the first 64. */
  pick(sha: string, except: T, n: number, usable: (holder: T) => boolean = () => true): T[] {
    const candidates: T[] = [];
    for (const h of this.#byBlob.get(sha) ?? []) {
      if (h !== except && usable(h)) candidates.push(h);
      if (candidates.length >= 64) break;
    }
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    }
    return candidates.slice(0, n);
  }

  holds(holder: T, sha: string): boolean {
    return this.#byHolder.get(holder)?.has(sha) ?? false;
  }

  holding(holder: T): number {
    return this.#byHolder.get(holder)?.size ?? 0;
  }
}
