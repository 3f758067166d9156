#!/usr/bin/env python3
"""Browser acceptance test of the sungate dashboard (issue 13, "In a real browser").

Drives headless Chromium through chromedriver with the W3C WebDriver protocol (Python 3 stdlib
only: urllib, json, subprocess) and checks what a person sees:

  1. the overview shows the battery voltage and PV power the gateway API and the simulator report;
  2. unplugging a simulated device (simulator control API) shows it offline on the page within a
     few seconds; it is plugged back afterwards and must come back online;
  3. the settings page refuses a change without the token and says why, then changes the
     inverter's output_source_priority with the token and shows the read-back; the gateway API
     and the simulator agree that the value changed;
  4. screenshots of every page at phone (390x844) and desktop (1280x900) width, written as PNG
     to the output directory, plus the page weight of the overview.

    dashboard_test.py --base http://127.0.0.1:8080/ --sim http://127.0.0.1:8900 \
        --token-file /path/token --out /tmp/shots
    dashboard_test.py --mock --out /tmp/shots   # against tests/browser/mock_api.py (started here)

Any failure exits non-zero with the reason; nothing is skipped silently (a missing chromedriver
is a failure). With --mock the simulator is the mock's /sim routes, and the value comparison
is against the mock's API only.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = ["/", "/app.js", "/style.css", "/manifest.webmanifest", "/icon.svg"]
PAGE_WEIGHT_LIMIT = 150 * 1024
SIZES = [("phone", 390, 844), ("desktop", 1280, 900)]
PRIORITIES = ["utility_first", "solar_first", "sbu_first"]  # the simulator's output_priority codes


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def http(method, url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(url):
    code, raw = http("GET", url)
    if code != 200:
        raise Failure(f"GET {url} answered {code}: {raw[:300]!r}")
    return json.loads(raw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, fn, timeout, interval=0.25):
    """Poll fn until it returns a truthy value; fail with `what` and the last value otherwise."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Failure:
            raise
        except Exception as e:  # a page in the middle of re-rendering, a stale element ...
            last = f"{type(e).__name__}: {e}"
        else:
            if last and not isinstance(last, str) or (isinstance(last, str) and last.startswith("OK")):
                return last
        if time.monotonic() > end:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# ---------------------------------------------------------------- WebDriver (W3C)

