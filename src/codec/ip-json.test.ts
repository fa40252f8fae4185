import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import type { InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';
import { defaultRouteDevice } from '../core/model/host-facts.js';
import { cidrOf } from '../testing/builders.js';
import { decodeAddressShow, decodeHostFacts, decodeRouteShow } from './ip-json.js';

/** Verbatim `ip -json -details address show` from a Debian host (loopback, two ifb links, eth0, Docker's bridge). */
const REAL_ADDRESS_SHOW =
  '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue",' +
  '"operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00",' +
  '"broadcast":"00:00:00:00:00:00","promiscuity":0,"allmulti":0,"min_mtu":0,"max_mtu":0,"num_tx_queues":1,' +
  '"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,"tso_max_size":524280,"tso_max_segs":65535,' +
  '"gro_max_size":65536,"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host",' +
  '"label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},' +
  '{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,' +
  '"preferred_life_time":4294967295}]},{"ifindex":2,"ifname":"ifb0","flags":["BROADCAST","NOARP"],' +
  '"mtu":1500,"qdisc":"noop","operstate":"DOWN","group":"default","txqlen":32,"link_type":"ether",' +
  '"address":"a2:66:b0:ff:e5:f3","broadcast":"ff:ff:ff:ff:ff:ff","promiscuity":0,"allmulti":0,"min_mtu":0,' +
  '"max_mtu":0,"linkinfo":{"info_kind":"ifb"},"num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,' +
  '"gso_max_segs":65535,"tso_max_size":524280,"tso_max_segs":65535,"gro_max_size":65536,"addr_info":[]},' +
  '{"ifindex":3,"ifname":"ifb1","flags":["BROADCAST","NOARP"],"mtu":1500,"qdisc":"noop","operstate":"DOWN",' +
  '"group":"default","txqlen":32,"link_type":"ether","address":"72:64:ac:9d:a6:18","broadcast":"ff:ff:ff:ff:ff:ff",' +
  '"promiscuity":0,"allmulti":0,"min_mtu":0,"max_mtu":0,"linkinfo":{"info_kind":"ifb"},' +
  '"num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,"tso_max_size":524280,' +
  '"tso_max_segs":65535,"gro_max_size":65536,"addr_info":[]},{"ifindex":4,"ifname":"eth0","flags":["BROADCAST",' +
  '"MULTICAST","UP","LOWER_UP"],"mtu":1400,"qdisc":"pfifo_fast","operstate":"UP","group":"default","txqlen":1000,' +
  '"link_type":"ether","address":"02:fc:00:00:00:01","broadcast":"ff:ff:ff:ff:ff:ff","promiscuity":0,"allmulti":0,' +
  '"min_mtu":68,"max_mtu":65535,"num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,' +
  '"tso_max_size":65536,"tso_max_segs":65535,"gro_max_size":65536,"parentbus":"virtio","parentdev":"virtio2",' +
  '"addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24,"broadcast":"192.0.2.255","scope":"global",' +
  '"label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},' +
  '{"family":"inet6","local":"fd00::2","prefixlen":64,"scope":"global","nodad":true,"valid_life_time":4294967295,' +
  '"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::fc:ff:fe00:1","prefixlen":64,"scope":"link",' +
  '"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":5,"ifname":"docker0",' +
  '"flags":["NO-CARRIER","BROADCAST","MULTICAST","UP"],"mtu":1500,"qdisc":"noqueue","operstate":"DOWN",' +
  '"group":"default","link_type":"ether","address":"02:42:0a:ad:ac:1c","broadcast":"ff:ff:ff:ff:ff:ff",' +
  '"promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65535,"linkinfo":{"info_kind":"bridge",' +
  '"info_data":{"forward_delay":1500,"hello_time":200,"max_age":2000,"ageing_time":30000,"stp_state":0,' +
  '"priority":32768,"vlan_filtering":0,"bridge_id":"8000.2:42:a:ad:ac:1c","root_id":"8000.2:42:a:ad:ac:1c",' +
  '"root_port":0,"root_path_cost":0,"topology_change":0,"topology_change_detected":0,"hello_timer":0.00,' +
  '"tcn_timer":0.00,"topology_change_timer":0.00,"gc_timer":148.90,"group_fwd_mask":"0",' +
  '"group_addr":"01:80:c2:00:00:00","mcast_snooping":1,"no_linklocal_learn":0,"mcast_vlan_snooping":0,' +
  '"mcast_router":1,"mcast_query_use_ifaddr":0,"mcast_querier":0,"mcast_hash_elasticity":16,"mcast_hash_max":4096,' +
  '"mcast_last_member_cnt":2,"mcast_startup_query_cnt":2,"mcast_last_member_intvl":100,' +
  '"mcast_membership_intvl":26000,"mcast_querier_intvl":25500,"mcast_query_intvl":12500,' +
  '"mcast_query_response_intvl":1000,"mcast_startup_query_intvl":3124,"mcast_stats_enabled":0,' +
  '"mcast_igmp_version":2,"mcast_mld_version":1,"nf_call_iptables":0,"nf_call_ip6tables":0,"nf_call_arptables":0}},' +
  '"num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,"tso_max_size":65536,' +
  '"tso_max_segs":65535,"gro_max_size":65536,"addr_info":[{"family":"inet","local":"172.17.0.1","prefixlen":16,' +
  '"broadcast":"172.17.255.255","scope":"global","label":"docker0","valid_life_time":4294967295,' +
  '"preferred_life_time":4294967295}]}]';

/** Verbatim `ip -json -4 route show` from the same host. */
const REAL_ROUTE_SHOW =
  '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},{"dst":"172.17.0.0/16","dev":"docker0",' +
  '"protocol":"kernel","scope":"link","prefsrc":"172.17.0.1","flags":["linkdown"]},' +
  '{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]}]';

/**
 * A host running a fan, in the same format: the fan bridge (with fan's alias), the collect-metadata VXLAN device,
 * a container veth enslaved to the bridge, a link without addr_info at all.
 */
const FAN_ADDRESS_SHOW = JSON.stringify([
  {
    ifindex: 2,
    ifname: 'ens3',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 9001,
    qdisc: 'mq',
    operstate: 'UP',
    group: 'default',
    txqlen: 1000,
    link_type: 'ether',
    address: '0a:1b:2c:3d:4e:5f',
    broadcast: 'ff:ff:ff:ff:ff:ff',
    addr_info: [
      {
        family: 'inet',
        local: '172.16.3.4',
        prefixlen: 16,
        broadcast: '172.16.255.255',
        scope: 'global',
        dynamic: true,
        label: 'ens3',
        valid_life_time: 3170,
        preferred_life_time: 3170,
      },
      {
        family: 'inet',
        local: '172.16.9.9',
        prefixlen: 16,
        scope: 'global',
        secondary: true,
        label: 'ens3',
        valid_life_time: 4294967295,
        preferred_life_time: 4294967295,
      },
      {
        family: 'inet6',
        local: 'fe80::81b:2cff:fe3d:4e5f',
        prefixlen: 64,
        scope: 'link',
        valid_life_time: 4294967295,
        preferred_life_time: 4294967295,
      },
    ],
  },
  {
    ifindex: 7,
    ifname: 'fan-250',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 8951,
    qdisc: 'noqueue',
    operstate: 'UP',
    group: 'default',
    link_type: 'ether',
    address: '4a:7e:11:22:33:44',
    broadcast: 'ff:ff:ff:ff:ff:ff',
    ifalias: 'fan:250.0.0.0/8',
    linkinfo: { info_kind: 'bridge', info_data: { forward_delay: 1500, stp_state: 0, vlan_filtering: 0 } },
    addr_info: [
      {
        family: 'inet',
        local: '250.3.4.1',
        prefixlen: 24,
        broadcast: '250.3.4.255',
        scope: 'global',
        label: 'fan-250',
        valid_life_time: 4294967295,
        preferred_life_time: 4294967295,
      },
    ],
  },
  {
    ifindex: 8,
    ifname: 'fan-vxlan',
    flags: ['BROADCAST', 'NOARP', 'UP', 'LOWER_UP'],
    mtu: 8951,
    qdisc: 'noqueue',
    operstate: 'UNKNOWN',
    group: 'default',
    link_type: 'ether',
    address: '0e:fa:ac:10:03:04',
    broadcast: 'ff:ff:ff:ff:ff:ff',
    linkinfo: { info_kind: 'vxlan', info_data: { id: 0, external: true, port: 8472, learning: false, ttl: 0 } },
    addr_info: [],
  },
  {
    ifindex: 9,
    link_index: 2,
    ifname: 'veth1a2b3c',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 8951,
    qdisc: 'noqueue',
    master: 'fan-250',
    operstate: 'UP',
    group: 'default',
    link_type: 'ether',
    address: 'be:ef:00:00:00:09',
    link_netnsid: 0,
    linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { state: 'forwarding', priority: 32 } },
    addr_info: [],
  },
  { ifindex: 10, ifname: 'down0', flags: ['BROADCAST', 'NOARP'], mtu: 1500, operstate: 'DOWN', link_type: 'ether' },
]);

