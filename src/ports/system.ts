/**
 * The files and processes the kernel layer keeps beside kernel objects: records in the state directory, /proc
 * settings, the dnsmasq daemons fan starts. Behind a port so the apply and rollback logic runs in tests against a
 * fake host.
 */
export interface SystemFiles {
  /** The file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  /** Writes atomically (a reader sees the old or the new text), mode 0600. */
  write(path: string, text: string): Promise<void>;
  /** Removes the file; absent is fine. */
  remove(path: string): Promise<void>;
  /** Names of the entries of a directory ([] when it does not exist). Optional: readers fall back to what they know. */
  list?(dir: string): Promise<string[]>;
}

export interface Processes {
  /** The command name (/proc/PID/comm) of a live process, or undefined. */
  command(pid: number): Promise<string | undefined>;
  signal(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void;
  sleep(ms: number): Promise<void>;
}

export interface System extends SystemFiles, Processes {}
