#!/bin/sh
# Side-by-side single-stream iperf3 and ping on a running lab (fanctl lab up --name fnfp --hosts 2 --type vxlan-fast):
# underlay h1→h2, fast path h1-c1→h2-c1, and the kernel vxlan path (the fast path switched off in its maps).
# Client and server pinned to CPU 0. Usage: test/lab/fastpath-bench.sh [PREFIX] [RUNS] [SECONDS]
P=${1:-fnfp}; RUNS=${2:-3}; T=${3:-4}
mode() { # NS 0|1: every fast-path switch in NS
  for id in $(ip netns exec "$1" bpftool -j net show | python3 -c "
import json,sys
for e in json.load(sys.stdin):
  for t in e.get('tc',[]):
    if '[tc/fp_' in t.get('name',''): print(t['id'])"); do
    for m in $(ip netns exec "$1" bpftool -j prog show id "$id" | python3 -c "import json,sys;print(' '.join(map(str,json.load(sys.stdin)['map_ids'])))"); do
      ip netns exec "$1" bpftool map show id "$m" | grep -q fan_fp_ctl &&
        ip netns exec "$1" bpftool map update id "$m" key hex 00 00 00 00 value hex "0$2" 00 00 00
    done
  done
}
gbit() { # SERVER_NS CLIENT_NS ADDRESS
  ip netns exec "$1" taskset -c 0 iperf3 -s -1 -p 5399 >/dev/null 2>&1 & s=$!
  sleep 0.3
  ip netns exec "$2" taskset -c 0 iperf3 -c "$3" -p 5399 -t "$T" -J |
    python3 -c "import json,sys; print('%.2f' % (json.load(sys.stdin)['end']['sum_received']['bits_per_second']/1e9))"
  wait $s
}
rtt() { ip netns exec "$1" ping -n -q -c 20 -i 0.05 "$2" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p'; }
C1=$(ip -n $P-h1-c1 -4 -br addr show eth0 | awk '{print $3}' | cut -d/ -f1)
C2=$(ip -n $P-h2-c1 -4 -br addr show eth0 | awk '{print $3}' | cut -d/ -f1)
U2=$(ip -n $P-h2 -4 -br addr show eth0 | awk '{print $3}' | cut -d/ -f1)
ping -c1 -W1 >/dev/null 2>&1; ip netns exec $P-h1-c1 ping -c 2 -W 1 "$C2" >/dev/null
for i in $(seq "$RUNS"); do
  u=$(gbit $P-h2 $P-h1 "$U2"); mode $P-h1 1; mode $P-h2 1; f=$(gbit $P-h2-c1 $P-h1-c1 "$C2")
  mode $P-h1 0; mode $P-h2 0; k=$(gbit $P-h2-c1 $P-h1-c1 "$C2"); mode $P-h1 1; mode $P-h2 1
  u2=$(gbit $P-h2 $P-h1 "$U2")
  echo "run $i: underlay $u $u2 fast $f kernel-vxlan $k Gbit/s"
done
echo "rtt ms: underlay $(rtt $P-h1 "$U2") fast $(rtt $P-h1-c1 "$C2")"
mode $P-h1 0; mode $P-h2 0; echo "rtt ms: kernel-vxlan $(rtt $P-h1-c1 "$C2")"; mode $P-h1 1; mode $P-h2 1