const FAN_ROUTE_SHOW = JSON.stringify([
  {
    dst: 'default',
    gateway: '172.16.0.1',
    dev: 'ens3',
    protocol: 'dhcp',
    prefsrc: '172.16.3.4',
    metric: 100,
    flags: [],
  },
  { dst: '10.0.0.7', dev: 'ens3', scope: 'link', flags: [] },
  { type: 'blackhole', dst: '10.9.0.0/16', flags: [] },
  {
    dst: '10.10.0.0/16',
    flags: [],
    nexthops: [
      { gateway: '172.16.0.1', dev: 'ens3', weight: 1, flags: [] },
      { gateway: '172.16.0.2', dev: 'ens3', weight: 1, flags: [] },
    ],
  },
  { dst: '172.16.0.0/16', dev: 'ens3', protocol: 'kernel', scope: 'link', prefsrc: '172.16.3.4', flags: [] },
  { dst: '250.0.0.0/8', gateway: '169.254.250.1', dev: 'fan-vxlan', flags: ['onlink'] },
  { dst: '250.3.4.0/24', dev: 'fan-250', protocol: 'kernel', scope: 'link', prefsrc: '250.3.4.1', flags: [] },
  {
    type: 'local',
    dst: '172.16.3.4',
    dev: 'ens3',
    table: 'local',
    protocol: 'kernel',
    scope: 'host',
    prefsrc: '172.16.3.4',
    flags: [],
  },
  { dst: 'fe80::/64', dev: 'ens3', protocol: 'kernel', metric: 256, pref: 'medium', flags: [] },
]);