class WebDriver:
    def __init__(self, chromedriver, chromium):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.errlog = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"chromedriver-{self.port}.log"), "w")
        self.proc = subprocess.Popen([chromedriver, f"--port={self.port}"], stdout=self.errlog, stderr=subprocess.STDOUT)
        wait_until("chromedriver to listen", lambda: self._ready(), 20)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--hide-scrollbars", "--force-color-profile=srgb", "--lang=en-GB"]
        opts = {"args": args}
        if chromium:
            opts["binary"] = chromium
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": opts}}}
        value = self.cmd("POST", "/session", caps)
        self.sid = value["sessionId"]
        self.s = f"/session/{self.sid}"
        # Collect script errors of every page the test opens.
        self.cdp("Page.addScriptToEvaluateOnNewDocument", {"source":
                 "window.__errs=[];addEventListener('error',function(e){__errs.push(String(e.message))});"
                 "addEventListener('unhandledrejection',function(e){__errs.push(String(e.reason))});"})

    def _ready(self):
        code, raw = http("GET", self.url + "/status", timeout=2)
        return code == 200 and json.loads(raw)["value"].get("ready")

    def cmd(self, method, path, body=None):
        if method == "POST" and body is None:
            body = {}
        code, raw = http(method, self.url + path, body, timeout=60)
        try:
            value = json.loads(raw)["value"]
        except (ValueError, KeyError):
            raise Failure(f"WebDriver {method} {path}: {code} {raw[:300]!r}")
        if code != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {value.get('error')}: {str(value.get('message'))[:300]}")
        return value

    def cdp(self, cmd, params=None):
        return self.cmd("POST", self.s + "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def go(self, url):
        self.cmd("POST", self.s + "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", self.s + "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        v = self.cmd("POST", self.s + "/element", {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css):
        self.cmd("POST", f"{self.s}/element/{self.find(css)}/click")

    def type(self, css, text):
        el = self.find(css)
        self.cmd("POST", f"{self.s}/element/{el}/clear")
        if text:
            self.cmd("POST", f"{self.s}/element/{el}/value", {"text": text})

    def text(self, css):
        return self.js("var e=document.querySelector(arguments[0]);return e?e.textContent.trim():null;", css)

    def viewport(self, width, height):
        self.cdp("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})

    def screenshot(self, path):
        # The whole page, not only the viewport: a phone page is taller than one screen.
        m = self.cdp("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        shot = self.cdp("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                   "clip": {"x": 0, "y": 0, "width": size["width"],
                                                            "height": min(size["height"], 6000), "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def errors(self):
        return self.js("return window.__errs||[];")

    def quit(self):
        try:
            if getattr(self, "sid", None):
                http("DELETE", self.url + self.s, timeout=10)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------- the simulator's view

def sim_value(sim_state, device, field):
    """The value the simulator is presenting for a gateway field, or None when unknown."""
    st = sim_state.get("state") or {}
    text = st.get("text") or {}
    try:
        if field == "battery_voltage":
            if "V" in text:
                return int(text["V"]) / 1000
            if isinstance(st.get("battery"), dict):
                return st["battery"]["voltage_v"]
            return st.get("battery_voltage")
        if field == "panel_power":
            return float(text["PPV"]) if "PPV" in text else (st.get("charger") or {}).get("pv_power_w")
        if field == "pv_input_power":
            units = (st.get("state") or {}).get("units") or []
            return sum(u.get("pv1_w", 0) for u in units) if units else st.get("pv_power_w")
    except (KeyError, ValueError, TypeError):
        return None
    return None


def sim_plugged(sim_state):
    ifs = sim_state.get("interfaces")
    if ifs:
        return all(i.get("connected", True) for i in ifs)
    return sim_state.get("plugged", True)


def close(a, b, rel, abs_):
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


# ---------------------------------------------------------------- the checks

class Test:
    def __init__(self, a, d):
        self.a, self.d = a, d
        self.base = a.base if a.base.endswith("/") else a.base + "/"
        self.sim = a.sim.rstrip("/")
        self.results = []
        self.shots = []
        self.before = None

    def ok(self, name, detail):
        self.results.append({"check": name, "ok": True, "detail": detail})
        log(f"PASS {name}: {detail}")

    def page(self, route):
        self.d.go(self.base + "#" + route)

    def no_script_errors(self, where):
        errs = self.d.errors()
        if errs:
            raise Failure(f"script errors on {where}: {errs}")

    def api_field(self, device, field):
        d = get_json(f"{self.base}api/devices/{device}")
        for f in d.get("fields", []):
            if f["name"] == field:
                return f["value"]
        raise Failure(f"gateway API /api/devices/{device} has no field {field}")

    # 1 -------------------------------------------------------------------------------------
    def overview_values(self):
        self.d.viewport(1280, 900)
        self.page("/")
        wait_until("the overview to show numbers in #battery-voltage and #pv-power", lambda: self.d.js(
            "var v=document.querySelector('#battery-voltage'),p=document.querySelector('#pv-power');"
            "return !!(v&&p&&isFinite(parseFloat(v.textContent))&&isFinite(parseFloat(p.textContent)));"), 30)
        self.no_script_errors("overview")

        read = ("var o={};for(var id of arguments[0]){var e=document.getElementById(id);if(!e)continue;"
                "var m=e.closest('[data-src]');o[id]={text:e.textContent.trim(),src:m?m.dataset.src:null};}return o;")
        pv_ids = self.d.js("return [...document.querySelectorAll('[id^=pv-power-]')].map(e=>e.id);")
        if not pv_ids:
            raise Failure("the overview shows no per-device PV figure (#pv-power-<device>)")

        # Values move: compare the page with the API read at the same moment, and retry
        # for a while until a consistent pair is seen (the page follows the stream).
        def compare():
            page = self.d.js(read, ["battery-voltage"] + pv_ids + ["pv-power"])
            bv = page["battery-voltage"]
            dev, field = bv["src"].split("/")
            api_bv = self.api_field(dev, field)
            if not close(float(bv["text"]), float(api_bv), 0.005, 0.011):
                return f"battery voltage: page {bv['text']} ({bv['src']}), API {api_bv}"
            parts = {}
            for pid in pv_ids:
                dev_pv = pid[len("pv-power-"):]
                field_pv = "pv_input_power" if page[pid]["src"] is None or "pv_input_power" in (page[pid]["src"] or "") else "panel_power"
                if page[pid]["src"]:
                    field_pv = page[pid]["src"].split("/")[1]
                api_pv = self.api_field(dev_pv, field_pv)
                if not close(float(page[pid]["text"]), float(api_pv), 0.0, 1.01):
                    return f"PV power of {dev_pv}: page {page[pid]['text']}, API {api_pv}"
                parts[dev_pv] = (field_pv, float(page[pid]["text"]))
            total = float(page["pv-power"]["text"])
            if not close(total, sum(v for _, v in parts.values()), 0.0, len(parts) + 0.01):
                return f"total PV {total} is not the sum of {parts}"
            return {"battery": (dev, field, float(bv["text"]), api_bv), "pv": parts, "pv_total": total}

        got = wait_until("the overview to match the gateway API", compare, 20, 1.0)
        dev, field, page_bv, api_bv = got["battery"]
        self.ok("overview = gateway API", f"battery voltage {page_bv} V ({dev}.{field}, API {api_bv}); "
                f"PV {got['pv_total']} W = " + " + ".join(f"{d} {v:g}" for d, (_, v) in got["pv"].items()))
        if self.a.mock:
            return

        def against_sim():
            bad = []
            s = get_json(f"{self.sim}/devices/{dev}")
            sv = sim_value(s, dev, field)
            page_now = float(self.d.text("#battery-voltage"))
            if sv is None:
                raise Failure(f"cannot find {dev}.{field} in the simulator's state")
            if not close(page_now, sv, 0.01, 0.06):
                bad.append(f"battery voltage page {page_now} vs simulator {sv:.3f}")
            for d_pv, (f_pv, _) in got["pv"].items():
                s = get_json(f"{self.sim}/devices/{d_pv}")
                sv_pv = sim_value(s, d_pv, f_pv)
                if sv_pv is None:
                    raise Failure(f"cannot find {d_pv}.{f_pv} in the simulator's state")
                page_pv = float(self.d.text("#pv-power-" + d_pv))
                # The inverter is polled every few seconds and its PV wanders with clouds.
                if not close(page_pv, sv_pv, 0.08, 30):
                    bad.append(f"PV {d_pv} page {page_pv} vs simulator {sv_pv:.0f}")
            return "; ".join(bad) if bad else {"bv": (page_now, sv)}

        r = wait_until("the overview to match the simulator", against_sim, 20, 1.0)
        self.ok("overview = simulator", f"battery voltage page {r['bv'][0]} V, simulator {r['bv'][1]:.3f} V; "
                "PV power per device within 8 % / 30 W of the simulator")

    # 2 -------------------------------------------------------------------------------------
    def offline(self):
        dev = self.a.unplug
        self.d.viewport(390, 844)
        self.page("/")
        status = f'#devices [data-device="{dev}"] .status'
        wait_until(f"{dev} to show online", lambda: "OK" if self.d.text(status) == "online" else f"status {self.d.text(status)!r}", 30)
        code, raw = http("POST", f"{self.sim}/devices/{dev}/disconnect")
        if code != 200:
            raise Failure(f"simulator refused to unplug {dev}: {code} {raw[:200]!r}")
        t0 = time.monotonic()
        try:
            wait_until(f"{dev} to show offline on the overview", lambda: "OK" if self.d.text(status) == "offline" else f"status {self.d.text(status)!r}", self.a.offline_timeout, 0.2)
            took = time.monotonic() - t0
            card = self.d.js("var c=document.querySelector(arguments[0]);return c?{cls:c.className,stale:document.querySelectorAll('.metric.stale[data-src^=\"'+arguments[1]+'/\"]').length}:null;",
                             f'#devices [data-device="{dev}"]', dev)
            if "is-offline" not in card["cls"]:
                raise Failure(f"{dev}'s card is not marked offline: class {card['cls']!r}")
            shot = os.path.join(self.a.out, "overview-offline-phone.png")
            self.d.screenshot(shot)
            self.shots.append(shot)
            self.ok("offline shown", f"{dev} unplugged -> 'offline' badge after {took:.1f} s; {card['stale']} of its values marked stale")
        finally:
            code, raw = http("POST", f"{self.sim}/devices/{dev}/reconnect")
            if code != 200:
                raise Failure(f"simulator refused to plug {dev} back: {code} {raw[:200]!r}")
        t1 = time.monotonic()
        wait_until(f"{dev} to show online again", lambda: "OK" if self.d.text(status) == "online" else f"status {self.d.text(status)!r}", 60, 0.5)
        self.ok("back online", f"{dev} plugged back -> 'online' after {time.monotonic() - t1:.1f} s")

    # 3 -------------------------------------------------------------------------------------
    def api_setting(self, name):
        s = get_json(f"{self.base}api/devices/inverter/settings")
        for x in s["settings"]:
            if x["name"] == name:
                return s["writes"], x
        raise Failure(f"the gateway lists no setting {name} for the inverter")

    def settings(self):
        row = '[data-setting="output_source_priority"]'
        writes, spec = self.api_setting("output_source_priority")
        if not writes:
            raise Failure("the gateway under test has [http] writes = false: the settings check needs writes on")
        before = spec["current"]
        choices = spec.get("choices") or PRIORITIES
        target = next(c for c in ["sbu_first", "solar_first", "utility_first"] if c in choices and c != before)
        self.d.viewport(390, 844)
        self.page("/settings?device=inverter")
        wait_until("the settings page to list output_source_priority", lambda: self.d.js(
            "return !!document.querySelector(arguments[0]+' .apply');", row), 20)
        self.no_script_errors("settings")
        shown = self.d.text(row + " .current")
        if before is not None and shown != str(before):
            raise Failure(f"settings page shows current {shown!r}, the API says {before!r}")

        # Without the token: refused, and the page says why.
        self.d.type("#token", "")
        self.d.js("sessionStorage.removeItem('sungate-token');")
        self.d.click(f'{row} select option[value="{target}"]')
        self.d.click(row + " .apply")
        res = wait_until("the refusal without a token", lambda: self.d.js(
            "var r=document.querySelector(arguments[0]);return r.classList.contains('busy')||!r.textContent?null:{cls:r.className,text:r.textContent};",
            row + " .result"), 20)
        if "err" not in res["cls"] or "token" not in res["text"].lower():
            raise Failure(f"without a token the page shows {res!r}, expected a refusal naming the token")
        if self.api_setting("output_source_priority")[1]["current"] != before:
            raise Failure("a write without the token changed the setting")
        self.ok("settings refused without token", f"page says {res['text']!r}; value still {before}")

        # With the token: applied and read back.
        self.d.type("#token", self.a.token)
        self.d.click(f'{row} select option[value="{target}"]')
        time.sleep(0.3)
        self.d.click(row + " .apply")
        res = wait_until("the read-back of the change", lambda: self.d.js(
            "var r=document.querySelector(arguments[0]);return r.classList.contains('busy')||!r.textContent?null:{cls:r.className,text:r.textContent};",
            row + " .result"), 45)
        if "ok" not in res["cls"].split():
            raise Failure(f"setting output_source_priority={target} failed on the page: {res['text']!r}")
        shot = os.path.join(self.a.out, "settings-readback-phone.png")
        self.d.screenshot(shot)
        self.shots.append(shot)
        now_api = wait_until("the gateway API to report the new value", lambda: (
            lambda c: "OK " + c if c == target else f"API current {c!r}")(self.api_setting("output_source_priority")[1]["current"]), 20, 1.0)
        sim = get_json(f"{self.sim}/devices/inverter")
        code = ((sim.get("state") or {}).get("settings") or {}).get("output_priority")
        if code is None or code >= len(PRIORITIES) or PRIORITIES[code] != target:
            raise Failure(f"the simulated inverter's output_priority is {code!r}, expected {target} ({PRIORITIES.index(target)})")
        shown = self.d.text(row + " .current")
        self.before = before
        self.ok("settings change + read-back", f"{before} -> {target}; page shows {res['text']!r} and current {shown!r}; "
                f"gateway API {now_api[3:]}; simulator output_priority={code}")

    # 3b ------------------------------------------------------------------------------------
    def events_live(self, value):
        """The event log shows a command as it happens (SSE `log`), newest first. The command
        puts output_source_priority back to what it was before the settings check."""
        self.d.viewport(1280, 900)
        self.page("/events")
        wait_until("the events page", lambda: self.d.js(
            "var l=document.querySelector('#events');return !!l&&!/Loading/.test(l.textContent);"), 20)
        time.sleep(1.0)  # the page's stream is open (it opens before the first render)
        code, raw = http("POST", f"{self.base}api/devices/inverter/settings/output_source_priority", {"value": value},
                         {"Authorization": f"Bearer {self.a.token}"}, timeout=60)
        if code != 200:
            raise Failure(f"putting output_source_priority back to {value} through the API failed: {code} {raw[:300]!r}")
        first = wait_until("the command to appear on the events page", lambda: (lambda t: {"t": t} if t and "output_source_priority" in t and value in t else f"first event {t!r}")(
            self.d.text("#events li.ev[data-kind=command]")), 15, 0.3)["t"]
        top = self.d.text("#events li.ev")
        if top != first:
            raise Failure(f"the newest command is not at the top of the event log: top {top!r}")
        self.no_script_errors("events")
        self.ok("event log live", f"command shown at the top as it happened: {first!r}")

    # 3b ------------------------------------------------------------------------------------
    def energy_per_day(self):
        """The history page's energy per day comes from the gateway's energy counters: the
        inverter's PV counter by default, its total equal to the API's, and a switch to
        another counter."""
        self.d.viewport(1280, 900)
        self.page("/history?device=inverter&range=24h")
        bars = "return !!(document.querySelector('#energy rect.barr') && document.querySelector('#energy-total'));"
        wait_until("the energy-per-day bars", lambda: self.d.js(bars), 30)
        label = self.d.text("#energy-field")
        if "pv_energy" not in label:
            raise Failure(f"energy per day is not from the PV energy counter: {label!r}")
        api = get_json(f"{self.base}api/devices/inverter/energy?field=pv_energy&days=30")
        api_total = sum(d["kwh"] or 0 for d in api["days"])
        page_total = float(self.d.text("#energy-total"))
        if not close(page_total, api_total, 0.01, 0.01):
            raise Failure(f"energy total on the page {page_total} kWh, API {api_total} kWh")
        self.d.click('#energy-counters button[data-counter="load_energy"]')
        wait_until("the load energy counter", lambda: "load_energy" in self.d.text("#energy-field")
                   and self.d.js(bars), 15)
        self.no_script_errors("history energy")
        self.ok("energy per day from the counters", f"{label!r}: total {page_total} kWh = API {api_total:.3f} kWh; "
                f"switched to {self.d.text('#energy-field')!r}")

    # 4 -------------------------------------------------------------------------------------
    def screenshots(self):
        pages = [
            ("overview", "/", "return !!document.querySelector('#flow') && isFinite(parseFloat((document.querySelector('#battery-voltage')||{}).textContent));"),
            ("device", "/device/inverter", "return document.querySelectorAll('#fields tr[data-field]').length>3;"),
            ("history", "/history?device=inverter&range=24h", "var c=document.querySelector('#charts'),e=document.querySelector('#energy');return !!(c&&e&&(c.querySelector('svg')||c.querySelector('.empty:not(:empty)'))&&!/Loading/.test(c.textContent)&&e.textContent.length>0);"),
            ("settings", "/settings?device=inverter", "return !!document.querySelector('.setting .apply')||!!document.querySelector('#settings .empty:not(:empty)')&&!/Loading/.test(document.querySelector('#settings').textContent);"),
            ("events", "/events", "return !!document.querySelector('#events li.ev')||/No events|unavailable/.test(document.querySelector('#events').textContent);"),
        ]
        for label, w, h in SIZES:
            self.d.viewport(w, h)
            for name, route, ready in pages:
                self.d.go("about:blank")
                self.page(route)
                wait_until(f"the {name} page to be ready at {w} px", lambda: self.d.js(ready), 30)
                time.sleep(0.8)  # let the flow animation and the bars settle
                self.no_script_errors(f"{name} at {w} px")
                overflow = self.d.js("return document.documentElement.scrollWidth - window.innerWidth;")
                if overflow > 2:
                    raise Failure(f"the {name} page is {overflow} px wider than a {w} px screen")
                path = os.path.join(self.a.out, f"{name}-{label}.png")
                self.d.screenshot(path)
                self.shots.append(path)
        # The dark palette (prefers-color-scheme), once per width, on the overview.
        self.d.cdp("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        try:
            for label, w, h in SIZES:
                self.d.viewport(w, h)
                self.d.go("about:blank")
                self.page("/")
                wait_until(f"the dark overview at {w} px", lambda: self.d.js(pages[0][2]), 30)
                time.sleep(0.8)
                bg = self.d.js("return getComputedStyle(document.body).backgroundColor;")
                if bg in ("rgb(241, 245, 249)", "rgb(255, 255, 255)"):
                    raise Failure(f"prefers-color-scheme: dark left the light background ({bg})")
                path = os.path.join(self.a.out, f"overview-{label}-dark.png")
                self.d.screenshot(path)
                self.shots.append(path)
        finally:
            self.d.cdp("Emulation.setEmulatedMedia", {"features": []})
        self.ok("screenshots", f"{len(self.shots)} PNGs in {self.a.out}")

    def page_weight(self):
        sizes = {}
        for p in ASSETS:
            code, raw = http("GET", self.base + p.lstrip("/"))
            if code != 200:
                raise Failure(f"GET {p} answered {code}")
            sizes[p] = len(raw)
        total = sum(sizes.values())
        # What the browser actually loaded for the overview, API answers included.
        self.d.viewport(1280, 900)
        self.page("/")
        time.sleep(2)
        loaded = self.d.js("var n=performance.getEntriesByType('navigation')[0];var t=n?n.decodedBodySize:0,a=0;"
                           "for(var r of performance.getEntriesByType('resource')){if(/\\/api\\//.test(r.name))a+=r.decodedBodySize;else t+=r.decodedBodySize;}"
                           "return {assets:t,api:a};")
        if total > PAGE_WEIGHT_LIMIT:
            raise Failure(f"page weight {total} bytes > {PAGE_WEIGHT_LIMIT}")
        self.ok("page weight", f"{total} bytes uncompressed (" + ", ".join(f"{k} {v}" for k, v in sizes.items()) +
                f"); browser decoded {loaded['assets']} bytes of assets + {loaded['api']} bytes of API JSON in the first 2 s")
        return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="dashboard base URL, e.g. http://127.0.0.1:8080/")
    ap.add_argument("--sim", help="simulator control API URL, e.g. http://127.0.0.1:8900")
    ap.add_argument("--token", help="the gateway's write token")
    ap.add_argument("--token-file", help="file holding the token (instead of --token)")
    ap.add_argument("--out", required=True, help="directory for the PNG screenshots and summary.json")
    ap.add_argument("--mock", action="store_true", help="run against tests/browser/mock_api.py (started here unless --base is given)")
    ap.add_argument("--unplug", default="bmv", help="device to unplug for the offline check (default: bmv)")
    ap.add_argument("--offline-timeout", type=float, default=15.0, help="seconds the page may take to show offline")
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    ap.add_argument("--chromium", default=next((p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if os.path.exists(p)), None))
    a = ap.parse_args()
    if a.token_file:
        with open(a.token_file) as f:
            a.token = f.read().strip()
    os.makedirs(a.out, exist_ok=True)

    mock = None
    try:
        if not a.chromedriver or not os.access(a.chromedriver, os.X_OK):
            raise Failure(f"chromedriver not found ({a.chromedriver!r}): apt-get install -y chromium chromium-driver")
        if a.mock and not a.base:
            port = free_port()
            a.token = a.token or "mock-token"
            mock = subprocess.Popen([sys.executable, os.path.join(HERE, "mock_api.py"), "--port", str(port), "--token", a.token])
            a.base = f"http://127.0.0.1:{port}/"
            wait_until("the mock API", lambda: http("GET", a.base + "api/devices", timeout=2)[0] == 200, 15)
        if a.mock and not a.sim:
            a.sim = a.base.rstrip("/") + "/sim"
        if not a.base or not a.sim or not a.token:
            raise Failure("--base, --sim and --token/--token-file are required (or --mock)")
        get_json(a.base.rstrip("/") + "/api/devices")
        d = WebDriver(a.chromedriver, a.chromium)
    except (Failure, OSError) as e:
        if mock:
            mock.terminate()
        print(f"FAIL setup: {e}", file=sys.stderr)
        return 2

    t = Test(a, d)
    failed = None
    try:
        t.overview_values()
        t.offline()
        t.settings()
        if t.before is not None:
            t.events_live(t.before)
        t.energy_per_day()
        t.screenshots()
        t.page_weight()
    except (Failure, RuntimeError, urllib.error.URLError, OSError, ValueError, KeyError) as e:
        failed = f"{type(e).__name__}: {e}" if not isinstance(e, Failure) else str(e)
        try:
            path = os.path.join(a.out, "failure.png")
            d.screenshot(path)
            failed += f" (screenshot of the page: {path})"
        except Exception:
            pass
    finally:
        d.quit()
        if mock:
            mock.terminate()
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump({"base": a.base, "sim": a.sim, "mock": a.mock, "results": t.results, "screenshots": t.shots,
                   "failure": failed}, f, indent=2)
    if failed:
        print(f"FAIL: {failed}", file=sys.stderr)
        return 1
    log(f"all {len(t.results)} checks passed against {'the mock' if a.mock else a.base}; screenshots in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
