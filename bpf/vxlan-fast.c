// SPDX-License-Identifier: GPL-2.0
/*
 * vxlan-fast.c - the eBPF-native VXLAN fast path (`--type vxlan-fast`),
 * included by fan.bpf.c (it shares fan_overlays, fan_stats and the helpers).
 * docs/fast-path.md describes the design; in short:
 *
 *   tc/fp_tx  in a fan bridge's tc shared block: on each container's port
 *             (host-side veth) before the bridge, checking the port binding
 *             itself, and on the bridge (after the bridge family's netfilter
 *             hooks ran). An IPv4 packet from this host's slice to
 *             another host's slice gets the outer Ethernet/IPv4/UDP/VXLAN
 *             header written here, byte for byte what the fan-vxlan device
 *             would send, and leaves by the underlay device directly.
 *   tc/fp_rx  on the underlay device's tc ingress. A VXLAN packet (UDP 8472,
 *             one of our VNIs, to our address) whose inner source maps to the
 *             outer source and whose inner destination lies in our slice is
 *             decapsulated and delivered onto the bridge (or, when the
 *             accelerator map knows the container, to its veth peer).
 *
 * Everything else returns TC_ACT_OK: the kernel path (bridge, netfilter,
 * fan-vxlan with tc/egress and tc/ingress) handles it as before. The one
 * drop is a spoofed VXLAN packet, which the kernel path would drop as well.
 *
 * Maps of their own:
 *   fan_fp_ctl    ARRAY, 1 entry, __u32 mode: 1 = fast path on, 0 = off
 *                 (everything takes the kernel path). Zero after attach:
 *                 fanctl switches it on when no isolation policy is loaded.
 *   fan_fp_peers  LRU_HASH container address (__u32 host order) -> struct
 *                 fan_fp_peer (host-side veth ifindex, container MAC; 12
 *                 bytes). An accelerator only, kept by the attach paths: a
 *                 hit whose MAC is the neighbour entry's is delivered with
 *                 bpf_redirect_peer straight into the container; a miss (or a
 *                 stale entry) means a large (GSO) packet takes the kernel
 *                 path and a small one is delivered onto the bridge.
 */

#define FP_VXLAN_PORT   8472
#define FP_ENCAP_LEN    50      /* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */
#define FP_AF_INET      2
#define FP_PORT_MIN     32768   /* the kernel's default source port range, */
#define FP_PORT_MAX     60999   /* as the vxlan device uses it */
#define FP_IP_MF_OFFSET 0x3fff

struct fan_fp_ctl {
	__u32 mode;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fan_fp_ctl);
} fan_fp_ctl SEC(".maps");

struct fan_fp_peer {
	__u32 ifindex;          /* the container's veth, host side */
	__u8 mac[ETH_ALEN];     /* the container's MAC */
	__u16 pad;
};

struct {
	/* LRU: entries of containers gone (no detach hook removes them) age out. */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct fan_fp_peer);
} fan_fp_peers SEC(".maps");