/** Interfaces as `name mtu up addresses kind master mac alias`, to compare whole tables at a glance. */
function row(i: InterfaceFacts): string {
  return [
    i.name,
    i.mtu,
    i.up ? 'up' : 'down',
    i.addresses.map(formatCidr).join(',') || '-',
    i.kind ?? '-',
    i.master ?? '-',
    i.mac ?? '-',
    i.alias ?? '-',
  ].join(' ');
}

function routeRow(r: RouteFacts): string {
  return [formatCidr(r.dst), r.dev ?? '-', r.gateway === undefined ? '-' : formatIpv4(r.gateway), r.table ?? '-'].join(
    ' ',
  );
}

describe('decodeAddressShow', () => {
  it('decodes real output: IPv4 addresses only, kinds, MACs, links without addresses', () => {
    assert.deepEqual(decodeAddressShow(REAL_ADDRESS_SHOW).map(row), [
      'lo 65536 up 127.0.0.1/8 - - 00:00:00:00:00:00 -',
      'ifb0 1500 down - ifb - a2:66:b0:ff:e5:f3 -',
      'ifb1 1500 down - ifb - 72:64:ac:9d:a6:18 -',
      'eth0 1400 up 192.0.2.2/24 - - 02:fc:00:00:00:01 -',
      'docker0 1500 up 172.17.0.1/16 bridge - 02:42:0a:ad:ac:1c -',
    ]);
  });

  it('returns exactly the InterfaceFacts shape (no stray keys)', () => {
    const [lo, ifb0] = decodeAddressShow(REAL_ADDRESS_SHOW);
    assert.deepEqual(lo, {
      name: 'lo',
      mtu: 65536,
      up: true,
      addresses: [cidrOf('127.0.0.1/8')],
      mac: '00:00:00:00:00:00',
    });
    assert.deepEqual(ifb0, {
      name: 'ifb0',
      mtu: 1500,
      up: false,
      addresses: [],
      kind: 'ifb',
      mac: 'a2:66:b0:ff:e5:f3',
    });
  });

  it(`decodes a fan host: secondary addresses in order, bridge alias, vxlan kind, bridge ports, \
missing addr_info`, () => {
    assert.deepEqual(decodeAddressShow(FAN_ADDRESS_SHOW).map(row), [
      'ens3 9001 up 172.16.3.4/16,172.16.9.9/16 - - 0a:1b:2c:3d:4e:5f -',
      'fan-250 8951 up 250.3.4.1/24 bridge - 4a:7e:11:22:33:44 fan:250.0.0.0/8',
      'fan-vxlan 8951 up - vxlan - 0e:fa:ac:10:03:04 -',
      'veth1a2b3c 8951 up - veth fan-250 be:ef:00:00:00:09 -',
      'down0 1500 down - - - - -',
    ]);
  });

  it('defaults a missing MTU to 1500 and a missing prefixlen to /32', () => {
    const [i] = decodeAddressShow(
      '[{"ifname":"x","addr_info":[{"family":"inet","local":"10.0.0.1"},{"family":"inet"}]}]',
    );
    assert.deepEqual(i, { name: 'x', mtu: 1500, up: false, addresses: [cidrOf('10.0.0.1/32')] });
  });

  it('treats empty output as no interfaces and refuses malformed output', () => {
    assert.deepEqual(decodeAddressShow(''), []);
    assert.deepEqual(decodeAddressShow('[]'), []);
    assert.throws(() => decodeAddressShow('[{"ifname":'), SyntaxError);
    assert.throws(() => decodeAddressShow('[{"mtu":1500}]'), /ifname/);
    assert.throws(() => decodeAddressShow('{"ifname":"x"}'));
    assert.throws(
      () => decodeAddressShow('[{"ifname":"x","addr_info":[{"family":"inet","local":"10.0.0.300","prefixlen":8}]}]'),
      /not an IPv4 address/,
    );
  });
});

