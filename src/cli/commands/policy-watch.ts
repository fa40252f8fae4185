/**
 * `fanctl policy watch --etcd URL` and `fanctl policy publish FILE --etcd URL`: one policy for a fleet, kept in
 * etcd. The watcher is an agent service, so `fanctl agent --policy-etcd URL` runs the same code.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type AgentService, runAgent } from '../../agent/agent.js';
import { ConfigError, errorMessage } from '../../core/errors.js';
import type { PolicyDeps } from '../../app/policy.js';
import { publishPolicy, startPolicyWatch } from '../../app/policy-watch.js';
import { DEFAULT_POLICY_KEY, checkEtcdTarget } from '../../etcd/endpoints.js';
import type { PolicySource } from '../../ports/policy-source.js';
import { requireRoot } from '../../kernel/probes.js';
import { type Output, printJson } from '../output.js';

export { DEFAULT_POLICY_KEY };

/** The etcd client is loaded only by the commands that talk to etcd. */
async function etcdSource(etcd: string, key: string): Promise<PolicySource> {
  const { etcdPolicySource } = await import('../../etcd/policy-source.js');
  return etcdPolicySource(etcd, key);
}

/** The watcher as an agent service (`fanctl agent --policy-etcd URL`, and `fanctl policy watch`). */
export function policyWatchService(
  etcd: string,
  key: string,
  deps: () => PolicyDeps,
  log: (line: string) => void,
): AgentService {
  checkEtcdTarget(etcd, key); // a bad URL or key fails before anything starts
  return {
    name: 'policy-watch',
    async start() {
      const watch = startPolicyWatch(deps(), await etcdSource(etcd, key), { log });
      return { description: watch.description, stop: () => watch.stop() };
    },
  };
}

export function registerPolicyWatchCommands(
  policy: Command,
  output: Output,
  policyDeps: () => PolicyDeps,
  untilStopped: () => Promise<string>,
): void {
  policy
    .command('watch')
    .description(
      "keep this host's policy equal to the YAML document at KEY in etcd (v3 watch) until SIGTERM; an invalid " +
        'document is refused and the last good policy stays (see fanctl policy show)',
    )
    .requiredOption('--etcd <urls>', 'etcd endpoints, e.g. http://10.0.0.5:2379 (several: separated by commas)')
    .option('--key <key>', 'the key holding the policy document', DEFAULT_POLICY_KEY)
    .action(async (opts: { etcd: string; key: string }) => {
      requireRoot('fanctl policy watch');
      const deps = policyDeps();
      const log = (line: string): void => output.err(`fanctl: ${line}\n`);
      await runAgent([policyWatchService(opts.etcd, opts.key, () => deps, log)], untilStopped, log);
    });
  policy
    .command('publish')
    .description('check a policy file and put it at KEY in etcd, where every host running policy watch picks it up')
    .argument('<file>', 'YAML policy file')
    .requiredOption('--etcd <urls>', 'etcd endpoints, e.g. http://10.0.0.5:2379')
    .option('--key <key>', 'the key holding the policy document', DEFAULT_POLICY_KEY)
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts: { etcd: string; key: string; json?: boolean }) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new ConfigError(`cannot read policy file ${file}: ${errorMessage(error)}`, 'pass a YAML policy file');
      }
      const r = await publishPolicy(await etcdSource(opts.etcd, opts.key), text, file);
      if (opts.json) printJson(output, r);
      else output.out(`${file} published to ${r.source} at revision ${r.revision}\n`);
    });
}