static __always_inline int fp_same_mac(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

struct fp_iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

/* What the encapsulation inserts after the outer Ethernet header. */
struct fp_encap {
	struct fp_iphdr ip;
	__be16 sport;
	__be16 dport;
	__be16 ulen;
	__sum16 ucheck;
	__u8 vx_flags;
	__u8 vx_reserved[3];
	__be32 vx_vni;          /* VNI << 8 */
	__u8 h_dest[ETH_ALEN];
	__u8 h_source[ETH_ALEN];
	__be16 h_proto;
} __attribute__((packed));

static __always_inline int fp_on(void)
{
	__u32 k = 0;
	struct fan_fp_ctl *c = bpf_map_lookup_elem(&fan_fp_ctl, &k);

	return c && c->mode == 1;
}

/* The IPv4 header at off, when the packet has one we may take (no options, not a fragment). */
static __always_inline int fp_load_ip(struct __sk_buff *skb, __u32 off, struct fp_iphdr *ip)
{
	if (bpf_skb_load_bytes(skb, off, ip, sizeof(*ip)))
		return -1;
	if (ip->ver_ihl != 0x45 || (ip->frag_off & bpf_htons(FP_IP_MF_OFFSET)))
		return -1;
	return 0;
}

/*
 * 0 when the fast path may look at this packet at all: the switch is on, and it is an IPv4 packet with a header
 * we may take and a TTL left to forward with.
 */
static __always_inline int fp_forwardable_ipv4(struct __sk_buff *skb, struct fp_iphdr *ip)
{
	if (!fp_on() || skb->protocol != bpf_htons(ETH_P_IP))
		return -1;
	if (fp_load_ip(skb, ETH_HLEN, ip) || ip->ttl <= 1)
		return -1;
	return 0;
}

/* The same, for a packet addressed to this device's MAC (one the host would route). */
static __always_inline int fp_routed_ipv4(struct __sk_buff *skb, struct fp_iphdr *ip)
{
	if (skb->pkt_type != 0 /* PACKET_HOST */)
		return -1;
	return fp_forwardable_ipv4(skb, ip);
}

/* ip_forward's TTL decrement, so hop counts match the kernel path's. */
static __always_inline int fp_dec_ttl(struct __sk_buff *skb, __u32 ip_off, const struct fp_iphdr *ip)
{
	__be16 old = bpf_htons(((__u16)ip->ttl << 8) | ip->protocol);
	__be16 new = bpf_htons(((__u16)(ip->ttl - 1) << 8) | ip->protocol);
	__u8 ttl = ip->ttl - 1;

	if (bpf_l3_csum_replace(skb, ip_off + offsetof(struct fp_iphdr, check), old, new, 2))
		return -1;
	return bpf_skb_store_bytes(skb, ip_off + offsetof(struct fp_iphdr, ttl), &ttl, 1, 0);
}

static __always_inline __u16 fp_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The first overlay whose slice on this host holds a (the Fan source rule for a local sender). */
static __always_inline struct fan_overlay *fp_local(__u32 a)
{
	__u32 i, remote;
	struct fan_overlay *o = fan_match(a, &i, &remote);

	return o && remote == o->local ? o : NULL;
}

/*
 * The accelerator map's entry for local container d, when the FIB found its neighbour and the entry's MAC is that
 * neighbour's (else NULL: stale, the address has another owner now).
 */
static __always_inline struct fan_fp_peer *fp_peer(long rc, __u32 d, const struct bpf_fib_lookup *fib)
{
	struct fan_fp_peer *peer;

	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return NULL;
	peer = bpf_map_lookup_elem(&fan_fp_peers, &d);
	return peer && fp_same_mac(peer->mac, fib->dmac) ? peer : NULL;
}

struct fp_ethhdr {
	__u8 h_dest[ETH_ALEN];
	__u8 h_source[ETH_ALEN];
	__be16 h_proto;
};

/*
 * 0 when a container's packet entering the fan bridge's tc block may skip the bridge, with *bridge set to the
 * device the host routes the source through (the fan bridge). The programs of the transmit side sit in a tc shared
 * block that holds the bridge and every container port (host-side veth) on it, so they run:
 *   - on the bridge: the bridge family's hooks (the port binding) ran already; the frame must be addressed to the
 *     bridge (PACKET_HOST) for the host to route it;
 *   - on a port, before the bridge: the port binding is checked here, exactly: the source address's accelerator
 *     entry (written by fan's attach paths, never learnt) names this port and the frame's source MAC; and the frame
 *     must be addressed to the gateway, i.e. to the MAC of the device that routes to the source.
 * Everything else (DHCP containers without an entry, frames to another MAC, spoofs) takes the bridge.
 */
static __always_inline int fp_from_container(struct __sk_buff *skb, const struct fp_iphdr *ip, __u32 *bridge)
{
	struct bpf_fib_lookup fib = {};
	struct fan_fp_peer *peer;
	struct fp_ethhdr eth;
	__u32 s = bpf_ntohl(ip->saddr);
	long rc;

	fib.family = FP_AF_INET;
	fib.ifindex = skb->ifindex;
	fib.ipv4_src = ip->daddr;
	fib.ipv4_dst = ip->saddr;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -1;
	*bridge = fib.ifindex;
	if (fib.ifindex == skb->ifindex)
		return skb->pkt_type == 0 /* PACKET_HOST */ ? 0 : -1;
	/* smac (the gateway's MAC) is set only with the neighbour found. */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		return -1;
	peer = bpf_map_lookup_elem(&fan_fp_peers, &s);
	if (!peer || peer->ifindex != skb->ifindex || !fp_same_mac(peer->mac, eth.h_source))
		return -1;
	return fp_same_mac(fib.smac, eth.h_dest) ? 0 : -1;
}

/*
 * Sends the packet on as the FIB lookup (rc) said: with the FIB's MACs out of its device, or into the container
 * behind host veth peer_ifindex (non-zero) with bpf_redirect_peer; with an unresolved neighbour through the
 * neighbour subsystem, which resolves the FIB's next hop by ordinary ARP.
 */
static __always_inline long fp_out(struct __sk_buff *skb, long rc, const struct bpf_fib_lookup *fib, __u32 peer_ifindex)
{
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (bpf_skb_store_bytes(skb, 0, fib->dmac, ETH_ALEN, 0) ||
		    bpf_skb_store_bytes(skb, ETH_ALEN, fib->smac, ETH_ALEN, 0))
			return TC_ACT_SHOT;
		return peer_ifindex ? bpf_redirect_peer(peer_ifindex, 0) : bpf_redirect(fib->ifindex, 0);
	}
	{
		struct bpf_redir_neigh nh = { .nh_family = FP_AF_INET, .ipv4_nh = fib->ipv4_dst };

		return bpf_redirect_neigh(fib->ifindex, &nh, sizeof(nh), 0);
	}
}

