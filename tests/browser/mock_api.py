#!/usr/bin/env python3
"""A stand-in for the gateway's HTTP API (docs: /work/issue13-plan.md, "HTTP"), for developing the
dashboard and its browser test without the Rust server. Python 3 stdlib only.

Serves the dashboard assets from gateway/src/http/assets/, canned but moving JSON for every
endpoint, the SSE stream, and, under /sim/, the few simulator control routes the browser test
uses (GET /sim/devices/{name}, POST /sim/devices/{name}/disconnect|reconnect), so that the test
runs the same code path against the mock as against the simulator.

    python3 tests/browser/mock_api.py --port 8181 --token secret [--no-writes]
"""

import argparse
import json
import math
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "gateway", "src", "http", "assets")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
}
STARTED = time.time()
LOCK = threading.Lock()
CHOICES = ["utility_first", "solar_first", "sbu_first"]
SETTING_STATE = {"output_source_priority": "solar_first", "battery_float_charge_voltage": 54.0,
                 "max_charging_current": 60, "charger_source_priority": "solar_first"}
PLUGGED = {"inverter": True, "bmv": True, "mppt": True}
OFFLINE_SINCE = {}
EVENTS = []
SUBSCRIBERS = []


def now_ms():
    return int(time.time() * 1000)


def publish(kind, data):
    with LOCK:
        for q in SUBSCRIBERS:
            q.append((kind, data))


def log_event(device, kind, message, detail=None):
    ev = {"at_ms": now_ms(), "device": device, "kind": kind, "message": message, "detail": detail or {}}
    with LOCK:
        EVENTS.insert(0, ev)
    publish("log", ev)


def fields(name):
    t = time.time()
    wob = math.sin(t / 30)
    if name == "inverter":
        pv = 1360 + 40 * wob
        return [
            ("device_mode", "Line", None), ("ac_input_voltage", round(230 + wob, 1), "V"),
            ("ac_input_frequency", 50.0, "Hz"), ("ac_output_voltage", round(229.9 + wob, 1), "V"),
            ("ac_output_frequency", 50.0, "Hz"), ("ac_output_apparent_power", 470, "VA"),
            ("ac_output_active_power", int(398 + 5 * wob), "W"), ("ac_output_load", 9, "%"),
            ("bus_voltage", 440, "V"), ("battery_voltage", round(56.4 - 0.1 * wob, 2), "V"),
            ("battery_charging_current", 23, "A"), ("battery_capacity", 80, "%"),
            ("inverter_heat_sink_temperature", 30, "°C"), ("pv_input_current_for_battery", 12.4, "A"),
            ("pv_input_voltage", 109.5, "V"), ("battery_voltage_from_scc", 56.4, "V"),
            ("battery_discharge_current", 0, "A"), ("pv_input_power", int(pv), "W"),
            ("is_load_on", True, None), ("is_charging_on", True, None),
            ("output_source_priority", SETTING_STATE["output_source_priority"].replace("_", " ").capitalize(), None),
            # The gateway's energy counters (kWh, with their source).
            ("pv_energy", round(t / 3600 * 1.36 % 10000, 6), "kWh"), ("pv_energy_source", "integrated", None),
            ("load_energy", round(t / 3600 * 0.4 % 10000, 6), "kWh"), ("load_energy_source", "integrated", None),
        ]
    if name == "bmv":
        return [
            ("dc_monitor_mode", "battery monitor", None), ("battery_voltage", round(12.62 + 0.01 * wob, 3), "V"),
            ("battery_temperature", 25, "°C"), ("battery_current", round(-4.0 + 0.01 * wob, 3), "A"),
            ("battery_power", -51, "W"), ("consumed_ah", -30.0, "Ah"), ("state_of_charge", 85.2, "%"),
            ("time_to_go", 1050, "min"), ("alarm", False, None),
        ]
    if name == "mppt":
        return [
            ("charge_state", "bulk", None), ("battery_voltage", round(13.04 + 0.01 * wob, 3), "V"),
            ("battery_current", 30.0, "A"), ("panel_voltage", 36.3, "V"), ("panel_power", int(403 + 3 * wob), "W"),
            ("yield_total", 156.18, "kWh"), ("yield_today", 1.42, "kWh"), ("max_power_today", 391, "W"),
            ("yield_yesterday", 1.77, "kWh"), ("error", "none", None),
        ]
    if name == "battery-sense":
        sent = int(time.time()) - 4
        return [
            ("source_state", "ok", None), ("source_temperature", 25, "°C"), ("source_voltage", 12.62, "V"),
            ("mppt_temperature_sent", 25, "°C"), ("mppt_temperature_sent_at", sent, "s"),
            ("mppt_temperature_acknowledged", True, None), ("mppt_temperature_in_use", True, None),
            ("mppt_voltage_sent", 12.62, "V"), ("mppt_voltage_sent_at", sent, "s"),
            ("mppt_voltage_acknowledged", True, None), ("mppt_voltage_in_use", True, None),
        ]
    return []


