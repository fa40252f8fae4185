// SPDX-License-Identifier: GPL-2.0
/*
 * fan.bpf.c - Fan networking data plane for a stock kernel.
 *
 * tc (clsact, direct-action) programs. Two for ONE collect-metadata VXLAN
 * device (`ip link add fan-vxlan type vxlan external dstport 8472`) shared by
 * every vxlan overlay of the host, and tc/hostgw (see below) for the
 * no-encapsulation mode on an underlay device:
 *
 *   tc/egress   inner IPv4 destination d -> overlay entry -> underlay host
 *               remote = underlay | ((d & ~overlay_mask) >> shift)
 *               set tunnel key (remote, VNI, ttl 64) and rewrite the inner
 *               MACs: destination 0e:fa:00:00:00:01, the MAC every fan tunnel
 *               device carries (so the receiver takes the frame as PACKET_HOST
 *               whatever underlay address it has, even with several underlays),
 *               source 0e:fa:<this host's underlay address> (a frame whose
 *               source equals the receiver's own MAC is dropped as a loop).
 *   tc/ingress  anti-spoofing: the VNI must be an enabled overlay's and the
 *               inner IPv4 source must map (same formula, in whichever of our
 *               overlays holds it) to the outer source.
 *
 * The kernel keeps no per-peer state (no fdb, neighbour or route per host):
 * the whole mapping lives in the fan_overlays map that fanctl fills.
 *
 * Maps (both are plain arrays, keys are __u32 little-endian on x86):
 *
 *   fan_overlays  ARRAY, 16 entries, value struct fan_overlay (32 bytes,
 *                 8 x __u32, host byte order). Entries are scanned from 0; the
 *                 first entry with enabled == 0 ends the table; first match wins.
 *
 *   fan_stats     PERCPU_ARRAY, 17 entries, value struct fan_stats (48 bytes,
 *                 6 x __u64, one value per possible CPU). Key = overlay index
 *                 0..15; key 16 (FAN_STATS_OTHER) = "matched no overlay / not
 *                 IPv4". Byte offsets inside the value:
 *                   0  tx_packets       sent into the tunnel
 *                   8  tx_bytes         skb->len of those (inner frame)
 *                  16  tx_drop_local    computed host is this host
 *                  24  tx_drop_nomatch  no overlay matched / not IPv4 (key 16)
 *                  32  rx_packets       accepted from the tunnel
 *                  40  rx_drop_spoof    rejected by the ingress check; at the
 *                                       first overlay with the packet's VNI,
 *                                       or key 16 (unknown VNI / not IPv4)
 *   `bpftool -j map dump id N` prints an array with one element per key:
 *   {"key":[hex bytes], "values":[{"cpu":C,"value":[48 hex bytes]}..],
 *    "formatted":{"key":K,"values":[{"cpu":C,"value":{"tx_packets":N,..}}..]}}
 *   ("formatted" exists because the object carries BTF); sum over CPUs.
 *
 * Note: every `tc filter add ... obj fan.bpf.o` creates its own instances of
 * both maps (no pinning), so the egress and the ingress program each have
 * their own fan_overlays (fill both) and fan_stats (tx_* live in the egress
 * program's, rx_* in the ingress program's).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FAN_MAX_OVERLAYS 16
#define FAN_STATS_OTHER  FAN_MAX_OVERLAYS

struct fan_overlay {   /* all fields host byte order */
	__u32 overlay;       /* overlay network, e.g. 250.0.0.0 */
	__u32 overlay_mask;  /* e.g. 0xff000000 */
	__u32 underlay;      /* underlay network, e.g. 172.16.0.0 */
	__u32 underlay_mask; /* e.g. 0xffff0000 */
	__u32 shift;         /* underlay prefix len - overlay prefix len */
	__u32 vni;           /* overlay >> 8 */
	__u32 local;         /* this host's underlay address */
	__u32 enabled;       /* 1 = entry in use */
};

