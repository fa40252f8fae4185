/** How commands print: JSON on request (one document on stdout), human text otherwise. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export function printJson(output: Output, value: unknown): void {
  output.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Ubuntu fanctl's `printf "%-16s %-20s %-20s %s\n"` row format. */
export function ubuntuRow(cells: readonly [string, string, string, string]): string {
  const [a, b, c, d] = cells;
  return `${a.padEnd(16)} ${b.padEnd(20)} ${c.padEnd(20)} ${d}`.trimEnd();
}