IDENTITY = {
    "inverter": {"protocol": "PI30", "model": "MKS2-5000", "serial": "92932309100452", "firmware": "00072.70", "manufacturer": None},
    "bmv": {"protocol": "VE.Direct", "model": "BMV-712 Smart", "serial": None, "firmware": "4.13", "manufacturer": "Victron Energy"},
    "mppt": {"protocol": "VE.Direct", "model": "SmartSolar MPPT 100/30", "serial": "HQ2207K4R2M", "firmware": "1.61", "manufacturer": "Victron Energy"},
}
DEVICES = [("inverter", "pi30", "inverter-rs232", 5.0), ("bmv", "vedirect", "bmv", 2.0),
           ("mppt", "vedirect", "mppt", 2.0), ("battery-sense", None, None, 15.0)]


def online(name):
    # The gateway notices an unplugged device after a failed poll, not at once.
    if name not in PLUGGED:
        return True
    since = OFFLINE_SINCE.get(name)
    return not (since is not None and time.time() - since > 2.0)


def summary(name, driver, port, poll):
    on = online(name)
    updated = now_ms() - 700 if on else int(OFFLINE_SINCE.get(name, time.time()) * 1000)
    age = (now_ms() - updated) / 1000
    return {"name": name, "kind": "bridge" if driver is None else "device", "driver": driver, "port": port,
            "online": on, "reason": None if on else "no answer for 3 polls (timeout)",
            "identity": IDENTITY.get(name), "updated_ms": updated, "age_s": round(age, 1),
            "stale": age > max(3 * poll, 10), "poll_interval_s": poll}


def settings(name, writes):
    if name != "inverter":
        return {"device": name, "writes": writes, "settings": []}
    s = SETTING_STATE
    return {"device": name, "writes": writes, "settings": [
        {"name": "output_source_priority", "kind": "choice", "choices": CHOICES, "min": None, "max": None,
         "step": None, "unit": None, "current": s["output_source_priority"], "field": "output_source_priority"},
        {"name": "charger_source_priority", "kind": "choice",
         "choices": ["utility_first", "solar_first", "solar_and_utility", "solar_only"], "min": None, "max": None,
         "step": None, "unit": None, "current": s["charger_source_priority"], "field": "charger_source_priority"},
        {"name": "battery_float_charge_voltage", "kind": "number", "choices": None, "min": 48.0, "max": 58.4,
         "step": 0.1, "unit": "V", "current": s["battery_float_charge_voltage"], "field": "battery_float_charge_voltage"},
        {"name": "max_charging_current", "kind": "number", "choices": None, "min": 10, "max": 120, "step": 10,
         "unit": "A", "current": s["max_charging_current"], "field": "max_charging_current"},
    ]}


