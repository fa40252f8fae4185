/**
 * The bench's isolation policy: G groups of container indexes and R allow rules between them (ports each), the
 * shape the policy issue's target names (20 groups, 200 rules). The two measured containers sit in the first
 * group, so their traffic passes by group membership after every rule was tried. Pure (text; the caller parses and
 * applies it with fan's policy code).
 */
export interface BenchPolicyShape {
  readonly groups: number;
  readonly rules: number;
  /** First container index of the first group (above the host reserve). */
  readonly firstIndex: number;
  /** Indexes per group. */
  readonly width: number;
}

export const BENCH_POLICY: BenchPolicyShape = { groups: 20, rules: 200, firstIndex: 2, width: 5 };

export function benchPolicyText(shape: BenchPolicyShape = BENCH_POLICY): string {
  const name = (g: number): string => `g${String(g + 1).padStart(2, '0')}`;
  const lines = ['default: isolate', 'groups:'];
  for (let g = 0; g < shape.groups; g++) {
    const first = shape.firstIndex + g * shape.width;
    lines.push(`  ${name(g)}: { index: ${first}-${first + shape.width - 1} }`);
  }
  lines.push('allow:', '  - { from: any, to: outside }');
  // Rules between distinct groups (never from the first group to itself), on ports iperf3 does not use.
  for (let r = 0; r < shape.rules - 1; r++) {
    const from = r % shape.groups;
    const to = (from + 1 + Math.floor(r / shape.groups)) % shape.groups;
    lines.push(
      `  - { from: ${name(from)}, to: ${name(to === from ? (to + 1) % shape.groups : to)}, ports: [tcp/${1000 + r}] }`,
    );
  }
  return `${lines.join('\n')}\n`;
}
