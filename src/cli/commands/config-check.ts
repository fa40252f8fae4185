/** `fanctl config check`: validates /etc/network/fan and reports every problem in one run. */
import { type FanConfig, DEFAULT_FAN_CONFIG, parseFanConfig } from '../../core/config/fan-file.js';
import { ConfigError } from '../../core/errors.js';
import type { TextFiles } from '../../ports/host.js';

export async function readFanConfig(files: TextFiles, path = DEFAULT_FAN_CONFIG): Promise<FanConfig> {
  const text = await files.read(path);
  if (text === undefined) {
    throw new ConfigError(
      `config file ${path} does not exist`,
      `create it with one fan per line (e.g. "-o 250.0.0.0/8 -u eth0/16 dhcp"), or pass --config PATH`,
    );
  }
  return parseFanConfig(text, path);
}
