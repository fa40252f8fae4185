/**
 * /etc/network/fan: one fan per line in the `fanctl up` argument syntax, `#` comments, blank lines, `off`.
 * Pure: takes the text, returns every fan and every error (with line numbers) so one run reports all problems.
 */
import { errorMessage, ConfigError } from '../errors.js';
import { type FanSpec, parseFanWords } from './fan-spec.js';
import { bridgeOfSpec, fanSetConflicts } from './fan-set.js';

export const DEFAULT_FAN_CONFIG = '/etc/network/fan';

export interface FanConfigLine {
  readonly line: number;
  readonly spec: FanSpec;
}

export interface FanConfigProblem {
  readonly line: number;
  readonly message: string;
  readonly hint?: string;
}

export interface FanConfig {
  readonly path: string;
  readonly fans: readonly FanConfigLine[];
  readonly problems: readonly FanConfigProblem[];
}

export function parseFanConfig(text: string, path: string): FanConfig {
  const fans: FanConfigLine[] = [];
  const problems: FanConfigProblem[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const words = content.split(/\s+/);
    // Ubuntu's file may start lines with the verb; accept and skip it.
    if (words[0] === 'up') words.shift();
    try {
      fans.push({ line: index + 1, spec: parseFanWords(words) });
    } catch (error) {
      problems.push({
        line: index + 1,
        message: errorMessage(error),
        ...(error instanceof ConfigError && error.hint !== undefined ? { hint: error.hint } : {}),
      });
    }
  });
  // The fans `up -a` would bring up together must pass the same checks it applies (one function for both).
  const enabled = fans.filter((f) => f.spec.enabled);
  for (const c of fanSetConflicts(enabled.map((f) => ({ overlay: f.spec.overlay, bridge: bridgeOfSpec(f.spec) })))) {
    const first = enabled[c.first] as FanConfigLine;
    const second = enabled[c.second] as FanConfigLine;
    problems.push({
      line: second.line,
      message: `${c.message} (lines ${first.line} and ${second.line})`,
      hint: c.hint,
    });
  }
  problems.sort((a, b) => a.line - b.line);
  return { path, fans, problems };
}

/** Throws one ConfigError listing every problem, each as `FILE:LINE: message`. */
export function requireValidConfig(config: FanConfig): readonly FanConfigLine[] {
  if (config.problems.length > 0) {
    const lines = config.problems.map((p) => `${config.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);
    throw new ConfigError(
      `${config.path} has ${config.problems.length} error${config.problems.length > 1 ? 's' : ''}:\n` +
        `  ${lines.join('\n  ')}`,
      `fix the line${config.problems.length > 1 ? 's' : ''} above; nothing was changed`,
    );
  }
  return config.fans;
}
