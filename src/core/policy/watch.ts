/**
 * `fanctl policy watch`: the decisions of a watcher that keeps this host's policy equal to one document in a store
 * (etcd), as a pure state machine. The driver (src/app/policy-watch.ts) feeds it events (connected, disconnected, a
 * document at a revision, the outcome of an apply) and asks `nextStep` what to do now: apply a document, wait, or
 * nothing. Rules:
 * - only the newest revision counts; an older or repeated one (a resync after a reconnect) is ignored;
 * - a burst of changes is applied once, after a quiet moment, but never later than `maxWaitMs` after the first;
 * - a document that does not parse or fit this host is refused: the policy in the kernel stays the last good one,
 *   and the refused revision is not tried again (a new revision is);
 * - any other failure (nft, a lock held too long) is retried with a growing delay;
 * - a deleted key keeps the last good policy (an empty fleet policy is a decision an operator writes down).
 */

export interface WatchTiming {
  /** Apply once no change came for this long. */
  readonly quietMs: number;
  /** …but at most this long after the first change of a burst. */
  readonly maxWaitMs: number;
  /** First retry delay after a failed apply; doubles up to `maxRetryMs`. */
  readonly retryMs: number;
  readonly maxRetryMs: number;
}

export const DEFAULT_WATCH_TIMING: WatchTiming = { quietMs: 100, maxWaitMs: 400, retryMs: 1000, maxRetryMs: 30_000 };

/** A revision of the watched key; `text` is undefined when the key does not exist (deleted, never written). */
export interface WatchedDocument {
  readonly revision: bigint;
  readonly text: string | undefined;
}

export interface WatchState {
  readonly connected: boolean;
  /** Why the last connection attempt or stream failed, while not connected. */
  readonly connectionError?: string;
  /** The newest revision seen. */
  readonly latest?: WatchedDocument;
  /** When the first and the last not yet applied change arrived (ms, the driver's clock). */
  readonly pendingSince?: number;
  readonly lastChangeAt?: number;
  /** The revision being applied now. */
  readonly applying?: bigint;
  /** The last revision applied, and the hash of its policy. */
  readonly good?: { readonly revision: bigint; readonly hash: string; readonly at: number };
  /** The newest revision refused (only while no newer revision was applied). */
  readonly refused?: { readonly revision: bigint; readonly error: string; readonly at: number };
  /** Consecutive failed applies of `latest` (not refusals), and when to try again. */
  readonly failures: number;
  readonly retryAt?: number;
  readonly lastFailure?: string;
}

export const INITIAL_WATCH_STATE: WatchState = { connected: false, failures: 0 };

export type WatchEvent =
  | { readonly kind: 'connected'; readonly at: number }
  | { readonly kind: 'disconnected'; readonly at: number; readonly error: string }
  | { readonly kind: 'document'; readonly at: number; readonly doc: WatchedDocument }
  | { readonly kind: 'applied'; readonly at: number; readonly revision: bigint; readonly hash: string }
  | { readonly kind: 'refused'; readonly at: number; readonly revision: bigint; readonly error: string }
  | { readonly kind: 'failed'; readonly at: number; readonly revision: bigint; readonly error: string };

export interface WatchTransition {
  readonly state: WatchState;
  /** What the watcher's log should say about this event (nothing for the routine ones). */
  readonly log: readonly string[];
}

function isSettled(state: WatchState, revision: bigint): boolean {
  return state.good?.revision === revision || state.refused?.revision === revision;
}

function keepingPolicy(state: WatchState): string {
  return state.good
    ? `keeping policy ${state.good.hash} (revision ${state.good.revision})`
    : 'keeping the policy as it is';
}

