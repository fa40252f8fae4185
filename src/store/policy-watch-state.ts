/**
 * `<stateDir>/policy/watch.json`: what `fanctl policy watch` (or the agent's policy-watch service) last knew, for
 * `fanctl policy show`: the source, the revision seen and applied, the revision refused and why. Written atomically
 * by the one watcher of the host; read by anyone.
 */
import { z } from 'zod';
import { readJson, writeJsonAtomic } from './json-file.js';

const watchFileSchema = z.object({
  version: z.literal(1),
  pid: z.number().int(),
  source: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  running: z.boolean(),
  connected: z.boolean(),
  connectionError: z.string().optional(),
  revision: z.string().optional(),
  deleted: z.boolean().optional(),
  pending: z.boolean().optional(),
  appliedRevision: z.string().optional(),
  appliedHash: z.string().optional(),
  refused: z.object({ revision: z.string(), error: z.string(), at: z.string() }).optional(),
  lastFailure: z.string().optional(),
});
export type PolicyWatchFile = z.infer<typeof watchFileSchema>;

export function policyWatchPath(stateDir: string): string {
  return `${stateDir}/policy/watch.json`;
}

export function readPolicyWatchFile(stateDir: string): Promise<PolicyWatchFile | undefined> {
  return readJson(policyWatchPath(stateDir), watchFileSchema.optional(), undefined);
}

export function writePolicyWatchFile(stateDir: string, file: PolicyWatchFile): Promise<void> {
  return writeJsonAtomic(policyWatchPath(stateDir), file);
}
