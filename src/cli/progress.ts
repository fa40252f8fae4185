/** A one-line progress indicator on a terminal (stderr); silent otherwise, so logs and JSON stay clean. */
export function progressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): (done: number, total: number) => void {
  if (!stream.isTTY) return () => {};
  return (done, total) => {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
    if (done === total) stream.write('\n');
  };
}

/**
 * A line per step of a long run (the bench), with the seconds since the first: on a terminal the steps overwrite
 * one another's line, so the table that follows stays readable; in a log every step stays.
 */
export function stepProgress(
  label: string,
  write: (text: string) => void,
  isTTY: boolean = process.stderr.isTTY === true,
): (line: string) => void {
  const started = Date.now();
  return (line) => {
    const elapsed = `${Math.round((Date.now() - started) / 1000)}s`.padStart(5);
    write(isTTY ? `\r\x1b[K${label} [${elapsed}] ${line.slice(0, 150)}\n` : `${label} [${elapsed}] ${line}\n`);
  };
}
