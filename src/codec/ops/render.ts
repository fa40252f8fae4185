/**
 * Every operation rendered as its changes: each an action and the actions that take it back. A table, one entry
 * per kind, so the kernel layer applies any plan by walking it and rolls back exactly what it did.
 */
import type { Op, OpKind } from '../../core/plan/ops.js';
import type { Change } from './action.js';
import { renderAddrAdd, renderAddrDel } from './addresses.js';
import { renderDhcpStart, renderDhcpStop } from './dnsmasq.js';
import { renderForwardAcceptAdd, renderForwardAcceptDel } from './iptables.js';
import { renderLinkAdd, renderLinkAlias, renderLinkDel, renderLinkMtu, renderLinkUp } from './links.js';
import { renderNftDelete, renderNftReplaceOp } from './nft.js';
import { renderPortAttach, renderPortDel } from './ports.js';
import { renderNeighDel, renderNeighReplace, renderRouteDel, renderRouteReplace } from './routes.js';
import { renderSysctl } from './sysctl.js';
import { renderOverlayTable, renderTcAttach, renderTcDetach } from './tc.js';

export interface RenderContext {
  /** The compiled eBPF object the programs are loaded from. */
  readonly bpfObject: string;
}

type Renderers = { readonly [K in OpKind]: (op: Extract<Op, { kind: K }>, context: RenderContext) => Change[] };

const RENDERERS: Renderers = {
  sysctl: renderSysctl,
  'link-add': renderLinkAdd,
  'link-del': renderLinkDel,
  'link-alias': renderLinkAlias,
  'link-mtu': renderLinkMtu,
  'link-up': renderLinkUp,
  'addr-add': renderAddrAdd,
  'addr-del': renderAddrDel,
  'tc-attach': (op, c) => renderTcAttach(op, c.bpfObject),
  'tc-detach': (op, c) => renderTcDetach(op, c.bpfObject),
  'overlay-table': renderOverlayTable,
  'neigh-replace': renderNeighReplace,
  'neigh-del': renderNeighDel,
  'route-replace': renderRouteReplace,
  'route-del': renderRouteDel,
  'nft-replace': renderNftReplaceOp,
  'nft-delete': renderNftDelete,
  'forward-accept-add': renderForwardAcceptAdd,
  'forward-accept-del': renderForwardAcceptDel,
  'dhcp-start': renderDhcpStart,
  'dhcp-stop': renderDhcpStop,
  'port-attach': renderPortAttach,
  'port-del': renderPortDel,
};

export function renderOp(op: Op, context: RenderContext): Change[] {
  const render = RENDERERS[op.kind] as (op: Op, context: RenderContext) => Change[];
  return render(op, context);
}
