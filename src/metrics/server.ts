/**
 * The metrics endpoint: GET /metrics collects fresh facts (src/metrics/collect.ts), maps them to samples and
 * renders them. Collections run one at a time (each reads the kernel; two at once would only double the work).
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { ConfigError, errorMessage } from '../core/errors.js';
import { coalesce } from './coalesce.js';
import { FanMetricsRegistry } from './registry.js';
import { type MetricsInput, metricSamples } from './samples.js';

export { DEFAULT_METRICS_LISTEN } from '../core/defaults.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `127.0.0.1:9474`, `[::1]:9474`, `:9474` (every address), `9474`. */
export function parseListen(text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):?(\d+)$/.exec(text.includes(':') ? text : `:${text}`);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(
      `--listen ${text} is not an address and port`,
      'write HOST:PORT, e.g. 127.0.0.1:9474 (or :9474 for every address)',
    );
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export interface MetricsServer {
  /** `http://127.0.0.1:9474/metrics` */
  readonly url: string;
  close(): Promise<void>;
}

export async function serveMetrics(
  listen: ListenAddress,
  collect: () => Promise<MetricsInput>,
  options: { readonly log: (line: string) => void },
): Promise<MetricsServer> {
  const registry = new FanMetricsRegistry();
  const scrape = coalesce(async () => registry.render(metricSamples(await collect())));
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      try {
        const body = await scrape();
        res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      } catch (error) {
        options.log(`scrape failed: ${errorMessage(error)}`);
        res
          .writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' })
          .end(`fan: collecting metrics failed: ${errorMessage(error)}\n`);
      }
    } else if (path === '/') {
      res
        .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        .end('<html><body><a href="/metrics">fan metrics</a></body></html>\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
    }
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          `cannot listen on ${listen.host}:${listen.port}: ${error.code ?? error.message}`,
          'pick a free address and port with --listen HOST:PORT',
        ),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