struct fan_stats {
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 tx_drop_local;
	__u64 tx_drop_nomatch;
	__u64 rx_packets;
	__u64 rx_drop_spoof;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FAN_MAX_OVERLAYS);
	__type(key, __u32);
	__type(value, struct fan_overlay);
} fan_overlays SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FAN_MAX_OVERLAYS + 1);
	__type(key, __u32);
	__type(value, struct fan_stats);
} fan_stats SEC(".maps");

/* Offsets inside the inner frame (skb data starts at the Ethernet header). */
#define OFF_SADDR (ETH_HLEN + 12)
#define OFF_DADDR (ETH_HLEN + 16)

static __always_inline struct fan_stats *stats(__u32 idx)
{
	return bpf_map_lookup_elem(&fan_stats, &idx);
}

/* Per-CPU slot: plain increments are safe (no other CPU writes it). */
#define COUNT(idx, field, n)                               \
	do {                                               \
		struct fan_stats *s_ = stats(idx);         \
		if (s_)                                    \
			s_->field += (n);                  \
	} while (0)

static __always_inline __u32 fan_remote(const struct fan_overlay *o, __u32 a)
{
	return o->underlay | ((a & ~o->overlay_mask) >> o->shift);
}

/* Read the inner IPv4 address at off (host byte order); -1 if not IPv4. */
static __always_inline int inner_ipv4(struct __sk_buff *skb, __u32 off, __u32 *addr)
{
	__be16 proto;
	__be32 a;

	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, 2) ||
	    proto != bpf_htons(ETH_P_IP))
		return -1;
	/* bpf_skb_load_bytes also works when the header is not linear. */
	if (bpf_skb_load_bytes(skb, off, &a, 4))
		return -1;
	*addr = bpf_ntohl(a);
	return 0;
}

/*
 * The first overlay holding d (first match wins, as in Ubuntu's kernel), its
 * index in *idx and the underlay host in *remote; NULL when none matches.
 */
static __always_inline struct fan_overlay *fan_match(__u32 d, __u32 *idx, __u32 *remote)
{
	__u32 i;

	for (i = 0; i < FAN_MAX_OVERLAYS; i++) {
		__u32 k = i;
		struct fan_overlay *o = bpf_map_lookup_elem(&fan_overlays, &k);

		if (!o || !o->enabled)
			return NULL;            /* end of table */
		if ((d & o->overlay_mask) == o->overlay) {
			*idx = i;
			*remote = fan_remote(o, d);
			return o;
		}
	}
	return NULL;
}

SEC("tc/egress")
int fan_egress(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	struct fan_overlay *o;
	__u8 macs[2 * ETH_ALEN];
	__u32 d, i, remote;

	/* IPv6, ARP, ...: the Fan carries IPv4 only. */
	if (inner_ipv4(skb, OFF_DADDR, &d) || !(o = fan_match(d, &i, &remote))) {
		COUNT(FAN_STATS_OTHER, tx_drop_nomatch, 1);
		return TC_ACT_SHOT;
	}
	if (remote == o->local) {
		/* Local slice: the bridge should have delivered it. */
		COUNT(i, tx_drop_local, 1);
		return TC_ACT_SHOT;
	}

	key.remote_ipv4 = remote;       /* host byte order */
	key.tunnel_id = o->vni;
	key.tunnel_ttl = 64;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX))
		return TC_ACT_SHOT;

	/* dst 0e:fa:00:00:00:01 (all tunnels), src 0e:fa:<local>. */
	macs[0] = 0x0e;
	macs[1] = 0xfa;
	macs[2] = 0;
	macs[3] = 0;
	macs[4] = 0;
	macs[5] = 1;
	macs[6] = 0x0e;
	macs[7] = 0xfa;
	macs[8] = o->local >> 24;
	macs[9] = o->local >> 16;
	macs[10] = o->local >> 8;
	macs[11] = o->local;
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), macs, 2 * ETH_ALEN, 0))
		return TC_ACT_SHOT;

	COUNT(i, tx_packets, 1);
	COUNT(i, tx_bytes, skb->len);
	return TC_ACT_OK;
}

