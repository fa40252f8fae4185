/**
 * `fanctl policy watch` and the agent's policy-watch service: keeps this host's policy equal to one document in a
 * store (etcd). The decisions are the pure state machine of src/core/policy/watch.ts; this file feeds it the
 * store's events and the outcome of each `applyPolicyText` (one nft transaction; a document that does not parse or
 * fit this host changes nothing and is refused), logs what it says, and keeps `<stateDir>/policy/watch.json`
 * current for `fanctl policy show`. The publish side validates a document before it is put.
 */
import { ConfigError, errorMessage } from '../core/errors.js';
import { parsePolicy } from '../core/policy/parse.js';
import {
  DEFAULT_WATCH_TIMING,
  INITIAL_WATCH_STATE,
  type WatchEvent,
  type WatchState,
  type WatchTiming,
  describeWatch,
  nextStep,
  startApply,
  watchStep,
} from '../core/policy/watch.js';
import type { PolicySource, PolicySourceWatch } from '../ports/policy-source.js';
import { PolicyStateStore } from '../store/policy-state.js';
import { writePolicyWatchFile } from '../store/policy-watch-state.js';
import { type ApplyReport, type PolicyDeps, applyPolicyText } from './policy.js';

export interface PolicyWatchOptions {
  readonly timing?: WatchTiming;
  /** Applies one document; default: `applyPolicyText` (tests replace it). */
  readonly apply?: (text: string, source: string) => Promise<Pick<ApplyReport, 'hash'>>;
  readonly now?: () => number;
  /** Where the watcher's own lines go (default: `deps.log`); a service logs always, not only when verbose. */
  readonly log?: (line: string) => void;
}

export interface RunningPolicyWatch {
  readonly description: string;
  state(): WatchState;
  /** Resolves once the watcher is idle (nothing pending or being applied); for tests. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export function startPolicyWatch(
  deps: PolicyDeps,
  source: PolicySource,
  options: PolicyWatchOptions = {},
): RunningPolicyWatch {
  const timing = options.timing ?? DEFAULT_WATCH_TIMING;
  const now = options.now ?? Date.now;
  const apply = options.apply ?? ((text: string, label: string) => applyPolicyText(deps, text, label));
  const startedAt = new Date(now()).toISOString();
  const sink = options.log ?? deps.log;
  const log = (line: string): void => sink(`policy watch: ${line}`);
  let state = INITIAL_WATCH_STATE;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  let idleWaiters: (() => void)[] = [];
  // Status writes one after the other, the last one winning.
  let statusChain: Promise<void> = Promise.resolve();

  const writeStatus = (running: boolean): Promise<void> => {
    const snapshot = describeWatch(state);
    statusChain = statusChain
      .then(() =>
        writePolicyWatchFile(deps.paths.stateDir, {
          version: 1,
          pid: process.pid,
          source: source.description,
          startedAt,
          updatedAt: new Date(now()).toISOString(),
          running,
          ...snapshot,
        }),
      )
      .catch((error: unknown) => log(`cannot write the watch status: ${errorMessage(error)}`));
    return statusChain;
  };

  const dispatch = (event: WatchEvent): void => {
    const t = watchStep(state, event, timing);
    state = t.state;
    for (const line of t.log) log(line);
    if (!stopped) {
      void writeStatus(true);
      schedule();
    }
  };

  const runApply = async (revision: bigint, text: string): Promise<void> => {
    const label = `${source.description} revision ${revision}`;
    const started = now();
    try {
      const report = await apply(text, label);
      log(
        `revision ${revision}: applied in ${now() - started} ms, ` +
          `${now() - (state.lastChangeAt ?? started)} ms after it arrived`,
      );
      dispatch({ kind: 'applied', at: now(), revision, hash: report.hash });
    } catch (error) {
      const message = errorMessage(error);
      if (error instanceof ConfigError) {
        await recordRefusal(deps, label, message, log);
        dispatch({ kind: 'refused', at: now(), revision, error: message });
      } else {
        dispatch({ kind: 'failed', at: now(), revision, error: message });
      }
    }
  };

  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (stopped) return;
    const step = nextStep(state, now(), timing);
    if (step.kind === 'wait') {
      timer = setTimeout(schedule, step.ms);
    } else if (step.kind === 'apply') {
      state = startApply(state, step.doc.revision);
      const running = runApply(step.doc.revision, step.doc.text); // never rejects
      inFlight = running;
      void running.finally(() => {
        if (inFlight === running) inFlight = undefined;
      });
    } else if (state.applying === undefined) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  const watch: PolicySourceWatch = source.watch({
    document: (doc) => dispatch({ kind: 'document', at: now(), doc }),
    connected: () => dispatch({ kind: 'connected', at: now() }),
    disconnected: (error) => dispatch({ kind: 'disconnected', at: now(), error }),
  });
  log(`watching ${source.description}`);
  void writeStatus(true);

  return {
    description: `keeping the policy equal to ${source.description}`,
    state: () => state,
    async idle() {
      await new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        schedule();
      });
      await statusChain;
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await watch.close();
      await inFlight;
      await source.close();
      await writeStatus(false);
      for (const w of idleWaiters) w();
      log('stopped');
    },
  };
}

/** Notes the refused document in the applied record too (`policy show` prints it with the applied policy). */
async function recordRefusal(
  deps: PolicyDeps,
  source: string,
  error: string,
  log: (line: string) => void,
): Promise<void> {
  const store = new PolicyStateStore(deps.paths.stateDir);
  try {
    const record = await store.readRecord();
    if (record) await store.writeRecord({ ...record, refused: { at: new Date().toISOString(), source, error } });
  } catch (e) {
    log(`cannot record the refusal: ${errorMessage(e)}`);
  }
}

export interface PublishReport {
  readonly source: string;
  readonly revision: string;
  readonly bytes: number;
}

/**
 * `fanctl policy publish FILE`: the document is checked (the same parser every watcher runs) before it is put, so
 * a typo never reaches the fleet. Geometry (index ranges inside each host's slice) is checked by each host.
 */
export async function publishPolicy(source: PolicySource, text: string, file: string): Promise<PublishReport> {
  parsePolicy(text, file);
  try {
    const revision = await source.publish(text);
    return { source: source.description, revision: String(revision), bytes: Buffer.byteLength(text) };
  } finally {
    await source.close();
  }
}
