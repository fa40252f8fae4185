/**
 * What the kernel layer runs: a command line, or one of the few steps that need to look before they act (eBPF maps
 * are found through the device's programs; a shared clsact qdisc is added only when absent; dnsmasq is a daemon).
 * Plain data, so every operation's apply and undo can be rendered and checked without a kernel.
 */
import type { DhcpSpec, OverlayEntry } from '../../core/model/host-state.js';

export type Action =
  | {
      readonly kind: 'run';
      readonly argv: readonly string[];
      readonly input?: string;
      /** stderr (a regular expression) that means "already so": the step counts as done. */
      readonly tolerate?: string;
    }
  | { readonly kind: 'overlay-table'; readonly dev: string; readonly overlays: readonly OverlayEntry[] }
  /** Adds clsact to a device of the host's only when it has none, and records that fan added it. */
  | { readonly kind: 'clsact-add'; readonly dev: string }
  /** Removes clsact from a device of the host's only when fan added it. */
  | { readonly kind: 'clsact-release'; readonly dev: string }
  | { readonly kind: 'dnsmasq-start'; readonly dhcp: DhcpSpec }
  /** Stops the dnsmasq fan started on the bridge (by its recorded pid); `forget` also removes its lease file. */
  | { readonly kind: 'dnsmasq-stop'; readonly bridge: string; readonly forget: boolean };

/** One step of an operation: what to do, and how to take exactly that back. */
export interface Change {
  readonly apply: Action;
  readonly undo: readonly Action[];
}

export const run = (argv: readonly string[], extra: { input?: string; tolerate?: string } = {}): Action => ({
  kind: 'run',
  argv,
  ...extra,
});

/** Shell-like text of an action, for logs, errors and golden tests. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'run':
      return action.argv.join(' ') + (action.input === undefined ? '' : ' <<script');
    case 'overlay-table':
      return `bpftool map update (${action.dev}: ${action.overlays.length} overlay row(s))`;
    case 'clsact-add':
      return `tc qdisc add dev ${action.dev} clsact (if absent)`;
    case 'clsact-release':
      return `tc qdisc del dev ${action.dev} clsact (if fan added it)`;
    case 'dnsmasq-start':
      return `dnsmasq --interface=${action.dhcp.bridge} …`;
    case 'dnsmasq-stop':
      return `stop dnsmasq on ${action.bridge}${action.forget ? ' (and remove its leases)' : ''}`;
  }
}
