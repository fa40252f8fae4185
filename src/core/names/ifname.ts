/**
 * Interface names as Linux and iproute2 accept them. Pure.
 *
 * The kernel (dev_valid_name) takes 1-15 BYTES (IFNAMSIZ 16 with the NUL), refuses "/", ":", white space, "." and
 * "..", and takes any other byte, UTF-8 included. fan hands names to `ip` as words and as `ip -batch` lines, and
 * iproute2 misreads some names the kernel would take: a word that is one of `ip link add`'s keywords (or, for the
 * keywords it compares by prefix, any prefix of one: "a" means "address", "h" means "help") is taken as that
 * keyword; in a batch line "#" starts a comment, a leading quote starts a quoted word and "\" continues the line.
 * docs/edge-validation.md has the details.
 */

/** Keywords `ip link add` compares whole. */
const IPLINK_EXACT = [
  'up',
  'down',
  'name',
  'index',
  'mtu',
  'xdpgeneric',
  'xdpdrv',
  'xdpoffload',
  'xdp',
  'netns',
  'multicast',
  'allmulticast',
  'promisc',
  'trailers',
  'arp',
  'carrier',
  'vf',
  'vrf',
  'group',
  'mode',
  'state',
  'protodown',
  'protodown_reason',
  'brd',
  'qlen',
  'dev',
  'gso_max_size',
  'gso_max_segs',
  'gro_max_size',
  'gso_ipv4_max_size',
  'gro_ipv4_max_size',
  'parentdev',
] as const;

/** Keywords `ip link add` compares by prefix: any prefix of these is taken as the keyword. */
const IPLINK_PREFIX = [
  'link',
  'address',
  'broadcast',
  'txqueuelen',
  'txqlen',
  'master',
  'nomaster',
  'dynamic',
  'type',
  'alias',
  'numtxqueues',
  'numrxqueues',
  'addrgenmode',
  'link-netnsid',
  'link-netns',
  'help',
] as const;

/** Names fan uses itself, which a user-chosen name must not take. */
export const RESERVED_BRIDGE_NAMES = ['fan-vxlan'] as const;

export const IFNAME_MAX_BYTES = 15;

const utf8Length = (text: string): number => new TextEncoder().encode(text).length;

/** The kernel's rule alone: undefined when Linux would take the name, else the rule it breaks. */
export function linuxIfnameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  const bytes = utf8Length(name);
  if (bytes > IFNAME_MAX_BYTES) return `it is ${bytes} bytes long; Linux allows at most ${IFNAME_MAX_BYTES} bytes`;
  if (name === '.' || name === '..') return `"${name}" is reserved by Linux`;
  if (name.includes('/')) return 'it contains "/"';
  if (name.includes(':')) return 'it contains ":"';
  if (/[\s\0]/.test(name)) return 'it contains white space or NUL';
  return undefined;
}

/** The iproute2 keyword a name would be read as, if any. */
export function iproute2Keyword(name: string): string | undefined {
  const exact = IPLINK_EXACT.find((k) => k === name);
  if (exact) return exact;
  return IPLINK_PREFIX.find((k) => k.startsWith(name));
}

/**
 * Undefined when fan can hand `name` to the kernel through iproute2 as is (a container's interface name, which the
 * runtime chooses); else the rule it breaks.
 */
export function ifnameProblem(name: string): string | undefined {
  const linux = linuxIfnameProblem(name);
  if (linux) return linux;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return 'it contains a control character';
  const quote = /["\\#]/.exec(name);
  if (quote) return `it contains "${quote[0]}", which ip -batch reads as ${quote[0] === '#' ? 'a comment' : 'quoting'}`;
  if (name.startsWith("'")) return 'it starts with "\'", which ip -batch reads as a quote';
  if (name.startsWith('-')) return 'it starts with "-", which tools read as an option';
  const keyword = iproute2Keyword(name);
  if (keyword) return `ip reads "${name}" as its keyword "${keyword}"`;
  return undefined;
}

/** The rule for names fan creates on the host (bridges): ASCII letters, digits, "_", "." and "-", not reserved. */
export function bridgeNameProblem(name: string): string | undefined {
  const general = ifnameProblem(name);
  if (general) return general;
  if (!/^[A-Za-z0-9_.-]+$/.test(name))
    return 'it contains a character other than ASCII letters, digits, "_", "." and "-"';
  if ((RESERVED_BRIDGE_NAMES as readonly string[]).includes(name))
    return `"${name}" is the name of fan's tunnel device`;
  return undefined;
}

/** The rule, stated positively, for hints. */
export const IFNAME_RULE =
  `1-${IFNAME_MAX_BYTES} bytes, no "/", ":", white space, quotes, ` +
  `"\\" or "#", not starting with "-", not an ip keyword such as "help"`;
