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
 * A line per step of a long run (the bench) on stderr, with the seconds since the first; on a terminal each line
 * is cut to its width, so the steps stay one line each above the tables that follow.
 */
export function stepProgress(
  label: string,
  write: (text: string) => void,
  columns: number | undefined = process.stderr.isTTY ? process.stderr.columns : undefined,
): (line: string) => void {
  const started = Date.now();
  return (line) => {
    const text = `${label} [${`${Math.round((Date.now() - started) / 1000)}s`.padStart(5)}] ${line}`;
    write(
      `${columns !== undefined && text.length > columns ? `${text.slice(0, Math.max(columns - 1, 10))}…` : text}\n`,
    );
  };
}

export interface ProgressLine {
  step(message: string): void;
  /** Clears the line (the command's own output follows). */
  done(): void;
}

/**
 * One status line on a terminal (stderr) that each step overwrites, for commands made of many steps; silent when
 * stderr is not a terminal or the caller asked for JSON, so logs and machine output stay clean.
 */
export function progressLine(label: string, quiet = false, stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  if (quiet || !stream.isTTY) return { step: () => {}, done: () => {} };
  const width = Math.max(20, (stream.columns || 80) - 1);
  let shown = false;
  return {
    step(message) {
      stream.write(`\r\x1b[K${`${label}: ${message}`.slice(0, width)}`);
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
