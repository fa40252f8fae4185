// SPDX-License-Identifier: GPL-2.0
/*
 * host-gw-fast.c - the host-gw fast path (`--type host-gw-fast`), included by
 * fan.bpf.c after vxlan-fast.c (it shares fan_overlays, fan_stats, the
 * switch fan_fp_ctl, the accelerator map fan_fp_peers and their helpers).
 * docs/fast-path.md describes the design; in short:
 *
 *   tc/fp_gw_tx  in a fan bridge's tc shared block, as tc/fp_tx (on each
 *                container's port, checking the binding, and on the bridge).
 *                An IPv4 packet from this host's slice to another host's
 *                slice has its TTL decremented and its MACs set for the host
 *                the Fan formula computes, and leaves by the underlay device
 *                directly: no bridge, no IP forwarding, no route, no
 *                netfilter, no second tc pass.
 *   tc/fp_gw_rx  on the underlay device's tc ingress. An IPv4 packet to our
 *                MAC, from another host's container (its source maps to
 *                another host), to a container of this host's slice, goes
 *                straight into the container (bpf_redirect_peer) when the
 *                accelerator map knows it, else onto the bridge.
 *
 * Unchanged frames on the wire: host-gw and host-gw-fast hosts share a fan.
 * Everything else returns TC_ACT_OK and takes host-gw's kernel path (route,
 * forward hook, tc/hostgw on the underlay's egress). There is no drop here:
 * the kernel path's verdicts stay the only ones.
 */

/* The neighbour the FIB found is the computed host itself: the host-gw rule (one L2 segment, no gateway). */
static __always_inline int fp_gw_onlink(const struct bpf_fib_lookup *fib, __u32 remote)
{
	return fib->ipv4_dst == bpf_htonl(remote);
}

SEC("tc/fp_gw_tx")
int fan_fp_gw_tx(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib = {};
	struct fp_iphdr ip;
	struct fan_overlay *o;
	__u32 d, i, remote, bridge;
	long rc;

	if (fp_forwardable_ipv4(skb, &ip))
		return TC_ACT_OK;
	d = bpf_ntohl(ip.daddr);
	o = fan_match(d, &i, &remote);
	/* Not to another host's slice, or not from ours: the kernel path decides (and drops spoofs). */
	if (!o || remote == o->local || !fp_local(bpf_ntohl(ip.saddr)) || fp_from_container(skb, &ip, &bridge))
		return TC_ACT_OK;

	fib.family = FP_AF_INET;
	fib.ifindex = bridge;
	fib.ipv4_src = bpf_htonl(o->local);
	fib.ipv4_dst = bpf_htonl(remote);
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) || !fp_gw_onlink(&fib, remote))
		return TC_ACT_OK;
	if (!skb->gso_segs && skb->len - ETH_HLEN > fib.mtu_result && fib.mtu_result)
		return TC_ACT_OK;
	if (fp_dec_ttl(skb, ETH_HLEN, &ip))
		return TC_ACT_SHOT;
	COUNT(i, tx_packets, 1);
	COUNT(i, tx_bytes, skb->len);
	return fp_out(skb, rc, &fib, 0);
}

SEC("tc/fp_gw_rx")
int fan_fp_gw_rx(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib = {};
	struct fp_iphdr ip;
	struct fan_overlay *o, *src;
	struct fan_fp_peer *peer;
	__u32 d, i, j, remote, sremote;
	long rc;

	if (fp_routed_ipv4(skb, &ip))
		return TC_ACT_OK;
	d = bpf_ntohl(ip.daddr);
	o = fan_match(d, &i, &remote);
	if (!o || remote != o->local)
		return TC_ACT_OK;       /* not for this host's slice: forwarded or off the fan */
	src = fan_match(bpf_ntohl(ip.saddr), &j, &sremote);
	if (!src || sremote == src->local)
		return TC_ACT_OK;       /* not from another host's container */

	fib.family = FP_AF_INET;
	fib.ifindex = skb->ifindex;
	fib.ipv4_src = ip.saddr;
	fib.ipv4_dst = ip.daddr;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_OK;       /* the host's own address, a broadcast, unreachable, ...: the kernel path */
	peer = fp_peer(rc, d, &fib);
	if (fp_dec_ttl(skb, ETH_HLEN, &ip))
		return TC_ACT_SHOT;
	COUNT(i, rx_packets, 1);
	return fp_out(skb, rc, &fib, peer ? peer->ifindex : 0);
}
