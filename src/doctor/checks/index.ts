/** Every doctor check, in the order the report lists them. A new check is a new module added here. */
import { type RunnableCheck, defineCheck } from '../check.js';
import { dnsmasqCheck } from './dnsmasq.js';
import { duplicateAddressCheck } from './duplicate-address.js';
import { ebpfCheck } from './ebpf.js';
import { forwardCheck } from './forward.js';
import { ipForwardCheck } from './ip-forward.js';
import { kernelCheck } from './kernel.js';
import { mtuCheck } from './mtu.js';
import { nftCheck } from './nft.js';
import { offloadCheck } from './offload.js';
import { overlapCheck } from './overlap.js';
import { rpFilterCheck } from './rp-filter.js';
import { stateCheck } from './state.js';
import { vxlanPortCheck } from './vxlan-port.js';

export const CHECKS: readonly RunnableCheck[] = [
  defineCheck(kernelCheck),
  defineCheck(stateCheck),
  defineCheck(ipForwardCheck),
  defineCheck(rpFilterCheck),
  defineCheck(forwardCheck),
  defineCheck(mtuCheck),
  defineCheck(offloadCheck),
  defineCheck(overlapCheck),
  defineCheck(duplicateAddressCheck),
  defineCheck(dnsmasqCheck),
  defineCheck(ebpfCheck),
  defineCheck(nftCheck),
  defineCheck(vxlanPortCheck),
];