/** One event applied to the state. Pure. */
export function watchStep(state: WatchState, event: WatchEvent, timing = DEFAULT_WATCH_TIMING): WatchTransition {
  switch (event.kind) {
    case 'connected': {
      const { connectionError: _gone, ...rest } = state;
      return { state: { ...rest, connected: true }, log: state.connected ? [] : ['connected'] };
    }
    case 'disconnected':
      return {
        state: { ...state, connected: false, connectionError: event.error },
        log:
          state.connected || state.connectionError === undefined ? [`disconnected: ${event.error}; reconnecting`] : [],
      };
    case 'document': {
      const { doc } = event;
      if (state.latest !== undefined && doc.revision <= state.latest.revision) return { state, log: [] };
      const { retryAt: _r, lastFailure: _f, ...rest } = state;
      const next: WatchState = { ...rest, latest: doc, failures: 0 };
      if (doc.text === undefined) {
        const { pendingSince: _p, lastChangeAt: _l, ...idle } = next;
        return { state: idle, log: [`no document at revision ${doc.revision}: ${keepingPolicy(state)}`] };
      }
      return {
        state: { ...next, pendingSince: state.pendingSince ?? event.at, lastChangeAt: event.at },
        log: [],
      };
    }
    case 'applied': {
      const { applying: _a, refused, retryAt: _r, lastFailure: _f, ...rest } = state;
      const done = state.latest?.revision === event.revision;
      const next: WatchState = {
        ...rest,
        ...(refused !== undefined && refused.revision > event.revision ? { refused } : {}),
        good: { revision: event.revision, hash: event.hash, at: event.at },
        failures: 0,
      };
      const changed = state.good?.hash !== event.hash;
      const line = `revision ${event.revision}: policy ${event.hash} ${changed ? 'applied' : 'unchanged'}`;
      return { state: done ? clearPending(next) : next, log: [line] };
    }
    case 'refused': {
      const { applying: _a, retryAt: _r, lastFailure: _f, ...rest } = state;
      const next: WatchState = {
        ...rest,
        refused: { revision: event.revision, error: event.error, at: event.at },
        failures: 0,
      };
      return {
        state: state.latest?.revision === event.revision ? clearPending(next) : next,
        log: [`revision ${event.revision} refused: ${event.error}; ${keepingPolicy(state)}`],
      };
    }
    case 'failed': {
      const { applying: _a, ...rest } = state;
      const failures = state.failures + 1;
      const delay = Math.min(timing.retryMs * 2 ** (failures - 1), timing.maxRetryMs);
      return {
        state: { ...rest, failures, retryAt: event.at + delay, lastFailure: event.error },
        log: [`revision ${event.revision} not applied: ${event.error}; trying again in ${delay} ms`],
      };
    }
  }
}

function clearPending(state: WatchState): WatchState {
  const { pendingSince: _p, lastChangeAt: _l, ...rest } = state;
  return rest;
}

export type WatchAction =
  | { readonly kind: 'apply'; readonly doc: WatchedDocument & { readonly text: string } }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'idle' };

/** What to do at `now`. Pure. */
export function nextStep(state: WatchState, now: number, timing = DEFAULT_WATCH_TIMING): WatchAction {
  const doc = state.latest;
  if (state.applying !== undefined || doc === undefined || doc.text === undefined) return { kind: 'idle' };
  if (isSettled(state, doc.revision)) return { kind: 'idle' };
  const due = Math.max(
    state.retryAt ?? 0,
    Math.min((state.lastChangeAt ?? now) + timing.quietMs, (state.pendingSince ?? now) + timing.maxWaitMs),
  );
  if (due > now) return { kind: 'wait', ms: due - now };
  return { kind: 'apply', doc: { revision: doc.revision, text: doc.text } };
}

/** Marks `revision` as being applied (the driver calls this right before it applies). */
export function startApply(state: WatchState, revision: bigint): WatchState {
  return { ...state, applying: revision };
}

/** The state for `policy show` and the status file: revisions as decimal strings, times as ISO strings. */
export interface WatchStatus {
  readonly connected: boolean;
  readonly connectionError?: string;
  readonly revision?: string;
  readonly deleted?: boolean;
  readonly pending?: boolean;
  readonly appliedRevision?: string;
  readonly appliedHash?: string;
  readonly refused?: { readonly revision: string; readonly error: string; readonly at: string };
  readonly lastFailure?: string;
}

export function describeWatch(state: WatchState): WatchStatus {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const doc = state.latest;
  return {
    connected: state.connected,
    ...(state.connectionError !== undefined ? { connectionError: state.connectionError } : {}),
    ...(doc !== undefined ? { revision: String(doc.revision) } : {}),
    ...(doc !== undefined && doc.text === undefined ? { deleted: true } : {}),
    ...(doc?.text !== undefined && !isSettled(state, doc.revision) ? { pending: true } : {}),
    ...(state.good ? { appliedRevision: String(state.good.revision), appliedHash: state.good.hash } : {}),
    ...(state.refused
      ? {
          refused: {
            revision: String(state.refused.revision),
            error: state.refused.error,
            at: iso(state.refused.at),
          },
        }
      : {}),
    ...(state.lastFailure !== undefined ? { lastFailure: state.lastFailure } : {}),
  };
}
