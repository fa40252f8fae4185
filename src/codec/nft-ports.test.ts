import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '../core/address/ipv4.js';
import type { PublishedEndpoint } from '../core/attach/published-ports.js';
import { FAN_PORTS_MARK, isFanPortTable, renderPortTable, renderPortTableReplace } from './nft-ports.js';

const WEB: PublishedEndpoint = {
  endpointId: 'ab'.repeat(32),
  networkId: 'cd'.repeat(32),
  address: parseIpv4('250.3.4.2'),
  ports: [
    { proto: 'tcp', hostPort: 8080, port: 80 },
    { proto: 'udp', hostPort: 9000, port: 7000, hostIp: parseIpv4('172.16.3.4') },
  ],
};

describe('nft-ports codec', () => {
  it("renders prerouting and output DNAT for every binding, marked as fan's", () => {
    const text = renderPortTable([WEB]);
    assert.ok(text.startsWith('table ip fan-ports {\n'));
    assert.ok(text.includes(`\tcomment "${FAN_PORTS_MARK}"`));
    assert.ok(
      text.includes(
        '\t\tfib daddr type local tcp dport 8080 counter dnat to 250.3.4.2:80 comment "fan: docker abababababab"',
      ),
    );
    assert.ok(
      text.includes('\t\tip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 counter dnat to 250.3.4.2:80'),
    );
    assert.equal(
      text.split('ip daddr 172.16.3.4 udp dport 9000 counter dnat to 250.3.4.2:7000').length - 1,
      2,
      'both chains',
    );
    assert.match(text, /type nat hook prerouting priority dstnat; policy accept;/);
    assert.match(text, /type nat hook output priority -100; policy accept;/);
  });

  it('replaces the whole table in one transaction', () => {
    assert.ok(
      renderPortTableReplace([WEB]).startsWith('table ip fan-ports\ndelete table ip fan-ports\ntable ip fan-ports {'),
    );
  });

  it('recognises its own table by the comment line only', () => {
    assert.equal(isFanPortTable(renderPortTable([WEB])), true);
    assert.equal(isFanPortTable('table ip fan-ports {\n\tchain prerouting {\n\t}\n}\n'), false);
    assert.equal(
      isFanPortTable(`table ip fan-ports {\n\tchain x {\n\t\tcounter comment "${FAN_PORTS_MARK}"\n\t}\n}\n`),
      false,
    );
  });
});
