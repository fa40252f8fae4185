/** A cheap fingerprint of the fans file (one stat), for caches that must notice `fanctl up`/`down`. */
import { stat } from 'node:fs/promises';

export async function fanStateStamp(stateDir: string): Promise<string> {
  const s = await stat(`${stateDir}/fans.json`, { bigint: true }).catch(() => undefined);
  return s ? `${s.ino}:${s.mtimeNs}:${s.size}` : 'none';
}