describe('decodeRouteShow', () => {
  it('decodes real output: default becomes 0.0.0.0/0 with its gateway', () => {
    assert.deepEqual(decodeRouteShow(REAL_ROUTE_SHOW).map(routeRow), [
      '0.0.0.0/0 eth0 192.0.2.1 -',
      '172.17.0.0/16 docker0 - -',
      '192.0.2.0/24 eth0 - -',
    ]);
    assert.deepEqual(decodeRouteShow(REAL_ROUTE_SHOW)[0], {
      dst: { address: 0, prefix: 0 },
      dev: 'eth0',
      gateway: cidrOf('192.0.2.1/32').address,
    });
  });

  it('decodes /32 routes, blackholes and multipath routes without a device; drops non-IPv4 destinations', () => {
    assert.deepEqual(decodeRouteShow(FAN_ROUTE_SHOW).map(routeRow), [
      '0.0.0.0/0 ens3 172.16.0.1 -',
      '10.0.0.7/32 ens3 - -',
      '10.9.0.0/16 - - -',
      '10.10.0.0/16 - - -',
      '172.16.0.0/16 ens3 - -',
      '250.0.0.0/8 fan-vxlan 169.254.250.1 -',
      '250.3.4.0/24 fan-250 - -',
      '172.16.3.4/32 ens3 - local',
    ]);
  });

  it('treats empty output as no routes and refuses malformed output', () => {
    assert.deepEqual(decodeRouteShow(''), []);
    assert.throws(() => decodeRouteShow('[{"dev":"eth0"}]'), /dst/);
    assert.throws(() => decodeRouteShow('not json'), SyntaxError);
  });
});

describe('decodeHostFacts', () => {
  it('combines both, and the default route device resolves', () => {
    const facts = decodeHostFacts(REAL_ADDRESS_SHOW, REAL_ROUTE_SHOW);
    assert.equal(facts.interfaces.length, 5);
    assert.equal(facts.routes.length, 3);
    assert.equal(defaultRouteDevice(facts), 'eth0');
    assert.equal(defaultRouteDevice(decodeHostFacts(FAN_ADDRESS_SHOW, FAN_ROUTE_SHOW)), 'ens3');
    assert.deepEqual(decodeHostFacts('', ''), { interfaces: [], routes: [] });
  });
});