def history(name, q):
    to = int(q.get("to_ms", [now_ms()])[0])
    span = {"6h": 6, "24h": 24, "7d": 168, "30d": 720}.get(q.get("range", ["6h"])[0], 6) * 3600_000
    frm = int(q.get("from_ms", [to - span])[0])
    step = max(60_000, (to - frm) // 360)
    vals = dict((f, v) for f, v, _ in fields(name))
    units = dict((f, u) for f, _, u in fields(name))
    series = []
    for f in [x for x in q.get("fields", [""])[0].split(",") if x]:
        base = vals.get(f, 0) if isinstance(vals.get(f), (int, float)) else 0
        pts = []
        rnd = random.Random(f)
        for t in range(frm - frm % step, to, step):
            if 0.55 < (t / 3600_000 / 24) % 1 < 0.56:
                continue  # a gap, so the chart shows one
            day = math.sin((t / 3600_000 % 24 - 6) / 12 * math.pi)
            avg = base * (0.4 + 0.6 * max(0, day)) if "power" in f else base + base * 0.01 * day
            spread = abs(base) * 0.04 * rnd.random()
            pts.append([t, round(avg - spread, 3), round(avg, 3), round(avg + spread, 3)])
        if len(pts) > 10:
            pts[5] = [pts[5][0], None, None, None]  # the API's null for a non-finite bucket
        series.append({"field": f, "unit": units.get(f), "points": pts})
    return {"device": name, "from_ms": frm, "to_ms": to, "step_s": step // 1000, "series": series}


class Handler(BaseHTTPRequestHandler):
    server_version = "sungate-mock"

    def log_message(self, fmt, *args):
        if os.environ.get("MOCK_VERBOSE"):
            super().log_message(fmt, *args)

    def send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else (json.dumps(body) if ctype == "application/json" else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        p = u.path
        names = [d[0] for d in DEVICES]
        if p == "/" or p in ("/app.js", "/style.css", "/manifest.webmanifest", "/icon.svg"):
            f = "index.html" if p == "/" else p[1:]
            with open(os.path.join(ASSETS, f), "rb") as fh:
                return self.send(200, fh.read(), TYPES[os.path.splitext(f)[1]])
        if p == "/api/devices":
            return self.send(200, {"gateway": {"name": "mock", "version": "0.1.0-mock", "now_ms": now_ms(),
                                               "started_ms": int(STARTED * 1000), "writes": self.server.writes,
                                               "history": True},
                                   "devices": [summary(*d) for d in DEVICES]})
        if p == "/api/bridges":
            f = dict((k, v) for k, v, _ in fields("battery-sense"))
            return self.send(200, {"bridges": [{"name": "battery-sense", "source": "bmv", "targets": ["mppt"],
                                                "online": True, "fields": f, "updated_ms": now_ms() - 1000}]})
        if p == "/api/events":
            with LOCK:
                evs = list(EVENTS)
            if q.get("device"):
                evs = [e for e in evs if e["device"] == q["device"][0]]
            if q.get("before_ms"):
                evs = [e for e in evs if e["at_ms"] < int(q["before_ms"][0])]
            return self.send(200, {"events": evs[: int(q.get("limit", [100])[0])]})
        if p == "/api/stream":
            return self.stream()
        parts = p.strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["api", "devices"]:
            name = parts[2]
            if name not in names:
                return self.send(404, {"ok": False, "reason": f"no device named '{name}'"})
            d = next(d for d in DEVICES if d[0] == name)
            rest = parts[3:]
            if not rest:
                s = summary(*d)
                s["fields"] = [{"name": f, "value": v, "unit": u, "device_class": None, "section": None}
                               for f, v, u in fields(name)]
                return self.send(200, s)
            if rest == ["history"]:
                return self.send(200, history(name, q))
            if rest == ["history.csv"]:
                h = history(name, q)
                lines = ["time,field,min,avg,max"]
                for s in h["series"]:
                    for t, lo, avg, hi in s["points"]:
                        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t / 1000))
                        lines.append(f"{iso},{s['field']},{lo},{avg},{hi}")
                return self.send(200, "\n".join(lines) + "\n", "text/csv")
            if rest == ["energy"]:
                days = int(q.get("days", [30])[0])
                out = []
                for i in range(days - 1, -1, -1):
                    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - i * 86400))
                    out.append({"date": day, "kwh": round(4 + 3 * math.sin(i * 1.7) ** 2, 3)})
                return self.send(200, {"device": name, "field": q.get("field", [""])[0], "unit": "kWh", "days": out})
            if rest == ["settings"]:
                return self.send(200, settings(name, self.server.writes))
        if len(parts) == 3 and parts[:2] == ["sim", "devices"] and parts[2] in PLUGGED:
            f = dict((k, v) for k, v, _ in fields(parts[2]))
            state = {"battery_voltage": f.get("battery_voltage"), "pv_power_w": f.get("pv_input_power") or f.get("panel_power"),
                     "settings": {"output_priority": CHOICES.index(SETTING_STATE["output_source_priority"])}}
            return self.send(200, {"name": parts[2], "plugged": PLUGGED[parts[2]], "state": state})
        return self.send(404, {"ok": False, "reason": "not found"})

    def do_POST(self):
        u = urlparse(self.path)
        parts = u.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(parts) == 4 and parts[:2] == ["sim", "devices"] and parts[2] in PLUGGED:
            name, what = parts[2], parts[3]
            plug = what == "reconnect"
            PLUGGED[name] = plug
            if plug:
                OFFLINE_SINCE.pop(name, None)
                publish("availability", {"device": name, "online": True, "reason": None})
                log_event(name, "online", f"{name} is back online")
            else:
                OFFLINE_SINCE[name] = time.time()

                def later():
                    time.sleep(2.0)
                    if not PLUGGED[name]:
                        publish("availability", {"device": name, "online": False, "reason": "no answer for 3 polls (timeout)"})
                        log_event(name, "offline", f"{name} went offline", {"reason": "no answer for 3 polls (timeout)"})
                threading.Thread(target=later, daemon=True).start()
            return self.send(200, {"ok": True})
        if len(parts) == 5 and parts[:2] == ["api", "devices"] and parts[3] == "settings":
            name, setting = parts[2], parts[4]
            try:
                value = json.loads(raw or b"null")["value"]
            except (ValueError, KeyError, TypeError):
                return self.send(400, {"ok": False, "setting": setting, "value": None, "reason": "body must be {\"value\": ...}"})
            auth = self.headers.get("Authorization", "")

            def refuse(code, reason):
                log_event(name, "command", f"set {setting} refused", {"origin": "http", "who": self.client_address[0],
                                                                       "setting": setting, "value": value, "ok": False, "detail": reason})
                return self.send(code, {"ok": False, "setting": setting, "value": value, "reason": reason})
            if auth != f"Bearer {self.server.token}":
                return refuse(401, "missing or wrong token")
            if not self.server.writes:
                return refuse(403, "writes are disabled in the config ([http] writes = false)")
            spec = next((s for s in settings(name, True)["settings"] if s["name"] == setting), None)
            if spec is None:
                return refuse(404, f"{name} has no setting '{setting}'")
            if spec["kind"] == "choice" and value not in spec["choices"]:
                return refuse(400, f"'{value}' is not one of {', '.join(spec['choices'])}")
            if spec["kind"] == "number" and (not isinstance(value, (int, float)) or not spec["min"] <= value <= spec["max"]):
                return refuse(400, f"{value} is out of range {spec['min']}..{spec['max']}")
            if not PLUGGED.get(name, True):
                return refuse(502, "device unreachable")
            time.sleep(0.6)  # the port task runs it between polls
            SETTING_STATE[setting] = value
            detail = f"read back {setting} = {value} (QPIRI)"
            log_event(name, "command", f"set {setting} = {value}", {"origin": "http", "who": self.client_address[0],
                                                                    "setting": setting, "value": value, "ok": True, "detail": detail})
            return self.send(200, {"ok": True, "setting": setting, "value": value, "detail": detail})
        return self.send(404, {"ok": False, "reason": "not found"})

    def stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        queue = []
        with LOCK:
            SUBSCRIBERS.append(queue)
        try:
            n = 0
            while True:
                with LOCK:
                    pending, queue[:] = list(queue), []
                for kind, data in pending:
                    self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                if n % 4 == 0:
                    for name, _, _, _ in DEVICES:
                        if online(name):
                            snap = {"device": name, "at_ms": now_ms(), "fields": {f: v for f, v, _ in fields(name)}}
                            self.wfile.write(f"event: snapshot\ndata: {json.dumps(snap)}\n\n".encode())
                self.wfile.flush()
                n += 1
                time.sleep(0.25)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with LOCK:
                SUBSCRIBERS.remove(queue)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8181)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--token", default="secret")
    ap.add_argument("--no-writes", action="store_true")
    a = ap.parse_args()
    base = now_ms()
    EVENTS.extend([
        {"at_ms": base - 60_000, "device": "inverter", "kind": "warning", "message": "line fail (is_line_fail on)", "detail": {"field": "is_line_fail"}},
        {"at_ms": base - 120_000, "device": "mppt", "kind": "online", "message": "mppt is online", "detail": {}},
        {"at_ms": base - 125_000, "device": "mppt", "kind": "identified", "message": "SmartSolar MPPT 100/30 serial HQ2207K4R2M", "detail": {}},
        {"at_ms": base - 600_000, "device": "bmv", "kind": "offline", "message": "bmv went offline", "detail": {"reason": "port vanished"}},
    ])
    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    srv.daemon_threads = True
    srv.token = a.token
    srv.writes = not a.no_writes
    print(f"mock gateway on http://{a.bind}:{srv.server_address[1]}/ (simulator routes under /sim)", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
