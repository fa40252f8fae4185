/**
 * The policy document in etcd (v3 API over gRPC, with the `etcd3` client). The watch stream is the client's; it
 * reconnects with a bounded backoff and resumes from the last revision it saw. After every (re)connect the key is
 * also read once, so the watcher starts from the current document and a change made while the stream was down is
 * never missed; the watcher drops revisions it has already seen.
 */
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, type IKeyValue, isRecoverableError } from 'etcd3';
import { FanError, errorMessage } from '../core/errors.js';
import type { WatchedDocument } from '../core/policy/watch.js';
import type { PolicySource, PolicySourceEvents, PolicySourceWatch } from '../ports/policy-source.js';
import { checkEtcdTarget } from './endpoints.js';

function documentOf(kv: IKeyValue | undefined, headerRevision: string): WatchedDocument {
  if (!kv) return { revision: BigInt(headerRevision), text: undefined };
  return { revision: BigInt(kv.mod_revision), text: kv.value.toString('utf8') };
}

export interface EtcdPolicySourceOptions {
  /** Deadline of one read or write, ms. */
  readonly callTimeoutMs?: number;
}

export function etcdPolicySource(endpoints: string, key: string, options: EtcdPolicySourceOptions = {}): PolicySource {
  const hosts = checkEtcdTarget(endpoints, key);
  const callTimeoutMs = options.callTimeoutMs ?? 5000;
  const client = new Etcd3({
    hosts,
    dialTimeout: callTimeoutMs,
    // No circuit breaker per host (it would hold calls back for seconds after etcd is back) and a short, bounded
    // backoff for the watch stream: a restarted etcd is seen again within about a second.
    faultHandling: {
      host: () => noop,
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: 2,
        backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 500 }),
      }),
      // etcd3 takes the first step of a backoff and restarts from that step after each successful connect.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next(),
    },
    // A deadline for reads and writes, none for the watch stream (it lives as long as the watcher); HTTP/2 pings
    // find a stream whose peer vanished without closing it (etcd allows pings every 5 s by default).
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
    },
  });
  const description = `etcd ${hosts.join(',')} key ${key}`;
  const unreachable = (what: string, error: unknown): FanError =>
    new FanError(
      `cannot ${what} ${key} in etcd ${hosts.join(',')}: ${errorMessage(error)}`,
      'check that etcd runs and listens there (etcdctl --endpoints URL endpoint health)',
    );

  const read = async (): Promise<WatchedDocument> => {
    const res = await client.get(key).exec();
    return documentOf(res.kvs[0], res.header.revision);
  };

  return {
    description,
    watch(events: PolicySourceEvents): PolicySourceWatch {
      let closed = false;
      const watcher = client.watch().key(key).watcher();
      const resync = (): void => {
        read().then(
          (doc) => {
            if (!closed) events.document(doc);
          },
          (error: unknown) => {
            if (!closed) events.disconnected(errorMessage(error));
          },
        );
      };
      watcher.on('connected', () => {
        if (closed) return;
        events.connected();
        resync();
      });
      watcher.on('disconnected', (error: Error) => {
        if (!closed) events.disconnected(errorMessage(error));
      });
      // Not recoverable by the stream itself (e.g. the revision was compacted): read the key again.
      watcher.on('error', (error: Error) => {
        if (closed) return;
        events.disconnected(errorMessage(error));
        resync();
      });
      watcher.on('put', (kv: IKeyValue) => {
        if (!closed) events.document({ revision: BigInt(kv.mod_revision), text: kv.value.toString('utf8') });
      });
      watcher.on('delete', (kv: IKeyValue) => {
        if (!closed) events.document({ revision: BigInt(kv.mod_revision), text: undefined });
      });
      return {
        async close() {
          closed = true;
          await watcher.cancel().catch(() => undefined);
        },
      };
    },
    async publish(text: string): Promise<bigint> {
      try {
        const res = await client.put(key).value(text).exec();
        return BigInt(res.header.revision);
      } catch (error) {
        throw unreachable('write', error);
      }
    },
    async read(): Promise<WatchedDocument> {
      try {
        return await read();
      } catch (error) {
        throw unreachable('read', error);
      }
    },
    async close() {
      client.close();
    },
  };
}
