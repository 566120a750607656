# Shared by bench/bpf_cost.sh and bench/ring_drops.sh (sourced, from the repository's root):
# a one-worker nginx serving a 612-byte page, the agent tracing it, and the cleanup of both
# (on exit, with kernel.bpf_stats_enabled as it was).

work=$(mktemp -d)
chmod 755 "$work"
previous_stats=$(sysctl -n kernel.bpf_stats_enabled)

cleanup() {
  sysctl -qw kernel.bpf_stats_enabled="$previous_stats"
  [[ -n ${agent_pid:-} ]] && kill "$agent_pid" 2>/dev/null
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {  # the first port from $1 up that nothing listens on
  local port=$1
  while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

start_nginx() {  # PORT [extra server directives]
  mkdir -p "$work/html" "$work/logs" "$work/tmp"
  head -c 612 /dev/zero | tr '\0' 'x' >"$work/html/index.html"
  cat >"$work/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$1; root $work/html; ${2:-} }
}
CONF
  nginx -c "$work/nginx.conf" -p "$work"
  for _ in $(seq 50); do [[ -s $work/nginx.pid ]] && break; sleep 0.1; done
}

program_ids() {  # ids of the BPF programs loaded now
  bpftool prog show -j |
    python3 -c 'import json, sys; print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))'
}

start_agent() {  # [agent flags]: traces nginx; sets agent_pid once the agent is ready
  build/ztrace run --no-console --stats-interval 0 --pid "$(cat "$work/nginx.pid")" "$@" \
    2>"$work/agent.log" &
  agent_pid=$!
  until grep -qs ready "$work/agent.log"; do
    kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
    sleep 0.05
  done
}
