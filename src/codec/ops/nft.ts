/** fan's nftables table, replaced in one transaction and restored from its previous listing on rollback. */
import { FAN_NFT_TABLE } from '../../core/model/host-state.js';
import { natKey } from '../../core/plan/diff.js';
import type { Op } from '../../core/plan/ops.js';
import { renderNftReplace } from '../nft.js';
import { type Action, type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;

const deleteTable = run(['nft', 'delete', 'table', 'ip', FAN_NFT_TABLE], { tolerate: 'No such file' });
/** Loads a listing back in place of whatever table is there now, in one transaction. */
const restore = (listing: string): Action =>
  run(['nft', '-f', '-'], { input: `table ip ${FAN_NFT_TABLE}\ndelete table ip ${FAN_NFT_TABLE}\n${listing}` });

export function renderNftReplaceOp(op: OpOf<'nft-replace'>): Change[] {
  const back = op.was === undefined ? deleteTable : restore(op.was);
  return [{ apply: run(['nft', '-f', '-'], { input: renderNftReplace(op.nat, natKey(op.nat)) }), undo: [back] }];
}

export function renderNftDelete(op: OpOf<'nft-delete'>): Change[] {
  return [{ apply: deleteTable, undo: op.was === '' ? [] : [restore(op.was)] }];
}