SEC("tc/fp_tx")
int fan_fp_tx(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib = {};
	struct fp_encap h = {};
	struct fp_iphdr ip, oip = {};
	struct fan_overlay *o;
	__u32 d, s, i, remote, hash, len, bridge;
	__u64 flags;
	__u8 tos;
	long rc;

	if (fp_forwardable_ipv4(skb, &ip))
		return TC_ACT_OK;
	d = bpf_ntohl(ip.daddr);
	s = bpf_ntohl(ip.saddr);
	o = fan_match(d, &i, &remote);
	/* Not to another host's slice, or not from ours: the kernel path decides (and drops spoofs). */
	if (!o || remote == o->local || !fp_local(s) || fp_from_container(skb, &ip, &bridge))
		return TC_ACT_OK;

	fib.family = FP_AF_INET;
	fib.ifindex = bridge;
	fib.ipv4_src = bpf_htonl(o->local);
	fib.ipv4_dst = bpf_htonl(remote);
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_OK;
	/* A large non-GSO packet the underlay cannot carry: let the kernel fragment or refuse it. */
	if (!skb->gso_segs && skb->len - ETH_HLEN + FP_ENCAP_LEN > fib.mtu_result && fib.mtu_result)
		return TC_ACT_OK;

	tos = ip.tos;
	hash = bpf_get_hash_recalc(skb);
	if (fp_dec_ttl(skb, ETH_HLEN, &ip))
		return TC_ACT_SHOT;
	flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
		BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN);
	if (bpf_skb_adjust_room(skb, FP_ENCAP_LEN, BPF_ADJ_ROOM_MAC, flags))
		return TC_ACT_SHOT;
	len = skb->len - ETH_HLEN;

	oip.ver_ihl = 0x45;
	/* RFC 6040 as the kernel tunnels do it: copy ECN, a CE inner becomes ECT(0) outside. */
	oip.tos = (tos & 3) == 3 ? 2 : (tos & 3);
	oip.tot_len = bpf_htons(len);
	oip.id = bpf_get_prandom_u32();
	oip.ttl = 64;
	oip.protocol = 17;      /* UDP */
	oip.saddr = bpf_htonl(o->local);
	oip.daddr = bpf_htonl(remote);
	oip.check = fp_csum_fold(bpf_csum_diff(0, 0, (__be32 *)&oip, sizeof(oip), 0));
	h.ip = oip;
	/* udp_flow_src_port(): the flow hash picks the port, so one flow keeps one port. */
	hash ^= hash << 16;
	h.sport = bpf_htons((__u16)((((__u64)hash * (FP_PORT_MAX - FP_PORT_MIN)) >> 32) + FP_PORT_MIN));
	h.dport = bpf_htons(FP_VXLAN_PORT);
	h.ulen = bpf_htons(len - sizeof(struct fp_iphdr));
	h.vx_flags = 0x08;
	h.vx_vni = bpf_htonl(o->vni << 8);
	/* The inner MACs of tc/egress: the tunnel MAC, and 0e:fa:<this host>. */
	h.h_dest[0] = 0x0e;
	h.h_dest[1] = 0xfa;
	h.h_dest[5] = 1;
	h.h_source[0] = 0x0e;
	h.h_source[1] = 0xfa;
	h.h_source[2] = o->local >> 24;
	h.h_source[3] = o->local >> 16;
	h.h_source[4] = o->local >> 8;
	h.h_source[5] = o->local;
	h.h_proto = bpf_htons(ETH_P_IP);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0))
		return TC_ACT_SHOT;

	COUNT(i, tx_packets, 1);
	COUNT(i, tx_bytes, skb->len - FP_ENCAP_LEN);
	return fp_out(skb, rc, &fib, 0);
}