/* Index of the first enabled overlay carried on VNI vni, or FAN_STATS_OTHER. */
static __always_inline __u32 fan_vni_index(__u32 vni)
{
	__u32 i;

	for (i = 0; i < FAN_MAX_OVERLAYS; i++) {
		__u32 k = i;
		struct fan_overlay *o = bpf_map_lookup_elem(&fan_overlays, &k);

		if (!o || !o->enabled)
			break;
		if (o->vni == vni)
			return i;
	}
	return FAN_STATS_OTHER;
}

/*
 * Anti-spoofing: accept a frame only on a VNI of one of our overlays, and only
 * when its inner source lies in one of our overlays AND maps, by the Fan
 * formula, to the host that sent it (the outer source). The source's overlay
 * may differ from the destination's: overlays route to each other across hosts
 * as they do on one host.
 */
SEC("tc/ingress")
int fan_ingress(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	__u32 s, i, remote, idx = FAN_STATS_OTHER;

	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) ||
	    inner_ipv4(skb, OFF_SADDR, &s))
		goto drop;
	idx = fan_vni_index(key.tunnel_id);
	if (idx == FAN_STATS_OTHER)
		goto drop;
	if (!fan_match(s, &i, &remote) || remote != key.remote_ipv4)
		goto drop;
	COUNT(idx, rx_packets, 1);
	return TC_ACT_OK;
drop:
	COUNT(idx, rx_drop_spoof, 1);
	return TC_ACT_SHOT;
}

/*
 * tc/hostgw - the no-encapsulation mode (`--type host-gw`, hosts on one L2
 * segment), on the underlay device's egress. The host routes each host-gw
 * overlay `via 169.254.250.1 dev UNDERLAY onlink`, and that placeholder
 * neighbour resolves to the device's own MAC, so fan's frames are the ones
 * whose destination MAC equals their source MAC. For those, compute the
 * underlay host with the Fan formula and hand the frame to the neighbour
 * subsystem for that address (bpf_redirect_neigh): the peer's real MAC is
 * filled in by ordinary ARP. Every other frame passes untouched; a frame
 * resolved by bpf_redirect_neigh comes back here with distinct MACs and passes.
 */
SEC("tc/hostgw")
int fan_hostgw(struct __sk_buff *skb)
{
	struct bpf_redir_neigh nh = {};
	struct fan_overlay *o;
	__u8 macs[2 * ETH_ALEN];
	__u32 d, i, remote;

	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)))
		return TC_ACT_OK;
	for (i = 0; i < ETH_ALEN; i++)
		if (macs[i] != macs[ETH_ALEN + i])
			return TC_ACT_OK;   /* not sent to the placeholder neighbour */
	if (inner_ipv4(skb, OFF_DADDR, &d))
		return TC_ACT_OK;
	if (!(o = fan_match(d, &i, &remote))) {
		/* Sent to the placeholder but in no host-gw overlay. */
		COUNT(FAN_STATS_OTHER, tx_drop_nomatch, 1);
		return TC_ACT_SHOT;
	}
	if (remote == o->local) {
		COUNT(i, tx_drop_local, 1);
		return TC_ACT_SHOT;
	}
	nh.nh_family = 2;               /* AF_INET */
	nh.ipv4_nh = bpf_htonl(remote);
	COUNT(i, tx_packets, 1);
	COUNT(i, tx_bytes, skb->len);
	return bpf_redirect_neigh(skb->ifindex, &nh, sizeof(nh), 0);
}

/* The eBPF-native VXLAN fast path (--type vxlan-fast): its own file, same maps. */
#include "vxlan-fast.c"
/* The host-gw fast path (--type host-gw-fast): the same switch and accelerator map. */
#include "host-gw-fast.c"

char _license[] SEC("license") = "GPL";
