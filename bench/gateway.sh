#!/usr/bin/env bash
# Gateway resource benchmark (docs/architecture.md §9 targets). Prints figures; asserts nothing.
#
#  1. `sungate run` polling the simulated inverter (QPIGS, QMOD, QPIWS), BMV and MPPT at 1 Hz for
#     DURATION seconds (default 60): CPU time and peak RSS of the gateway process; then the same
#     publishing to a local mosquitto when it is installed; then with MQTT, the dashboard/API
#     (one client following the live stream and reading /api/devices every 2 s, as an open
#     dashboard does) and the history store, and the weight of the dashboard's overview page
#     and the history database's size per device-day at 1 Hz.
#  2. One-shot `sungate query QPIGS` against the simulated inverter, RUNS times (default 21):
#     median CPU time (user + sys) and median peak RSS; the same for mpp-solar when it is
#     installed (pip install mppsolar; set MPP_SOLAR=/path/to/mpp-solar) or BENCH_INSTALL_MPP=1
#     lets this script put it in a throwaway venv.
# Usage: bench/gateway.sh [DURATION] [RUNS]
set -euo pipefail
duration=${1:-60}
runs=${2:-21}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

cargo build --release --quiet --bin sungate --bin sungate-sim
bin="$repo/target/release"
work=$(mktemp -d /tmp/sungate-bench.XXXXXX)
cleanup() { kill "${gw:-}" "${sim:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin/sungate-sim" --pty-dir "$work/pty" --seed 1 2>/dev/null &
sim=$!
for _ in $(seq 100); do [ -e "$work/pty/mppt" ] && break; sleep 0.05; done
[ -e "$work/pty/mppt" ] || { echo "the simulator did not start" >&2; exit 1; }

cat > "$work/bench.toml" <<TOML
[[port]]
name = "inv"
serial = "$work/pty/inverter"
[[port]]
name = "bmv"
serial = "$work/pty/bmv"
[[port]]
name = "mppt"
serial = "$work/pty/mppt"
[[device]]
name = "inverter"
driver = "pi30"
port = "inv"
poll_interval = 1.0
queries = ["QPIGS", "QMOD", "QPIWS"]
[[device]]
name = "bmv"
driver = "vedirect"
port = "bmv"
poll_interval = 1.0
[[device]]
name = "mppt"
driver = "vedirect"
port = "mppt"
poll_interval = 1.0
TOML

tck=$(getconf CLK_TCK)
run_gateway() { # label, config file: CPU and peak RSS of `sungate run` over DURATION seconds
    local label=$1 config=$2
    "$bin/sungate" run -c "$config" > "$work/run.log" 2>&1 &
    gw=$!
    sleep "$duration"
    read -r utime stime < <(awk '{print $14, $15}' "/proc/$gw/stat")
    # nanoseconds on CPU (all threads) from the scheduler: finer than the 10 ms ticks of utime/stime
    oncpu=$(awk '{print $1}' "/proc/$gw/schedstat" 2>/dev/null || echo 0)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$gw/status")
    snapshots=$(grep -c '=' "$work/run.log" || true)
    kill "$gw"; wait "$gw" 2>/dev/null || true; gw=
    python3 - "$duration" "$utime" "$stime" "$tck" "$hwm" "$snapshots" "$oncpu" "$label" <<'PY'
import sys
dur, ut, st, tck, hwm, snaps, ns = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
cpu = ns / 1e9 if ns > 0 else (ut + st) / tck
print(f"gateway run{sys.argv[8]}, 3 devices at 1 Hz for {dur:.0f} s: {snaps} console lines, CPU {cpu:.2f} s "
      f"= {100 * cpu / dur:.3f} % of one core (target < 0.5 %), peak RSS {hwm / 1024:.1f} MiB (target < 12 MiB)")
PY
}
run_gateway "" "$work/bench.toml"

# The same with MQTT to a local mosquitto (state, availability and discovery of every field).
mosquitto_bin=$(command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true)
if [ -n "$mosquitto_bin" ]; then
    mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n' "$mport" "$(id -un)" > "$work/mosquitto.conf"
    "$mosquitto_bin" -c "$work/mosquitto.conf" 2>/dev/null &
    broker=$!
    sleep 0.5
    { cat "$work/bench.toml"; printf '[mqtt]\nhost = "127.0.0.1"\nport = %s\n' "$mport"; } > "$work/bench-mqtt.toml"
    run_gateway " with MQTT" "$work/bench-mqtt.toml"
    hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    { cat "$work/bench-mqtt.toml"; printf '[http]\nbind = "127.0.0.1:%s"\n[history]\npath = "%s"\n' "$hport" "$work/history.db"; } > "$work/bench-all.toml"
    # An open dashboard: the live stream, and the device list every 2 s.
    python3 - "$hport" "$duration" > "$work/client.log" 2>&1 <<'PY' &
import sys, time, urllib.request, threading
port, duration = int(sys.argv[1]), float(sys.argv[2])
base = f"http://127.0.0.1:{port}"
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/api/devices", timeout=1).read(); break
    except Exception:
        time.sleep(0.1)
def stream():
    try:
        with urllib.request.urlopen(base + "/api/stream", timeout=duration + 5) as r:
            while r.readline(): pass
    except Exception:
        pass
threading.Thread(target=stream, daemon=True).start()
end = time.time() + duration
n = 0
while time.time() < end:
    try:
        urllib.request.urlopen(base + "/api/devices", timeout=2).read(); n += 1
    except Exception:
        pass
    time.sleep(2)
print(f"{n} reads of /api/devices")
PY
    client=$!
    run_gateway " with MQTT + HTTP + history" "$work/bench-all.toml"
    kill "$client" 2>/dev/null || true
    db_bytes=$(( $(stat -c %s "$work/history.db" 2>/dev/null || echo 0) + $(stat -c %s "$work/history.db-wal" 2>/dev/null || echo 0) ))
    python3 -c "import sys; b, d = int(sys.argv[1]), float(sys.argv[2]); print(f'history database after {d:.0f} s of 3 devices at 1 Hz: {b / 1024:.0f} KiB -> {b * 86400 / d / 3 / 2**20:.1f} MiB per device-day (includes the fixed pages of an empty database)')" "$db_bytes" "$duration"
    kill "$broker" 2>/dev/null || true
else
    echo "mosquitto not installed: no figure with MQTT (apt-get install mosquitto)"
fi

measure() { # label, command... : RUNS runs each for CPU and for peak RSS
    local label=$1; shift
    python3 - "$work" "$runs" "$label" "$@" <<'PY'
import os, statistics, subprocess, sys
work, runs, label, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def run(argv):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{label} failed: {p.stderr.read().decode(errors='replace')}")
    return ru
# CPU: the child's own rusage from wait4 (microsecond resolution).
cpu = [1000 * (ru.ru_utime + ru.ru_stime) for ru in (run(cmd) for _ in range(runs))]
# Peak RSS through GNU time: a child's maxrss also counts the memory of the process it was
# forked from before exec, which here would be this Python interpreter; time(1) is tiny.
rss = []
for _ in range(runs):
    out = os.path.join(work, "time.out")
    run(["/usr/bin/time", "-f", "%M", "-o", out] + cmd)
    rss.append(int(open(out).read().split()[-1]))
print(f"{label}: {runs} runs, median CPU {statistics.median(cpu):.2f} ms (min {min(cpu):.2f}), "
      f"median peak RSS {statistics.median(rss) / 1024:.1f} MiB")
with open(os.path.join(work, label.split()[0] + ".median"), "w") as f:
    f.write(f"{statistics.median(cpu)} {statistics.median(rss)}")
PY
}
measure "sungate query QPIGS" "$bin/sungate" query --port "$work/pty/inverter" QPIGS

mpp=${MPP_SOLAR:-$(command -v mpp-solar || true)}
if [ -z "$mpp" ] && [ "${BENCH_INSTALL_MPP:-0}" = 1 ]; then
    python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q mppsolar && mpp="$work/venv/bin/mpp-solar"
fi
if [ -n "$mpp" ]; then
    # mpp-solar picks its transport from the port name: it must contain "ttyusb" or "serial"
    ln -s "$work/pty/inverter" "$work/pty/ttyUSB-inverter"
    measure "mpp-solar -c QPIGS" "$mpp" -p "$work/pty/ttyUSB-inverter" -P PI30 -c QPIGS
    python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
s_cpu, s_rss = map(float, open(w + "/sungate.median").read().split())
m_cpu, m_rss = map(float, open(w + "/mpp-solar.median").read().split())
print(f"one-shot QPIGS: mpp-solar / sungate CPU ratio {m_cpu / s_cpu:.1f}x (target >= 10x), "
      f"peak RSS ratio {m_rss / s_rss:.1f}x (target >= 2x)")
PY
else
    echo "mpp-solar not installed: no comparison (BENCH_INSTALL_MPP=1 installs it in a temporary venv)"
fi

# The dashboard's overview page as a browser loads it: the page, its script, style, manifest
# and icon (all embedded in the binary; nothing else is fetched).
"$bin/sungate-sim" --pty-dir "$work/pty2" --seed 1 2>/dev/null &
sim2=$!
for _ in $(seq 100); do [ -e "$work/pty2/mppt" ] && break; sleep 0.05; done
wport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed "s#$work/pty/#$work/pty2/#" "$work/bench.toml" > "$work/bench-web.toml"
printf '[http]\nbind = "127.0.0.1:%s"\n' "$wport" >> "$work/bench-web.toml"
"$bin/sungate" run -c "$work/bench-web.toml" > /dev/null 2>&1 &
gw=$!
python3 - "$wport" <<'PY'
import sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/", timeout=1).read(); break
    except Exception:
        time.sleep(0.1)
total = 0
parts = []
for path in ["/", "/app.js", "/style.css", "/manifest.webmanifest", "/icon.svg", "/api/devices", "/api/bridges"]:
    n = len(urllib.request.urlopen(base + path, timeout=5).read())
    parts.append(f"{path} {n}")
    total += n
print(f"dashboard overview page weight: {total} bytes uncompressed (target < 150 KB): " + ", ".join(parts))
PY
kill "$gw" "$sim2" 2>/dev/null || true; gw=