/* Index of the first enabled overlay on VNI vni, with the entry itself. */
static __always_inline struct fan_overlay *fp_vni(__u32 vni, __u32 *idx)
{
	__u32 i;

	for (i = 0; i < FAN_MAX_OVERLAYS; i++) {
		__u32 k = i;
		struct fan_overlay *o = bpf_map_lookup_elem(&fan_overlays, &k);

		if (!o || !o->enabled)
			break;
		if (o->vni == vni) {
			*idx = i;
			return o;
		}
	}
	return NULL;
}

SEC("tc/fp_rx")
int fan_fp_rx(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib = {};
	struct fp_encap h;
	struct fp_iphdr inner;
	struct fan_overlay *o, *src;
	__u32 idx, j, sremote, d;
	struct fan_fp_peer *peer;
	long rc;

	if (!fp_on() || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &h, sizeof(h)))
		return TC_ACT_OK;
	if (h.ip.ver_ihl != 0x45 || (h.ip.frag_off & bpf_htons(FP_IP_MF_OFFSET)) || h.ip.protocol != 17 ||
	    h.dport != bpf_htons(FP_VXLAN_PORT))
		return TC_ACT_OK;
	if (h.vx_flags != 0x08 || h.h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	o = fp_vni(bpf_ntohl(h.vx_vni) >> 8, &idx);
	if (!o || bpf_ntohl(h.ip.daddr) != o->local)
		return TC_ACT_OK;
	if (fp_load_ip(skb, ETH_HLEN + FP_ENCAP_LEN, &inner))
		return TC_ACT_OK;
	/* The Fan source rule, as tc/ingress on fan-vxlan applies it: a spoof is dropped on either path. */
	src = fan_match(bpf_ntohl(inner.saddr), &j, &sremote);
	if (!src || sremote != bpf_ntohl(h.ip.saddr)) {
		COUNT(idx, rx_drop_spoof, 1);
		return TC_ACT_SHOT;
	}
	d = bpf_ntohl(inner.daddr);
	/* Only to a container of this host; forwarded traffic keeps the kernel device (stale GSO tunnel flags). */
	if (inner.ttl <= 1 || !fp_local(d))
		return TC_ACT_OK;
	fib.family = FP_AF_INET;
	fib.ifindex = skb->ifindex;
	fib.ipv4_src = inner.saddr;
	fib.ipv4_dst = inner.daddr;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_OK;   /* the host's own address, unreachable, ...: the kernel path */
	peer = fp_peer(rc, d, &fib);
	/*
	 * Decapsulated GSO packets keep skb->encapsulation (6.18 has no
	 * BPF_F_ADJ_ROOM_DECAP_L4_UDP), and the bridge device has no tunnel
	 * offloads, so sent onto the bridge they would be segmented in software:
	 * slower than the kernel path. Only the direct delivery takes them.
	 */
	if (!peer && skb->gso_size)
		return TC_ACT_OK;

	if (bpf_skb_adjust_room(skb, -FP_ENCAP_LEN, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
		return TC_ACT_OK;
	if (fp_dec_ttl(skb, ETH_HLEN, &inner))
		return TC_ACT_SHOT;
	COUNT(idx, rx_packets, 1);
	return fp_out(skb, rc, &fib, peer ? peer->ifindex : 0);
}
