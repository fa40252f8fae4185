/**
 * A small CRI client for the lab: the kubelet's side of containerd's CRI plugin for pod sandboxes, over its unix
 * socket, with @grpc/grpc-js and the hand-written proto next to this file (cri-runtime-v1.proto, runtime.v1).
 * Debian packages no crictl; this is all the tests need of it. Every call has a deadline.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FanError } from '../../src/core/errors.js';

/** The .proto stays in the source tree (tsc copies no data files): dist/test/lab → test/lab. */
export const CRI_PROTO = fileURLToPath(new URL('../../../test/lab/cri-runtime-v1.proto', import.meta.url));

export interface PodMetadata {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt?: number;
}

export interface PodSandboxConfig {
  readonly metadata: PodMetadata;
  readonly hostname?: string;
  readonly log_directory?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly port_mappings?: readonly {
    protocol?: 'TCP' | 'UDP';
    container_port: number;
    host_port: number;
    host_ip?: string;
  }[];
  readonly linux?: { readonly cgroup_parent?: string };
}

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface PodSandboxStatus {
  readonly id: string;
  readonly metadata: PodMetadata;
  readonly state: SandboxState;
  readonly network: { readonly ip: string; readonly additional_ips: readonly { ip: string }[] } | null;
  readonly labels: Record<string, string>;
}

export interface PodSandboxStatusResponse {
  readonly status: PodSandboxStatus;
  /** Verbose only: `info` holds a JSON document (pid, netns path, runtime spec, …). */
  readonly info: Record<string, string>;
}

export interface PodSandbox {
  readonly id: string;
  readonly metadata: PodMetadata;
  readonly state: SandboxState;
}

export interface VersionResponse {
  readonly version: string;
  readonly runtime_name: string;
  readonly runtime_version: string;
  readonly runtime_api_version: string;
}

export interface RuntimeStatusResponse {
  readonly status: {
    readonly conditions: readonly { type: string; status: boolean; reason: string; message: string }[];
  };
  readonly info: Record<string, string>;
}

type Callback = (error: grpc.ServiceError | null, response: unknown) => void;
type UnaryMethod = (request: unknown, options: grpc.CallOptions, callback: Callback) => void;

function runtimeServiceClient(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(CRI_PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
  };
  return loaded.runtime.v1.RuntimeService;
}

export class CriClient {
  private readonly client: grpc.Client;

  constructor(
    readonly socket: string,
    private readonly timeoutMs = 60_000,
  ) {
    const Service = runtimeServiceClient();
    this.client = new Service(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  private call<T>(method: string, request: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const fn = (this.client as unknown as Record<string, UnaryMethod | undefined>)[method];
    if (!fn) throw new FanError(`CRI method ${method} is not in ${CRI_PROTO}`);
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, request, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(new FanError(`CRI ${method} failed: ${error.details || error.message}`));
        else resolve(response as T);
      });
    });
  }

  version(): Promise<VersionResponse> {
    return this.call('Version', { version: 'v1' }, 5_000);
  }

  status(verbose = false): Promise<RuntimeStatusResponse> {
    return this.call('Status', { verbose });
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config })).pod_sandbox_id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: id });
  }

  podSandboxStatus(id: string, verbose = false): Promise<PodSandboxStatusResponse> {
    return this.call('PodSandboxStatus', { pod_sandbox_id: id, verbose });
  }

  async listPodSandbox(): Promise<PodSandbox[]> {
    return (await this.call<{ items: PodSandbox[] }>('ListPodSandbox', {})).items;
  }

  close(): void {
    this.client.close();
  }
}
