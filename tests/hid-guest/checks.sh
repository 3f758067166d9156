#!/bin/sh
# The HID end-to-end checks, run by /init inside the guest (busybox sh). One line per check,
# "ok - ..." or "not ok - ...", then "HID-GUEST-RESULT: N passed, M failed".
#
# Two identical simulated inverters (sim.toml): "inverter" serial 92932309100452 on USB/IP bus id
# 1-1 (127.0.0.1:3240), "inverter2" serial 92932309100999 on 2-1 (127.0.0.1:3241).

SERIAL1=92932309100452
SERIAL2=92932309100999
CONTROL=http://127.0.0.1:8900
VHCI=/sys/devices/platform/vhci_hcd.0
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $*"; }
notok() { failed=$((failed + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() { d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }
note() { echo "# $*"; }
finish() {
    echo "HID-GUEST-RESULT: $passed passed, $failed failed"
    exit 0
}

# A JSON object's member "KEY": value (number, string without quotes, true/false), first match.
jget() { # KEY JSON
    printf '%s' "$2" | grep -o "\"$1\":\(\"[^\"]*\"\|[^,}]*\)" | head -n 1 | sed "s/^\"$1\"://; s/^\"//; s/\"$//"
}
# The object of one query in `sungate query` output: {"QPIGS":{...},...} -> {...}
section() { # NAME JSON
    printf '%s' "$2" | grep -o "\"$1\":{[^}]*}" | head -n 1 | sed "s/^\"$1\"://"
}
near() { # A B TOLERANCE: |A - B| <= TOLERANCE
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t) }'
}
ctl() { wget -qO- "$CONTROL$1" 2>/dev/null; }
ctl_post() { wget -qO- --post-data "${2:-}" --header 'content-type: application/json' "$CONTROL$1" 2>/dev/null; }
wait_for() { # SECONDS COMMAND...: poll every 0.2 s
    n=$(($1 * 5)); shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.2
        n=$((n - 1))
    done
    return 1
}
# hidraw node (hidrawN) of the inverter attached on vhci PORT, from sysfs: the hidraw device's
# path runs through the vhci root hub port, e.g. .../usb1/1-1/1-1:1.0/0003:0665:5161.0001/hidraw/hidraw0
hidraw_of_port() { # vhci port (hs ports 0.. are root hub ports 1..)
    for h in /sys/class/hidraw/hidraw*; do
        [ -e "$h" ] || continue
        case "$(readlink -f "$h/device")" in
            */usb*/*-$(($1 + 1))/*) basename "$h"; return 0 ;;
        esac
    done
    return 1
}
gw_lines() { grep -c " inverter .*ac_input_voltage=" "$1" 2>/dev/null || echo 0; }

# --- setup ------------------------------------------------------------------------------------
[ -d "$VHCI" ] && ok "vhci-hcd is loaded ($VHCI)" || { notok "vhci-hcd is loaded ($VHCI missing)"; finish; }
for m in usbcore vhci_hcd usbip_core hid usbhid hid_generic; do
    [ -d "/sys/module/$m" ] || notok "module $m is loaded"
done

mkdir -p /tmp/pty
sungate-sim --config /guest/sim.toml --pty-dir /tmp/pty --control 127.0.0.1:8900 >/tmp/sim.log 2>&1 &
sim_pid=$!
if ! wait_for 20 ctl /health >/dev/null; then
    notok "simulator control API answers"; cat /tmp/sim.log; finish
fi
ok "simulator up (USB/IP on 127.0.0.1:3240 and :3241)"

out=$(sungate-usbip-attach 127.0.0.1:3240 1-1 2>&1)
note "$out"
if [ -n "$out" ] && wait_for 20 test -c /dev/hidraw0; then
    ok "attach 1-1 over USB/IP: /dev/hidraw0 appeared"
else
    notok "attach 1-1 over USB/IP: /dev/hidraw0 appeared ($out)"
    dmesg | tail -n 30; cat "$VHCI/status"; finish
fi
uevent=$(cat /sys/class/hidraw/hidraw0/device/uevent 2>/dev/null)
note "$(echo "$uevent" | tr '\n' ' ')"
check "hidraw0 is 0665:5161 bound to hid-generic" sh -c 'echo "$1" | grep -q "HID_ID=0003:00000665:00005161" && echo "$1" | grep -q "DRIVER=hid-generic"' _ "$uevent"
echo "$(sungate scan 2>&1 | head -n 5)" | sed 's/^/# scan: /'
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
c0=$(cpu_ticks "$sim_pid"); sleep 3; c1=$(cpu_ticks "$sim_pid")
note "simulator CPU while the attached device idles 3 s: $((c1 - c0)) ticks (of 300)"
check "an idle attached device does not busy-loop the simulator (< 30% CPU)" test $((c1 - c0)) -lt 90

# --- identify ---------------------------------------------------------------------------------
t0=$(date +%s)
out=$(sungate query --port hid:/dev/hidraw0 QPI QID QVFW 2>&1)
note "query QPI QID QVFW ($(( $(date +%s) - t0 ))s): $out"
state=$(ctl /devices/inverter)
fw=$(jget firmware "$state")
check "identify: QPI = PI30" test "$(jget protocol_id "$out")" = PI30
check "identify: QID = $SERIAL1 (the simulator's serial)" test "$(jget serial_number "$out")" = "$SERIAL1"
check "identify: QVFW carries firmware $fw" sh -c 'case "$1" in *"$2"*) exit 0;; esac; exit 1' _ "$(jget main_cpu_firmware_version "$out")" "${fw:-none}"

# --- poll ---------------------------------------------------------------------------------------
out=$(sungate query --port hid:/dev/hidraw0 QPIGS QPIRI QMOD QPIWS 2>&1)
state=$(ctl /devices/inverter)
qpigs=$(section QPIGS "$out"); qpiri=$(section QPIRI "$out"); qmod=$(section QMOD "$out"); qpiws=$(section QPIWS "$out")
note "QPIGS: $qpigs"
note "QMOD: $qmod"
rated_w=$(jget rated_w "$state"); rated_va=$(jget rated_va "$state")
check "QPIRI rated power $(jget ac_output_active_power "$qpiri") W / $(jget ac_output_apparent_power "$qpiri") VA = simulator ${rated_w} W / ${rated_va} VA" \
    sh -c '[ -n "$1" ] && [ "$1" = "$2" ] && [ "$3" = "$4" ]' _ "$(jget ac_output_active_power "$qpiri")" "$rated_w" "$(jget ac_output_apparent_power "$qpiri")" "$rated_va"
bv=$(jget battery_voltage "$qpigs"); sim_bv=$(jget battery_voltage "$state")
check "QPIGS battery voltage $bv V within 1 V of the simulator's $sim_bv V" near "$bv" "$sim_bv" 1.0
soc=$(jget battery_capacity "$qpigs"); sim_soc=$(jget soc_percent "$state")
check "QPIGS battery capacity $soc % within 2 of the simulator's $sim_soc %" near "$soc" "$sim_soc" 2
ov=$(jget ac_output_voltage "$qpigs")
check "QPIGS output voltage $ov V plausible (200..260)" awk -v v="$ov" 'BEGIN { exit !(v != "" && v >= 200 && v <= 260) }'
mode=$(jget device_mode "$qmod"); sim_mode=$(printf '%s' "$state" | grep -o '"mode":"[A-Za-z]*"' | head -n 1 | sed 's/.*:"//; s/"//')
check "QMOD mode $mode = simulator $sim_mode" sh -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$mode" "$sim_mode"
check "QPIWS decodes, no active warnings" sh -c '[ -n "$1" ] && echo "$1" | grep -q "\"active_warnings\":\"\""' _ "$qpiws"

# --- setter verified by read-back ---------------------------------------------------------------
out=$(sungate set --port hid:/dev/hidraw0 output_source_priority sbu_first 2>&1)
note "set: $out"
check "set output_source_priority sbu_first: verified by read-back" sh -c 'echo "$1" | grep -q "\"ok\":true" && echo "$1" | grep -q "\"verified\":true"' _ "$out"
out=$(sungate query --port hid:/dev/hidraw0 QPIRI 2>&1)
prio=$(jget output_source_priority "$out")
check "QPIRI now shows output source priority '$prio'" sh -c 'echo "$1" | grep -qi "sbu"' _ "$prio"
check "the simulator's setting changed (output_priority 2)" sh -c 'ctl() { wget -qO- "$1"; }; ctl "$1/devices/inverter" | grep -q "\"output_priority\":2"' _ "$CONTROL"

# --- two identical inverters told apart by serial number --------------------------------------
out=$(sungate-usbip-attach 127.0.0.1:3241 2-1 2>&1)
note "$out"
check "attach 2-1 (second inverter): /dev/hidraw1 appeared" wait_for 20 test -c /dev/hidraw1
out=$(sungate query --port "hid:0665:5161:$SERIAL2" QID QPIRI 2>&1)
note "query hid:0665:5161:$SERIAL2: $(echo "$out" | cut -c1-200)"
check "hid:0665:5161:$SERIAL2 reads QID $SERIAL2" test "$(jget serial_number "$out")" = "$SERIAL2"
check "hid:0665:5161:$SERIAL2 reads inverter2's QPIRI (output priority not changed: Utility first)" \
    sh -c 'echo "$1" | grep -qi "\"output_source_priority\":\"Utility"' _ "$out"
out=$(sungate query --port "hid:0665:5161:$SERIAL1" QID 2>&1)
check "hid:0665:5161:$SERIAL1 reads QID $SERIAL1" test "$(jget serial_number "$out")" = "$SERIAL1"
out=$(sungate query --port "hid:0665:5161:12345678901234" QID 2>&1)
check "hid:0665:5161:<unknown serial> fails" sh -c '! echo "$1" | grep -q serial_number' _ "$out"
note "unknown serial: $(echo "$out" | tail -n 1 | cut -c1-200)"
out=$(sungate query --port "hid:0665:5161" QID 2>&1)
note "hid:0665:5161 with two matches: $(echo "$out" | tail -n 1 | cut -c1-200)"

timeout 12 sungate run -c /guest/gateway-serial2.toml >/tmp/gw2.log 2>&1 &
gw2=$!
wait_for 12 sh -c '[ "$(grep -c " inverter .*ac_input_voltage=" /tmp/gw2.log)" -ge 2 ]'
kill "$gw2" 2>/dev/null; wait "$gw2" 2>/dev/null
check "sungate run with hid = \"0665:5161:$SERIAL2\" identifies inverter2 and polls" \
    sh -c 'grep -q "identified:.*serial $1" /tmp/gw2.log && [ "$(grep -c " inverter .*ac_input_voltage=" /tmp/gw2.log)" -ge 2 ]' _ "$SERIAL2"
grep -v "ac_input_voltage=" /tmp/gw2.log | head -n 10 | sed 's/^/# gw2: /'

# --- re-enumeration under another hidraw number -----------------------------------------------
# inverter (serial 1) is on vhci port 0 = hidraw0, inverter2 on port 1 = hidraw1.
before=$(hidraw_of_port 0)
note "before: serial1 on $before, serial2 on $(hidraw_of_port 1)"
sungate run -c /guest/gateway-serial1.toml >/tmp/gw1.log 2>&1 &
gw1=$!
if wait_for 20 sh -c '[ "$(grep -c " inverter .*ac_input_voltage=" /tmp/gw1.log)" -ge 2 ]'; then
    ok "sungate run with hid = \"0665:5161:$SERIAL1\" polls ($before)"
else
    notok "sungate run with hid = \"0665:5161:$SERIAL1\" polls"
fi
# Unplug inverter 1 (the simulator closes the USB/IP session: vhci sees a disconnect), then move
# inverter 2 to the lowest free hidraw number and plug inverter 1 back in after it.
ctl_post "/devices/inverter/disconnect?interface=usb" >/dev/null
check "unplug (control API disconnect): $before disappears" wait_for 15 sh -c '! test -e /dev/'"$before"
check "the gateway reports the unplugged inverter OFFLINE" wait_for 20 grep -qi "offline" /tmp/gw1.log
note "$(sungate-usbip-attach --detach 1 2>&1)"
wait_for 10 sh -c '! test -e /dev/hidraw1' || note "hidraw1 still there after detaching port 1"
note "$(sungate-usbip-attach 127.0.0.1:3241 2-1 2>&1)"
wait_for 15 sh -c 'ls /sys/class/hidraw/ | grep -q hidraw' || true
ctl_post "/devices/inverter/reconnect?interface=usb" >/dev/null
note "$(sungate-usbip-attach 127.0.0.1:3240 1-1 2>&1)"
wait_for 15 sh -c '[ "$(ls /sys/class/hidraw | wc -l)" -ge 2 ]'
sleep 1
after=$(hidraw_of_port 1); other=$(hidraw_of_port 0)
note "after: serial1 on ${after:-?} (vhci port 1), serial2 on ${other:-?} (vhci port 0)"
check "inverter 1 came back under another hidraw number ($before -> ${after:-none})" \
    sh -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$after" "$before"
mark=$(wc -l </tmp/gw1.log)
resumed() { # LINE: "online" and two snapshots after line LINE of the gateway's output
    tail -n +"$1" /tmp/gw1.log | grep -q " inverter online" \
        && [ "$(tail -n +"$1" /tmp/gw1.log | grep -c " inverter .*ac_input_voltage=")" -ge 2 ]
}
# The gateway may already have found it during the attaches above: count from the OFFLINE line.
off_line=$(grep -n " inverter OFFLINE" /tmp/gw1.log | tail -n 1 | cut -d: -f1)
if wait_for 45 resumed "$((${off_line:-$mark} + 1))"; then
    ok "the gateway found serial $SERIAL1 again on ${after:-?} and resumed polling by itself"
else
    notok "the gateway found serial $SERIAL1 again on ${after:-?} and resumed polling by itself"
fi
# Second outage, from the host side this time: vhci detaches the port (the kernel closes the
# USB/IP socket), then the device is attached again.
port1=1
[ "$(hidraw_of_port 0)" = "$after" ] && port1=0
offline_before=$(grep -c " inverter OFFLINE" /tmp/gw1.log)
note "$(sungate-usbip-attach --detach "$port1" 2>&1)"
check "vhci detach of port $port1: the gateway reports OFFLINE again" \
    wait_for 20 sh -c '[ "$(grep -c " inverter OFFLINE" /tmp/gw1.log)" -gt "$1" ]' _ "$offline_before"
mark=$(wc -l </tmp/gw1.log)
note "$(sungate-usbip-attach 127.0.0.1:3240 1-1 2>&1)"
if wait_for 45 resumed "$((mark + 1))"; then
    ok "re-attached over USB/IP: polling resumed by itself ($(hidraw_of_port "$port1"))"
else
    notok "re-attached over USB/IP: polling resumed by itself"
fi
kill "$gw1" 2>/dev/null; wait "$gw1" 2>/dev/null
check "after each re-discovery the gateway identified serial $SERIAL1 (3 times), never $SERIAL2" \
    sh -c '[ "$(grep -c "identified:.*serial $1" /tmp/gw1.log)" -ge 3 ] && ! grep -q "identified:.*serial $2" /tmp/gw1.log' _ "$SERIAL1" "$SERIAL2"
grep -v "ac_input_voltage=" /tmp/gw1.log | sed 's/\x1b\[[0-9;]*m//g' | sed 's/^/# gw1: /' | head -n 40
note "gw1: $(gw_lines /tmp/gw1.log) snapshots"

# --- sungate init: the first-run setup finds both HID inverters by VID:PID:serial -------------
# Both units are attached again here (hidraw numbers shuffled by the re-enumeration above). init
# probes the machine as on a Pi (hidraw by sysfs; this guest has no /dev/serial/by-id).
wait_for 15 sh -c '[ "$(ls /sys/class/hidraw | wc -l)" -ge 2 ]' || note "fewer than 2 hidraw nodes before init"
t0=$(date +%s)
sungate init --output /tmp/init.toml --history /tmp/init-history.db --http 127.0.0.1:8081 --name guest >/tmp/init.out 2>&1
init_rc=$?
sed 's/^/# init: /' /tmp/init.out
check "sungate init finds two HID inverters and writes a config (exit $init_rc, $(( $(date +%s) - t0 ))s)" \
    sh -c '[ "$1" = 0 ] && grep -q "found 2 device" /tmp/init.out && test -s /tmp/init.toml' _ "$init_rc"
grep -E '^(hid|name|driver) ' /tmp/init.toml | sed 's/^/# init.toml: /'
check "init names each inverter by VID:PID:serial (hid = \"0665:5161:$SERIAL1\" and \"0665:5161:$SERIAL2\")" \
    sh -c 'grep -q "^hid = \"0665:5161:$1\"" /tmp/init.toml && grep -q "^hid = \"0665:5161:$2\"" /tmp/init.toml' _ "$SERIAL1" "$SERIAL2"
check "init's config: driver pi30 for both, no hidraw path" \
    sh -c '[ "$(grep -c "^driver = \"pi30\"" /tmp/init.toml)" = 2 ] && ! grep -q "^hid = \"/dev/hidraw" /tmp/init.toml'
out=$(sungate check-config /tmp/init.toml 2>&1)
check "check-config accepts init's config ($out)" sh -c 'echo "$1" | grep -q ": ok (2 ports, 2 devices)"' _ "$out"
timeout 20 sungate run -c /tmp/init.toml >/tmp/gw-init.log 2>&1 &
gwi=$!
polled() { [ "$(grep -c " $1 .*ac_input_voltage=" /tmp/gw-init.log)" -ge 2 ]; }
both_polled() { polled inverter && polled inverter2; }
wait_for 20 both_polled
kill "$gwi" 2>/dev/null; wait "$gwi" 2>/dev/null
grep -v "ac_input_voltage=" /tmp/gw-init.log | sed 's/\x1b\[[0-9;]*m//g' | head -n 12 | sed 's/^/# gw-init: /'
check "sungate run on init's config polls both inverters ($(grep -c " inverter .*ac_input_voltage=" /tmp/gw-init.log) and $(grep -c " inverter2 .*ac_input_voltage=" /tmp/gw-init.log) snapshots)" \
    both_polled
check "sungate run on init's config identified serials $SERIAL1 and $SERIAL2" \
    sh -c 'grep -q "identified:.*serial $1" /tmp/gw-init.log && grep -q "identified:.*serial $2" /tmp/gw-init.log' _ "$SERIAL1" "$SERIAL2"
cp /tmp/init.toml /tmp/init.before
sungate init --output /tmp/init.toml >/tmp/init2.out 2>&1
init2_rc=$?
check "a second init without --force refuses (exit $init2_rc) and leaves the file unchanged" \
    sh -c '[ "$1" != 0 ] && grep -q -- "--force" /tmp/init2.out && cmp -s /tmp/init.toml /tmp/init.before' _ "$init2_rc"

note "simulator warnings: $(grep -c -E "WARN|ERROR" /tmp/sim.log)"
grep -E "WARN|ERROR" /tmp/sim.log | sed 's/\x1b\[[0-9;]*m//g' | head -n 20 | sed 's/^/# sim: /'
# The devices' side of the kernel log (not the 16 root hubs vhci registers; "vhci_device speed
# not set" is printed for every full-speed device reset and is harmless).
dmesg | grep -E "usb [0-9]+-[0-9]|hid-generic|usbhid|hidraw|vhci_hcd vhci_hcd.0: (pdev|devid|Device)|[Ee]rror|[Ff]ail|[Ww]arn" \
    | grep -v "speed not set" | sed 's/^/# dmesg: /' | head -n 80
if [ "$failed" -gt 0 ]; then
    echo "# --- simulator log"; tail -n 40 /tmp/sim.log
    echo "# --- dmesg"; dmesg | grep -iE "usb|hid|vhci" | tail -n 40
    echo "# --- vhci status"; cat "$VHCI/status"
fi
kill "$sim_pid" 2>/dev/null
finish
