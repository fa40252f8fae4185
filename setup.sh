#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine (as root): the system packages fan and its lab use, the npm
# dependencies, and the build (TypeScript + the eBPF object). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  iproute2 nftables iptables conntrack procps iputils-ping   # kernel tools fanctl drives
  clang llvm libbpf-dev bpftool                              # build and load the eBPF data plane
  dnsmasq-base                                               # DHCP on fan bridges
  ethtool iputils-arping                                     # fanctl doctor: offloads, duplicate underlay addresses
  iperf3 tcpdump busybox-static                              # lab: throughput, captures, DHCP client
  python3                                                    # e2e spoofing: raw packets (SOCK_RAW) from containers
  containernetworking-plugins podman docker.io               # CNI reference plugins, real runtimes for tests
  containerd runc                                            # Kubernetes' runtime path (CRI) for tests
  lxd lxd-client lxc                                         # LXD 5.0 and plain LXC, real runtimes for tests
  prometheus curl                                            # metrics tests: promtool, a real Prometheus, scrapes
  debootstrap dpkg-repack systemd                            # package tests: a clean Debian 12 root, systemd-analyze
  etcd-server etcd-client                                    # policy watch tests: a real etcd (v3 API), etcdctl
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh installs system packages: run it as root (sudo ./setup.sh)" >&2
  exit 1
fi
# Registries can fail for a moment: try each network step up to three times.
retry() {
  local attempt
  for attempt in 1 2 3; do
    "$@" && return 0
    echo "setup.sh: '$*' failed (attempt $attempt of 3)" >&2
    sleep $((attempt * 5))
  done
  return 1
}

export DEBIAN_FRONTEND=noninteractive
retry apt-get update -qq
retry apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
retry npm ci --no-audit --no-fund
npm run build
