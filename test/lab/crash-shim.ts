/**
 * Crash injection for end-to-end tests, without any hook in fan itself: a directory of shell shims named like the
 * kernel tools fan runs (ip, tc, nft, bpftool, iptables, sysctl, dnsmasq), put first on the PATH of the process
 * under test. Each shim counts the calls that change something (reads, listings and version probes are not
 * counted), and at call number FAN_CRASH_AT it SIGKILLs its parent (the fanctl or fan-cni process that spawned
 * it), as kill -9 would at that moment. Modes (FAN_CRASH_MODE):
 *
 * - `after` (default): the tool runs to completion, then its parent dies before it sees the result;
 * - `before`: the parent dies before the tool runs;
 * - `first-line`: for `ip -batch`, only the first line of the batch runs (as when the `ip` process itself is killed
 *   between two of its netlink requests), then the parent dies. Other tools behave as in `after`.
 *
 * The process killed is fan's own: fan starts the tools without a shell, either itself or through its fan-exec
 * helper (src/kernel/exec-helper.ts; the shim then kills the helper's parent, and the helper follows it), and
 * `nsenter` (not shimmed) execs the `ip` it runs, so the shim inherits nsenter's parent. Every call is logged to
 * `<dir>/log`.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';

export const SHIMMED_TOOLS = ['ip', 'tc', 'nft', 'bpftool', 'iptables', 'sysctl', 'dnsmasq'] as const;

const SHIM = `#!/bin/sh
# Test-only crash shim (test/lab/crash-shim.ts): counts changing calls, kills the parent at FAN_CRASH_AT.
name=\${0##*/}
real=$(PATH="$FAN_CRASH_REAL_PATH" command -v "$name") || { echo "crash shim: no real $name" >&2; exit 127; }
changing=1
for word in "$@"; do
  case "$word" in
    -batch|-f) changing=1; break ;;
    show|list|dump|-S|-L|-C|-V|version|--version) changing=0 ;;
  esac
done
dir=$FAN_CRASH_DIR
if [ "$changing" = 0 ] || [ -z "$dir" ]; then exec "$real" "$@"; fi
n=$(flock "$dir/lock" sh -c 'n=$(cat "$1/count" 2>/dev/null || echo 0); n=$((n + 1)); \
echo "$n" > "$1/count"; echo "$n"' _ "$dir")
echo "$n $name $*" >> "$dir/log"
if [ "$n" != "\${FAN_CRASH_AT:-0}" ]; then exec "$real" "$@"; fi
parent=$PPID
if [ "$(cat /proc/$parent/comm 2>/dev/null)" = fan-exec ]; then
  parent=$(awk '{print $4}' /proc/$parent/stat)
fi
case "\${FAN_CRASH_MODE:-after}" in
  before)
    echo "$n killed parent $parent (before running)" >> "$dir/log"
    kill -9 "$parent"
    exit 137 ;;
  first-line)
    batch=0
    for word in "$@"; do [ "$word" = -batch ] && batch=1; done
    if [ "$name" = ip ] && [ "$batch" = 1 ]; then head -n 1 | "$real" "$@"; else "$real" "$@"; fi ;;
  *) "$real" "$@" ;;
esac
rc=$?
echo "$n killed parent $parent (exit $rc)" >> "$dir/log"
kill -9 "$parent"
exit "$rc"
`;

export interface CrashShim {
  readonly dir: string;
  /** Environment words (for `env`) that run a process under the shims, crashing at call `at` (0: never). */
  env(at: number, mode?: 'after' | 'before' | 'first-line'): string[];
  /** How many changing calls the shims counted since the last reset. */
  count(): Promise<number>;
  /** The log of changing calls since the last reset. */
  log(): Promise<string>;
  reset(): Promise<void>;
  remove(): Promise<void>;
}

/** Creates the shims in `dir` (its name carries the test's prefix) and returns their controls. */
export async function makeCrashShim(dir: string): Promise<CrashShim> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(`${dir}/bin`, { recursive: true });
  for (const tool of SHIMMED_TOOLS) {
    await writeFile(`${dir}/bin/${tool}`, SHIM);
    await chmod(`${dir}/bin/${tool}`, 0o755);
  }
  const realPath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const reset = async (): Promise<void> => {
    await writeFile(`${dir}/count`, '0\n');
    await writeFile(`${dir}/log`, '');
  };
  await reset();
  return {
    dir,
    env: (at, mode = 'after') => [
      `PATH=${dir}/bin:${realPath}`,
      `FAN_CRASH_REAL_PATH=${realPath}`,
      `FAN_CRASH_DIR=${dir}`,
      `FAN_CRASH_AT=${at}`,
      `FAN_CRASH_MODE=${mode}`,
    ],
    count: async () => Number((await readFile(`${dir}/count`, 'utf8')).trim()),
    log: () => readFile(`${dir}/log`, 'utf8'),
    reset,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
