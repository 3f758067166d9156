/* sungate dashboard: one hand-written script, no framework, no build step.
 *
 * Talks to the gateway's JSON API (relative URLs, so it also works behind a reverse proxy
 * under a sub-path): /api/devices (polled every 3 s as the fallback for the stream),
 * /api/devices/{name}, /api/bridges, /api/events, /api/devices/{name}/history|energy|settings,
 * and the Server-Sent Events stream /api/stream (snapshot, availability, log).
 *
 * Routes (hash): #/ overview, #/device/<name>, #/history?device=&fields=a,b&range=24h,
 * #/settings?device=, #/events?device=
 *
 * Stable hooks for tests (tests/browser/dashboard_test.py) and for people styling it:
 *   body[data-route]                      current route: overview|device|history|settings|events
 *   #conn                                 connection state; class live|poll|down
 *   Overview
 *   .metric[data-src="device/field"]      one value; class "stale" when old or its device is offline
 *   #pv-power                             total PV power, W (sum of every PV source)
 *   #pv-power-<device>                    PV power of one device (inverter pv_input_power, MPPT panel_power)
 *   #battery-soc #battery-voltage #battery-current #battery-power #battery-temperature
 *                                         battery figures; the BMV's when there is one, else the inverter's
 *   #yield-today #yield-yesterday         MPPT yield, kWh
 *   #load-power #grid-voltage #inverter-mode
 *   #flow                                 power-flow SVG; #flow-pv #flow-grid #flow-battery #flow-load leg
 *                                         labels (W); #flow-battery[data-dir] charging|discharging|idle
 *   #devices [data-device="<name>"]       device card (class is-offline); its .status reads
 *                                         "online", "offline", "stale" or "unknown"; .reason
 *   #bridges [data-bridge="<name>"]       bridge card; #bridge-<name>-<target>-temperature /
 *                                         -voltage read "yes"/"no"/"unknown" (target uses the value now)
 *   Device page
 *   #device-name, #device-status (.status), #identity td[data-key], #fields tr[data-field] td.value
 *   History page
 *   #hist-device (select), #hist-fields input[value=<field>], #hist-range button[data-range],
 *   #charts .chart[data-field] svg, #energy svg (.barr bars), #csv-link
 *   Settings page
 *   #set-device (select), #token (input, kept in sessionStorage, sent as Authorization: Bearer),
 *   #writes-disabled (notice when the config has writes = false),
 *   [data-setting="<name>"] .current / .allowed / .input / .apply / .result
 *   (.result gets class ok|err|busy and the server's read-back detail or refusal reason)
 *   Events page
 *   #events li.ev[data-kind] (class kind-<kind>, "failed" for a refused command), newest first
 */
'use strict';

const S = {
  gw: null, // gateway block of /api/devices
  devs: {}, // name -> summary from /api/devices
  order: [], // device names in the gateway's order
  fields: {}, // device -> field -> {v, unit, at}
  detailAt: {}, // device -> Date.now() of the last /api/devices/{name} fetch
  bridges: [],
  off: 0, // server clock minus browser clock, ms
  sse: false,
  apiOk: false,
  events: null, // loaded event list for the events page
  route: { name: 'overview', arg: '', q: {} },
};

const $ = (sel, root) => (root || document).querySelector(sel);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const now = () => Date.now() + S.off;
const view = () => $('#view');

async function api(path, opts) {
  const ctl = window.AbortController ? new AbortController() : null;
  const timer = ctl && setTimeout(() => ctl.abort(), opts && opts.method === 'POST' ? 60000 : 15000); // a write waits for the device's read-back
  let r;
  try { r = await fetch(path, Object.assign({ signal: ctl && ctl.signal }, opts)); } finally { if (timer) clearTimeout(timer); }
  let body = null;
  const text = await r.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { reason: text }; }
  if (!r.ok) {
    const err = new Error((body && (body.reason || body.error)) || r.statusText || 'HTTP ' + r.status);
    err.status = r.status;
    err.body = body;
    throw err;
  }
  return body;
}

/* ---------- formatting ---------- */

function fmtNum(v, unit) {
  if (typeof v !== 'number' || !isFinite(v)) return v === null || v === undefined ? '—' : String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  let d = a >= 1000 ? 0 : a >= 100 ? 1 : 2;
  if (unit === 'W' || unit === 'VA') d = 0;
  return String(Number(v.toFixed(d)));
}
function fmtVal(v, unit) {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return fmtNum(v, unit);
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
function ago(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return 'no data';
  const s = Math.max(0, ms / 1000);
  if (s < 60) return Math.round(s) + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400 * 2) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}
const pad = (n) => String(n).padStart(2, '0');
function fmtTime(ms, withDate) {
  const d = new Date(ms);
  const t = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  if (!withDate) return t;
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + t;
}
const ACRO = { pv: 'PV', ac: 'AC', dc: 'DC', scc: 'SCC', soc: 'SOC', mppt: 'MPPT', bmv: 'BMV', cv: 'CV', lcd: 'LCD', sbu: 'SBU' };
const label = (name) => name.split('_').map((w) => ACRO[w] || w).join(' ').replace(/^./, (c) => c.toUpperCase());

/* ---------- state ---------- */

function staleAfterMs(name) {
  const d = S.devs[name];
  const poll = d && d.poll_interval_s ? d.poll_interval_s : 5;
  return Math.max(3 * poll, 10) * 1000;
}
// A value: {v, unit, at, stale, dev, field}; null when the device or field is not there.
function get(dev, field) {
  if (!dev) return null;
  const f = S.fields[dev] && S.fields[dev][field];
  if (!f) return null;
  const d = S.devs[dev] || {};
  const age = f.at ? now() - f.at : null;
  const stale = d.online === false || age === null || age > staleAfterMs(dev);
  return { v: f.v, unit: f.unit, at: f.at, age, stale, dev, field };
}
function num(x) { return x && typeof x.v === 'number' ? x.v : null; }

function mergeFields(dev, list, at) {
  const m = S.fields[dev] || (S.fields[dev] = {});
  for (const f of list) {
    const old = m[f.name];
    if (old && old.at && at && old.at > at) { if (f.unit && !old.unit) old.unit = f.unit; continue; }
    m[f.name] = { v: f.value, unit: f.unit || (old && old.unit) || null, at, cls: f.device_class, section: f.section };
  }
}

async function loadDevices() {
  try {
    const r = await api('api/devices');
    S.apiOk = true;
    S.gw = r.gateway || {};
    if (typeof S.gw.now_ms === 'number') S.off = S.gw.now_ms - Date.now();
    S.order = [];
    for (const d of r.devices || []) {
      const old = S.devs[d.name];
      // The stream may have reported a newer availability than this (slower) poll; an
      // availability change seen by both is settled by whichever arrived last.
      S.devs[d.name] = Object.assign(old || {}, d);
      S.order.push(d.name);
    }
    $('#gw-name').textContent = S.gw.name ? 'sungate · ' + S.gw.name : 'sungate';
    $('#gw-version').textContent = 'sungate ' + (S.gw.version || '') + (S.gw.started_ms ? ' · up since ' + fmtTime(S.gw.started_ms, true) : '');
    document.title = S.gw.name ? S.gw.name + ' · sungate' : 'sungate';
    // Field values: the stream keeps them current; without it (or now and then, for units
    // and fields a snapshot does not carry) fetch each device.
    const wait = S.sse ? 30000 : 2500;
    await Promise.all(S.order.filter((n) => !S.detailAt[n] || Date.now() - S.detailAt[n] > wait).map(loadDetail));
  } catch (e) {
    S.apiOk = false;
  }
  showConn();
}

async function loadDetail(name) {
  S.detailAt[name] = Date.now();
  try {
    const d = await api('api/devices/' + encodeURIComponent(name));
    mergeFields(name, d.fields || [], d.updated_ms || null);
    const keep = S.devs[name] || {};
    for (const k of ['identity', 'online', 'reason', 'updated_ms', 'stale', 'poll_interval_s', 'driver', 'kind', 'port']) if (k in d) keep[k] = d[k];
    S.devs[name] = keep;
  } catch (e) { /* the next poll tries again */ }
}

async function loadBridges() {
  try {
    const r = await api('api/bridges');
    S.bridges = (r && r.bridges) || [];
  } catch (e) { /* keep the last answer */ }
}

function showConn() {
  const c = $('#conn');
  if (!S.apiOk) { c.className = 'conn down'; c.textContent = 'gateway unreachable'; }
  else if (S.sse) { c.className = 'conn live'; c.textContent = 'live'; }
  else { c.className = 'conn poll'; c.textContent = 'polling'; }
}

// One stream per page; closed when the page is hidden or left. Browsers allow only six
// HTTP/1.1 connections per host, and a stream kept open by a hidden tab or a page in the
// back/forward cache would starve the API requests of the visible one.
let ES = null;
function stopStream() {
  if (ES) { ES.close(); ES = null; S.sse = false; }
}
function startStream() {
  if (!window.EventSource || ES) return;
  const es = (ES = new EventSource('api/stream'));
  es.onopen = () => { S.sse = true; showConn(); };
  es.onerror = () => { S.sse = false; showConn(); }; // EventSource reconnects by itself
  es.addEventListener('snapshot', (e) => {
    const d = parse(e.data);
    if (!d || !d.device) return;
    const list = Object.keys(d.fields || {}).map((k) => ({ name: k, value: d.fields[k] }));
    mergeFields(d.device, list, d.at_ms || now());
    const dev = S.devs[d.device] || (S.devs[d.device] = { name: d.device });
    dev.updated_ms = d.at_ms || now();
    dev.stale = false;
    if (S.route.name === 'overview' || (S.route.name === 'device' && S.route.arg === d.device)) update();
  });
  es.addEventListener('availability', (e) => {
    const d = parse(e.data);
    if (!d || !d.device) return;
    const dev = S.devs[d.device] || (S.devs[d.device] = { name: d.device });
    dev.online = d.online;
    dev.reason = d.reason || null;
    update();
    // The stream's log events are the audit log; availability changes are shown on the
    // events page as they happen too (the stored log has them after a reload).
    addEvent({ at_ms: now(), device: d.device, kind: d.online ? 'online' : 'offline', message: d.device + (d.online ? ' is online' : ' went offline'), detail: { reason: d.reason } });
  });
  es.addEventListener('log', (e) => {
    const ev = parse(e.data);
    if (ev) addEvent(ev);
  });
}
function parse(s) { try { return JSON.parse(s); } catch (e) { return null; } }

/* ---------- router ---------- */

function parseRoute() {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, qs] = h.split('?');
  const parts = path.split('/').filter(Boolean);
  const q = {};
  new URLSearchParams(qs || '').forEach((v, k) => { q[k] = v; });
  const name = parts[0] || 'overview';
  return { name, arg: parts.slice(1).map(decodeURIComponent).join('/'), q };
}
function setQuery(q) {
  const qs = new URLSearchParams(q).toString();
  const h = '#/' + S.route.name + (S.route.arg ? '/' + encodeURIComponent(S.route.arg) : '') + (qs ? '?' + qs : '');
  history.replaceState(null, '', h);
  S.route.q = q;
}

const pages = { overview: renderOverview, device: renderDevice, history: renderHistory, settings: renderSettings, events: renderEvents };

function render() {
  S.route = parseRoute();
  if (!pages[S.route.name]) S.route = { name: 'overview', arg: '', q: {} };
  document.body.dataset.route = S.route.name;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === S.route.name);
  pages[S.route.name]();
}

// Periodic refresh of the live pages; the other pages change only when the user acts.
function update() {
  if (S.route.name === 'overview') updateOverview();
  else if (S.route.name === 'device') updateDevice();
}

function put(el, html) { if (el && el.innerHTML !== html && el._h !== html) { el.innerHTML = html; el._h = html; } }

/* ---------- overview ---------- */

function kindOf(name) {
  const d = S.devs[name] || {};
  if (d.kind === 'bridge') return 'bridge';
  const f = S.fields[name] || {};
  const model = ((d.identity && d.identity.model) || '').toLowerCase();
  if (d.driver === 'pi30' || 'pv_input_power' in f || 'ac_output_active_power' in f) return 'inverter';
  if ('panel_power' in f || 'yield_today' in f || model.includes('mppt')) return 'mppt';
  if ('state_of_charge' in f || 'consumed_ah' in f || model.includes('bmv') || model.includes('shunt')) return 'bmv';
  return 'other';
}
function byKind(k) { return S.order.filter((n) => kindOf(n) === k); }

function metric(id, title, x, unit, opts) {
  opts = opts || {};
  const u = (x && x.unit) || unit || '';
  const v = x ? fmtVal(x.v, u) : '—';
  const cls = 'metric' + (x ? (x.stale ? ' stale' : '') : ' missing');
  const src = x ? ' data-src="' + esc(x.dev + '/' + x.field) + '"' : '';
  const age = x ? ago(x.age) + (opts.from ? ' · ' + esc(opts.from) : '') : 'not reported';
  return '<div class="' + cls + '"' + src + '><div class="label">' + esc(title) + '</div><div><span class="v" id="' + id + '">' + esc(v) + '</span><span class="u">' + esc(x && typeof x.v === 'number' ? u : '') + '</span></div><div class="age">' + age + '</div></div>';
}
// A derived value (sum, product) keeps the oldest age and any staleness of its parts.
function derived(parts, v, unit, field) {
  const ok = parts.filter(Boolean);
  if (!ok.length || v === null || !isFinite(v)) return null;
  const oldest = ok.reduce((a, b) => (a.age > b.age ? a : b));
  return { v, unit, at: oldest.at, age: oldest.age, stale: ok.some((p) => p.stale), dev: ok.map((p) => p.dev).join('+'), field };
}

function renderOverview() {
  view().innerHTML =
    '<div id="offline-banner"></div><div class="grid">' +
    '<section class="card flow-card"><h2>Power flow</h2><div class="flow" id="flow-box"></div></section>' +
    '<section class="card" id="battery-card"></section>' +
    '<section class="card" id="solar-card"></section>' +
    '<section class="card" id="inverter-card"></section>' +
    '<section class="card"><h2>Devices</h2><div class="devs" id="devices"></div></section>' +
    '<section class="card" id="bridge-card"><h2>Remote sense</h2><div id="bridges"></div></section>' +
    '</div>';
  updateOverview();
}

function battery() {
  const bmv = byKind('bmv')[0];
  const inv = byKind('inverter')[0];
  if (bmv && S.fields[bmv]) {
    const v = get(bmv, 'battery_voltage');
    const i = get(bmv, 'battery_current');
    return {
      from: bmv, soc: get(bmv, 'state_of_charge'), v, i,
      p: get(bmv, 'battery_power') || derived([v, i], num(v) * num(i), 'W', 'battery_power'),
      t: get(bmv, 'battery_temperature'), tLabel: 'Temperature',
      ttg: get(bmv, 'time_to_go'),
    };
  }
  if (inv) {
    const v = get(inv, 'battery_voltage');
    const ci = get(inv, 'battery_charging_current');
    const di = get(inv, 'battery_discharge_current');
    const i = derived([ci, di], (num(ci) || 0) - (num(di) || 0), 'A', 'battery_current');
    return {
      from: inv, soc: get(inv, 'battery_capacity'), v, i,
      p: derived([v, i], num(v) * num(i), 'W', 'battery_power'),
      t: get(inv, 'inverter_heat_sink_temperature'), tLabel: 'Heat sink', ttg: null,
    };
  }
  return null;
}

function pvSources() {
  const out = [];
  for (const n of byKind('inverter')) {
    const x = get(n, 'pv_input_power') || get(n, 'pv_total_charging_power');
    if (x) out.push(x);
  }
  for (const n of byKind('mppt')) {
    const x = get(n, 'panel_power');
    if (x) out.push(x);
  }
  return out;
}

function updateOverview() {
  if (!$('#flow-box')) return;
  const inv = byKind('inverter')[0];
  const mppt = byKind('mppt')[0];
  const bat = battery();
  const pvs = pvSources();
  const pv = pvs.length ? derived(pvs, pvs.reduce((a, x) => a + (num(x) || 0), 0), 'W', 'pv_power') : null;
  const load = inv ? get(inv, 'ac_output_active_power') : null;
  const gridV = inv ? get(inv, 'ac_input_voltage') || get(inv, 'grid_voltage') : null;
  const mode = inv ? get(inv, 'device_mode') : null;
  const onGrid = mode && /line|bypass/i.test(String(mode.v));
  // PI30 does not report grid power: estimate it from the balance when the inverter is on the line.
  let gridW = null;
  if (inv && load) {
    const batW = bat && bat.from === inv && bat.p ? num(bat.p) : null;
    const pvInv = get(inv, 'pv_input_power');
    gridW = onGrid ? Math.max(0, num(load) + (batW !== null ? batW : 0) - (pvInv ? num(pvInv) : 0)) : 0;
  }

  // Battery card
  let b = '<h2>Battery' + (bat ? '<span class="src">' + esc(bat.from) + '</span>' : '') + '</h2>';
  if (bat) {
    const soc = num(bat.soc);
    b += '<div class="soc' + (bat.soc && bat.soc.stale ? ' stale' : '') + '"><span class="big"><span id="battery-soc">' + (soc === null ? '—' : esc(fmtNum(soc))) + '</span><span class="u">%</span></span>' +
      '<div class="bar' + (soc !== null && soc < 20 ? ' low' : '') + '"><i style="width:' + Math.max(0, Math.min(100, soc || 0)) + '%"></i></div></div>';
    b += '<div class="metrics">' + metric('battery-voltage', 'Voltage', bat.v, 'V') + metric('battery-current', 'Current', bat.i, 'A') +
      metric('battery-power', 'Power', bat.p, 'W') + metric('battery-temperature', bat.tLabel, bat.t, '°C') +
      (bat.ttg ? metric('battery-time-to-go', 'Time to go', bat.ttg, 'min') : '') + '</div>';
  } else b += '<p class="muted">No battery figures: no BMV and no inverter configured.</p>';
  put($('#battery-card'), b);

  // Solar card
  let s = '<h2>Solar</h2><div class="metrics">' + metric('pv-power', 'PV power', pv, 'W');
  if (pvs.length > 1) for (const x of pvs) s += metric('pv-power-' + x.dev, x.dev, x, 'W');
  else if (pvs.length === 1) s += '<span hidden id="pv-power-' + esc(pvs[0].dev) + '">' + esc(fmtVal(pvs[0].v, 'W')) + '</span>';
  if (mppt) {
    s += metric('yield-today', 'Yield today', get(mppt, 'yield_today'), 'kWh', { from: mppt }) +
      metric('yield-yesterday', 'Yield yesterday', get(mppt, 'yield_yesterday'), 'kWh') +
      metric('max-power-today', 'Max power today', get(mppt, 'max_power_today'), 'W') +
      metric('charge-state', 'Charger', get(mppt, 'charge_state'), '');
  } else if (inv) {
    s += metric('pv-voltage', 'PV voltage', get(inv, 'pv_input_voltage'), 'V');
  }
  if (!pvs.length && !mppt) s += '<p class="muted">No PV source reported.</p>';
  put($('#solar-card'), s + '</div>');

  // Inverter card
  let iv = '<h2>Inverter' + (inv ? '<span class="src">' + esc(inv) + '</span>' : '') + '</h2>';
  if (inv) {
    iv += '<div class="metrics">' + metric('inverter-mode', 'Mode', mode, '') + metric('load-power', 'Load', load, 'W') +
      metric('load-percent', 'Load level', get(inv, 'ac_output_load'), '%') + metric('output-voltage', 'Output', get(inv, 'ac_output_voltage'), 'V') +
      metric('grid-voltage', 'Grid', gridV, 'V') + metric('grid-frequency', 'Grid frequency', get(inv, 'ac_input_frequency') || get(inv, 'grid_frequency'), 'Hz') + '</div>';
  } else iv += '<p class="muted">No inverter configured.</p>';
  put($('#inverter-card'), iv);

  put($('#flow-box'), flowSvg({ pv, load, gridV, gridW, onGrid, bat, mode }));
  put($('#devices'), S.order.filter((n) => kindOf(n) !== 'bridge').map(deviceCard).join('') || '<p class="muted">No devices.</p>');
  put($('#bridges'), bridgesHtml());
  const off = S.order.filter((n) => statusOf(n) === 'offline');
  put($('#offline-banner'), off.length ? '<div class="alert" role="alert">' + badge('offline') + '<span>' + off.map((n) => '<a href="#/device/' + encodeURIComponent(n) + '">' + esc(n) + '</a>' + (S.devs[n].reason ? ': ' + esc(S.devs[n].reason) : '')).join('; ') + '</span></div>' : '');
}

function statusOf(name) {
  const d = S.devs[name] || {};
  if (d.online === false) return 'offline';
  if (d.online === null || d.online === undefined) return 'unknown';
  if (d.stale || (d.updated_ms && now() - d.updated_ms > staleAfterMs(name))) return 'stale';
  return 'online';
}
function badge(st) { return '<span class="status ' + (st === 'stale' ? 'stale-badge' : st) + '">' + st + '</span>'; }

function deviceCard(name) {
  const d = S.devs[name] || {};
  const st = statusOf(name);
  const id = d.identity || {};
  const sub = [id.model, d.driver, d.updated_ms ? 'updated ' + ago(now() - d.updated_ms) : 'no data yet'].filter(Boolean).join(' · ');
  return '<a class="dev' + (st === 'offline' ? ' is-offline' : '') + '" data-device="' + esc(name) + '" href="#/device/' + encodeURIComponent(name) + '">' +
    '<div style="min-width:0"><div class="name">' + esc(name) + '</div><div class="sub">' + esc(sub) + '</div>' +
    (st === 'offline' && d.reason ? '<div class="sub reason">' + esc(d.reason) + '</div>' : '') + '</div>' + badge(st) + '</a>';
}

function bridgeFields(b) {
  const f = b.fields || {};
  if (Array.isArray(f)) { const m = {}; for (const x of f) m[x.name] = x.value; return m; }
  return f;
}
function bridgesHtml() {
  const list = S.bridges.length ? S.bridges : S.order.filter((n) => kindOf(n) === 'bridge').map((n) => ({ name: n, fields: Object.fromEntries(Object.entries(S.fields[n] || {}).map(([k, x]) => [k, x.v])), targets: [] }));
  if (!list.length) return '<p class="muted">No bridge configured: the MPPT uses its own temperature and voltage.</p>';
  return list.map((b) => {
    const f = bridgeFields(b);
    let targets = b.targets && b.targets.length ? b.targets : [...new Set(Object.keys(f).map((k) => (k.match(/^(.+)_(temperature|voltage)_sent$/) || [])[1]).filter(Boolean))];
    const srcState = f.source_state || '—';
    let h = '<div data-bridge="' + esc(b.name) + '"><p class="small muted">' + esc(b.name) + ': ' + esc(b.source || '?') + ' → ' + esc(targets.join(', ') || '?') + ' · source ' + esc(srcState) + '</p><table class="kv"><tbody>';
    for (const t of targets) {
      for (const what of ['temperature', 'voltage']) {
        const use = f[t + '_' + what + '_in_use'];
        const sent = f[t + '_' + what + '_sent'];
        const at = f[t + '_' + what + '_sent_at'];
        if (use === undefined && sent === undefined) continue;
        const yn = use === true ? 'yes' : use === false ? 'no' : 'unknown';
        const unit = what === 'temperature' ? ' °C' : ' V';
        const detail = sent !== undefined ? ' · sent ' + esc(typeof sent === 'number' ? fmtNum(sent) + unit : sent) + (typeof at === 'number' ? ', ' + ago(now() - at * 1000) : '') : '';
        h += '<tr><td>' + esc(t) + ' uses ' + esc(b.source || 'source') + ' ' + what + '</td><td><span id="bridge-' + esc(b.name + '-' + t + '-' + what) + '" class="' + (yn === 'yes' ? 'yes' : 'no') + '">' + yn + '</span><span class="small muted">' + detail + '</span></td></tr>';
      }
    }
    return h + '</tbody></table></div>';
  }).join('');
}

function flowSvg(o) {
  const w = (x) => (x === null || x === undefined ? '—' : fmtNum(Math.round(typeof x === 'number' ? x : num(x))) + ' W');
  const batW = o.bat && o.bat.p ? num(o.bat.p) : null;
  const dir = batW === null || Math.abs(batW) < 5 ? 'idle' : batW > 0 ? 'charging' : 'discharging';
  const pvW = num(o.pv);
  const loadW = num(o.load);
  const N = { pv: [80, 70], grid: [400, 70], hub: [240, 170], bat: [80, 270], load: [400, 270] };
  const R = 54;
  // A leg from node a to node b, trimmed to the circles; `on` animates it, `rev` flows b -> a.
  const leg = (a, b, cls, on, rev, id, text, stale) => {
    const [x1, y1] = N[a], [x2, y2] = N[b];
    const dx = x2 - x1, dy = y2 - y1, l = Math.hypot(dx, dy);
    const r1 = a === 'hub' ? 48 : R, r2 = b === 'hub' ? 48 : R;
    const p = [x1 + dx / l * r1, y1 + dy / l * r1, x2 - dx / l * r2, y2 - dy / l * r2].map((v) => v.toFixed(1));
    // The label sits beside the middle of the leg (on its upper side), not on the line.
    const nx = dy / l, ny = -dx / l, s = ny > 0 ? -1 : 1;
    const mx = ((x1 + x2) / 2 + s * nx * 16).toFixed(1), my = ((y1 + y2) / 2 + s * ny * 16 + 5).toFixed(1);
    return '<g class="' + (stale ? 'stale' : '') + '"><path class="leg ' + cls + (on ? ' on' : ' off') + (rev ? ' rev' : '') + '" d="M' + p[0] + ' ' + p[1] + 'L' + p[2] + ' ' + p[3] + '"/>' +
      '<text class="lw" x="' + mx + '" y="' + my + '" id="' + id + '"' + (id === 'flow-battery' ? ' data-dir="' + dir + '"' : '') + '>' + esc(text) + '</text></g>';
  };
  const node = (k, cls, title, value, sub, stale) => {
    const [x, y] = N[k];
    const r = k === 'hub' ? 48 : R;
    return '<g class="node' + (stale ? ' stale' : '') + '"><circle class="' + cls + '" cx="' + x + '" cy="' + y + '" r="' + r + '"/>' +
      '<text class="nl" x="' + x + '" y="' + (y - 10) + '">' + esc(title) + '</text><text class="nv" x="' + x + '" y="' + (y + 12) + '">' + esc(value) + '</text>' +
      (sub ? '<text class="ns" x="' + x + '" y="' + (y + 28) + '">' + esc(sub) + '</text>' : '') + '</g>';
  };
  const st = (x) => !x || x.stale;
  const soc = o.bat ? num(o.bat.soc) : null;
  const batV = o.bat ? num(o.bat.v) : null;
  let h = '<svg id="flow" viewBox="0 0 480 340" role="img" aria-label="Power flow">';
  h += leg('pv', 'hub', 'pv', pvW > 5, false, 'flow-pv', w(o.pv), st(o.pv));
  h += leg('grid', 'hub', 'grd', o.onGrid && o.gridW > 5, false, 'flow-grid', o.gridW === null ? '—' : (o.onGrid ? '≈ ' : '') + w(o.gridW), st(o.gridV));
  h += leg('hub', 'bat', 'bat', dir !== 'idle', dir === 'discharging', 'flow-battery', batW === null ? '—' : w(Math.abs(batW)), o.bat ? st(o.bat.p) : true);
  h += leg('hub', 'load', 'lod', loadW > 5, false, 'flow-load', w(o.load), st(o.load));
  h += node('pv', 'pv', 'Solar', pvW === null ? '—' : w(pvW), '', st(o.pv));
  h += node('grid', 'grd', 'Grid', o.gridV ? fmtNum(num(o.gridV)) + ' V' : '—', o.onGrid ? 'in use' : o.gridV ? 'standby' : '', st(o.gridV));
  h += node('hub', 'inv', 'Inverter', o.mode ? String(o.mode.v).slice(0, 8) : '—', '', st(o.mode));
  h += node('bat', 'bat', 'Battery', soc === null ? '—' : fmtNum(soc) + ' %', (batV === null ? '' : fmtNum(batV) + ' V ') + (dir === 'idle' ? '' : dir === 'charging' ? '▲' : '▼'), o.bat ? st(o.bat.v) : true);
  h += node('load', 'lod', 'Load', w(o.load), '', st(o.load));
  h += '</svg><div class="flow-note">' + (dir === 'charging' ? 'Battery charging' : dir === 'discharging' ? 'Battery discharging' : 'Battery idle') +
    (o.onGrid && o.gridW !== null ? ' · grid power estimated from the balance (the inverter does not report it)' : '') + '</div>';
  return h;
}

/* ---------- device page ---------- */

function renderDevice() {
  const name = S.route.arg;
  view().innerHTML = '<p><a href="#/">← Overview</a></p><h1><span id="device-name">' + esc(name) + '</span> <span id="device-status"></span></h1>' +
    '<div class="grid"><section class="card"><h2>Identity</h2><table class="kv" id="identity"><tbody></tbody></table></section>' +
    '<section class="card"><h2>Availability</h2><table class="kv" id="availability"><tbody></tbody></table></section>' +
    '<section class="card wide"><h2>Values</h2><div class="scroll"><table id="fields"><thead><tr><th>Field</th><th>Value</th><th>Unit</th><th>Age</th></tr></thead><tbody></tbody></table></div></section></div>' +
    '<p class="small"><a href="#/history?device=' + encodeURIComponent(name) + '">History</a> · <a href="#/settings?device=' + encodeURIComponent(name) + '">Settings</a> · <a href="#/events?device=' + encodeURIComponent(name) + '">Events</a></p>';
  loadDetail(name).then(updateDevice);
  updateDevice();
}

function updateDevice() {
  const name = S.route.arg;
  if (!$('#fields')) return;
  const d = S.devs[name];
  if (!d) { put($('#fields tbody'), '<tr><td colspan="4" class="muted">No device named ' + esc(name) + '.</td></tr>'); return; }
  put($('#device-status'), badge(statusOf(name)));
  const id = d.identity || {};
  const keys = ['model', 'serial', 'firmware', 'manufacturer', 'protocol'];
  put($('#identity tbody'), keys.map((k) => '<tr><td>' + k + '</td><td data-key="' + k + '">' + esc(id[k] === undefined || id[k] === null ? '—' : id[k]) + '</td></tr>').join('') +
    '<tr><td>driver</td><td data-key="driver">' + esc(d.driver || (d.kind === 'bridge' ? 'bridge' : '—')) + '</td></tr><tr><td>port</td><td data-key="port">' + esc(d.port || '—') + '</td></tr>');
  put($('#availability tbody'), '<tr><td>status</td><td>' + badge(statusOf(name)) + '</td></tr>' +
    (d.reason ? '<tr><td>reason</td><td class="reason">' + esc(d.reason) + '</td></tr>' : '') +
    '<tr><td>last values</td><td>' + (d.updated_ms ? esc(fmtTime(d.updated_ms, true)) + ' <span class="age">(' + ago(now() - d.updated_ms) + ')</span>' : 'none yet') + '</td></tr>' +
    '<tr><td>poll interval</td><td>' + (d.poll_interval_s ? esc(fmtNum(d.poll_interval_s)) + ' s' : '—') + '</td></tr>');
  const f = S.fields[name] || {};
  const rows = Object.keys(f).map((k) => {
    const x = get(name, k);
    return '<tr data-field="' + esc(k) + '"><td>' + esc(label(k)) + '</td><td class="value num' + (x.stale ? ' stale' : '') + '">' + esc(fmtVal(x.v, x.unit)) + '</td><td class="unit">' + esc(x.unit || '') + '</td><td class="age">' + ago(x.age) + '</td></tr>';
  });
  put($('#fields tbody'), rows.join('') || '<tr><td colspan="4" class="muted">No values yet.</td></tr>');
}

/* ---------- history ---------- */

const RANGES = { '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };

function deviceOptions(sel, filter) {
  return S.order.filter(filter || (() => true)).map((n) => '<option value="' + esc(n) + '"' + (n === sel ? ' selected' : '') + '>' + esc(n) + '</option>').join('');
}
function pvField(name) {
  const k = kindOf(name);
  if (k === 'inverter') return 'pv_input_power';
  if (k === 'mppt') return 'panel_power';
  return null;
}

async function renderHistory() {
  const q = S.route.q;
  if (!S.order.length) await loadDevices();
  const devs = S.order.filter((n) => kindOf(n) !== 'bridge');
  const dev = devs.includes(q.device) ? q.device : devs[0];
  const range = RANGES[q.range] ? q.range : '24h';
  view().innerHTML = '<h1>History</h1><section class="card"><div class="row"><select id="hist-device" aria-label="Device">' + deviceOptions(dev, (n) => kindOf(n) !== 'bridge') + '</select>' +
    '<div class="seg" id="hist-range">' + Object.keys(RANGES).map((r) => '<button data-range="' + r + '" class="' + (r === range ? 'active' : '') + '">' + r + '</button>').join('') + '</div>' +
    '<a id="csv-link" class="small" download>Download CSV</a></div><details class="pick"><summary>Fields: <span id="hist-chosen">…</span></summary><div class="fields" id="hist-fields"><span class="muted small">Loading fields…</span></div></details><div id="charts"></div></section>' +
    '<section class="card" style="margin-top:.9rem"><h2>Energy per day <span class="src" id="energy-field"></span></h2><div id="energy"></div></section>';
  if (!dev) { $('#charts').innerHTML = '<div class="empty">No devices.</div>'; return; }
  $('#hist-device').onchange = (e) => { setQuery({ device: e.target.value, range }); renderHistory(); };
  for (const b of document.querySelectorAll('#hist-range button')) b.onclick = () => { setQuery(Object.assign({}, S.route.q, { device: dev, range: b.dataset.range })); renderHistory(); };
  await loadDetail(dev);
  const numeric = Object.keys(S.fields[dev] || {}).filter((k) => typeof S.fields[dev][k].v === 'number' && !/_sent_at$/.test(k));
  let chosen = (q.fields || '').split(',').filter((f) => numeric.includes(f));
  if (!chosen.length) {
    const pf = pvField(dev);
    chosen = [numeric.includes(pf) ? pf : numeric.includes('battery_voltage') ? 'battery_voltage' : numeric[0]].filter(Boolean);
  }
  $('#hist-fields').innerHTML = numeric.map((f) => '<label><input type="checkbox" value="' + esc(f) + '"' + (chosen.includes(f) ? ' checked' : '') + '>' + esc(label(f)) + '</label>').join('') || '<span class="muted small">This device has no numeric fields yet.</span>';
  for (const c of document.querySelectorAll('#hist-fields input')) {
    c.onchange = () => {
      const f = [...document.querySelectorAll('#hist-fields input:checked')].map((i) => i.value);
      setQuery({ device: dev, range, fields: f.join(',') });
      $('#hist-chosen').textContent = f.map(label).join(', ') || 'none';
      drawHistory(dev, f, range);
    };
  }
  $('#hist-chosen').textContent = chosen.map(label).join(', ') || 'none';
  drawHistory(dev, chosen, range);
  drawEnergy(dev);
}

async function drawHistory(dev, fields, range) {
  const box = $('#charts');
  const qs = 'fields=' + encodeURIComponent(fields.join(',')) + '&range=' + range;
  $('#csv-link').href = 'api/devices/' + encodeURIComponent(dev) + '/history.csv?' + qs;
  if (!fields.length) { box.innerHTML = '<div class="empty">Choose one or more fields.</div>'; return; }
  box.innerHTML = '<div class="empty">Loading…</div>';
  try {
    const r = await api('api/devices/' + encodeURIComponent(dev) + '/history?' + qs);
    const to = r.to_ms || now(), from = r.from_ms || to - RANGES[range];
    box.innerHTML = (r.series || []).map((s) => '<div class="chart-title">' + esc(label(s.field)) + (s.unit ? ' <span class="muted">(' + esc(s.unit) + ')</span>' : '') + '</div>' +
      '<div class="chart" data-field="' + esc(s.field) + '">' + lineChart(s.points || [], from, to, (r.step_s || 60) * 1000, s.unit, box.clientWidth) + '</div>').join('') || '<div class="empty">No data.</div>';
  } catch (e) {
    box.innerHTML = '<div class="empty">History unavailable: ' + esc(e.message) + '</div>';
  }
}

function niceTicks(lo, hi, n) {
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const a = Math.floor(lo / step) * step, b = Math.ceil(hi / step) * step;
  const t = [];
  for (let v = a; v <= b + step / 2; v += step) t.push(Number(v.toFixed(10)));
  return t;
}
function timeTicks(from, to) {
  const span = to - from, H = 3600e3, D = 86400e3;
  const step = [H, 2 * H, 3 * H, 6 * H, 12 * H, D, 2 * D, 5 * D, 7 * D].find((s) => span / s <= 7) || 7 * D;
  const tzo = new Date(from).getTimezoneOffset() * 60e3;
  let t = Math.ceil((from - tzo) / step) * step + tzo; // align to local hours/midnights
  const out = [];
  for (; t <= to; t += step) out.push(t);
  return { ticks: out, days: step >= D || span > 2 * D };
}
function tlabel(t, days) {
  const d = new Date(t);
  if (!days) return pad(d.getHours()) + ':' + pad(d.getMinutes());
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

function lineChart(points, from, to, stepMs, unit, width) {
  // The API sends null for a bucket without a finite value: leave it out (it shows as a gap).
  const n = (v) => typeof v === 'number' && isFinite(v);
  points = points.filter((p) => n(p[2])).map((p) => [p[0], n(p[1]) ? p[1] : p[2], p[2], n(p[3]) ? p[3] : p[2]]);
  if (!points.length) return '<div class="empty">No data in this range.</div>';
  // Drawn at the container's pixel width so that the text is not scaled with the chart.
  const W = Math.max(280, Math.round(width || 720)), H = W < 500 ? 180 : 230, L = 52, Rm = 12, T = 10, B = 26;
  let lo = Infinity, hi = -Infinity;
  for (const p of points) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[3]); }
  const yt = niceTicks(lo, hi, 4);
  const y0 = yt[0], y1 = yt[yt.length - 1];
  const X = (t) => L + (t - from) / (to - from || 1) * (W - L - Rm);
  const Y = (v) => T + (1 - (v - y0) / (y1 - y0 || 1)) * (H - T - B);
  let h = '<svg viewBox="0 0 ' + W + ' ' + H + '" role="img">';
  for (const v of yt) h += '<line class="gl" x1="' + L + '" x2="' + (W - Rm) + '" y1="' + Y(v).toFixed(1) + '" y2="' + Y(v).toFixed(1) + '"/><text class="ax" x="' + (L - 6) + '" y="' + (Y(v) + 4).toFixed(1) + '" text-anchor="end">' + esc(fmtNum(v)) + '</text>';
  const tt = timeTicks(from, to);
  for (const t of tt.ticks) h += '<line class="gl" x1="' + X(t).toFixed(1) + '" x2="' + X(t).toFixed(1) + '" y1="' + T + '" y2="' + (H - B) + '"/><text class="ax" x="' + X(t).toFixed(1) + '" y="' + (H - 8) + '" text-anchor="middle">' + esc(tlabel(t, tt.days)) + '</text>';
  // Split into runs where consecutive buckets are no more than 2.5 steps apart: a gap in the
  // data (gateway stopped, device offline) shows as a gap, not as a straight line across it.
  const runs = [];
  let run = [];
  for (const p of points) {
    if (run.length && p[0] - run[run.length - 1][0] > 2.5 * stepMs) { runs.push(run); run = []; }
    run.push(p);
  }
  runs.push(run);
  for (const r of runs) {
    const up = r.map((p) => X(p[0]).toFixed(1) + ',' + Y(p[3]).toFixed(1));
    const down = r.slice().reverse().map((p) => X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1));
    h += '<polygon class="band" points="' + up.concat(down).join(' ') + '"/>';
    h += r.length === 1 ? '<circle class="avg" cx="' + X(r[0][0]).toFixed(1) + '" cy="' + Y(r[0][2]).toFixed(1) + '" r="2"/>' : '<polyline class="avg" points="' + r.map((p) => X(p[0]).toFixed(1) + ',' + Y(p[2]).toFixed(1)).join(' ') + '"/>';
  }
  const last = points[points.length - 1];
  h += '<title>last ' + esc(fmtNum(last[2]) + ' ' + (unit || '')) + ' at ' + esc(fmtTime(last[0], true)) + '</title></svg>';
  return h;
}

/* The gateway's energy counters (kWh, only going up): energy per day is what they grew by. */
const COUNTERS = ['pv_energy', 'load_energy', 'battery_charged_energy', 'battery_discharged_energy'];
const COUNTER_LABELS = { pv_energy: 'PV', load_energy: 'Load', battery_charged_energy: 'Charged', battery_discharged_energy: 'Discharged' };
const countersOf = (name) => COUNTERS.filter((c) => get(name, c) !== null);

async function drawEnergy(dev, pick) {
  const box = $('#energy');
  let on = dev;
  let counters = countersOf(dev);
  if (!counters.length && !pvField(dev)) { // nothing to show here: the first device with counters
    on = S.order.find((n) => countersOf(n).length) || S.order.find((n) => pvField(n));
    counters = on ? countersOf(on) : [];
  }
  // Without counters yet (an older history): integrate the PV power.
  const field = counters.includes(pick) ? pick : counters[0] || (on && pvField(on));
  if (!field) { box.innerHTML = '<div class="empty">No energy counter or PV power on any device.</div>'; return; }
  const src = get(on, field + '_source');
  $('#energy-field').textContent = on + ' · ' + field + (src ? ' (' + src.v + ')' : '');
  const seg = counters.length > 1 ? '<div class="seg" id="energy-counters">' + counters.map((c) => '<button data-counter="' + esc(c) + '" class="' + (c === field ? 'active' : '') + '" title="' + esc(label(c)) + '">' + esc(COUNTER_LABELS[c]) + '</button>').join('') + '</div>' : '';
  try {
    const r = await api('api/devices/' + encodeURIComponent(on) + '/energy?field=' + encodeURIComponent(field) + '&days=30');
    box.innerHTML = seg + barChart(r.days || [], box.clientWidth);
    for (const b of box.querySelectorAll('#energy-counters button')) b.onclick = () => drawEnergy(dev, b.dataset.counter);
  } catch (e) {
    box.innerHTML = seg + '<div class="empty">Energy unavailable: ' + esc(e.message) + '</div>';
  }
}

function barChart(days, width) {
  if (!days.length) return '<div class="empty">No energy recorded yet.</div>';
  const W = Math.max(280, Math.round(width || 720)), H = W < 500 ? 170 : 210, L = 44, Rm = 8, T = 10, B = 26;
  const max = Math.max(0.1, ...days.map((d) => d.kwh || 0));
  const yt = niceTicks(0, max, 4);
  const top = yt[yt.length - 1];
  const bw = (W - L - Rm) / days.length;
  const Y = (v) => T + (1 - v / top) * (H - T - B);
  let h = '<div class="chart"><svg viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="Energy per day">';
  for (const v of yt) h += '<line class="gl" x1="' + L + '" x2="' + (W - Rm) + '" y1="' + Y(v).toFixed(1) + '" y2="' + Y(v).toFixed(1) + '"/><text class="ax" x="' + (L - 6) + '" y="' + (Y(v) + 4).toFixed(1) + '" text-anchor="end">' + esc(fmtNum(v)) + '</text>';
  const every = Math.ceil(days.length / (W < 500 ? 5 : 10));
  days.forEach((d, i) => {
    const x = L + i * bw, y = Y(d.kwh || 0);
    h += '<rect class="barr" x="' + (x + bw * 0.15).toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + (bw * 0.7).toFixed(1) + '" height="' + Math.max(0, H - B - y).toFixed(1) + '" rx="2"><title>' + esc(d.date + ': ' + fmtNum(d.kwh) + ' kWh') + '</title></rect>';
    const lastOne = i === days.length - 1; // anchored at its end so that it is not cut off
    if ((days.length - 1 - i) % every === 0) h += '<text class="bl" x="' + (lastOne ? x + bw : x + bw / 2).toFixed(1) + '" y="' + (H - 8) + '"' + (lastOne ? ' style="text-anchor:end"' : '') + '>' + esc(String(d.date).slice(5)) + '</text>';
  });
  const total = days.reduce((a, d) => a + (d.kwh || 0), 0);
  return h + '</svg></div><p class="small muted">kWh per day (UTC) · ' + days.length + ' days · total <strong id="energy-total">' + esc(fmtNum(total)) + '</strong> kWh</p>';
}

/* ---------- settings ---------- */

async function renderSettings() {
  if (!S.order.length) await loadDevices();
  const devs = S.order.filter((n) => kindOf(n) !== 'bridge');
  const dev = devs.includes(S.route.q.device) ? S.route.q.device : devs[0];
  view().innerHTML = '<h1>Settings</h1><section class="card"><div class="row"><select id="set-device" aria-label="Device">' + deviceOptions(dev, (n) => kindOf(n) !== 'bridge') + '</select>' +
    '<input id="token" type="password" autocomplete="off" placeholder="Access token" aria-label="Access token" style="flex:1;min-width:12rem;max-width:22rem"></div>' +
    '<p class="small muted">The token is kept in this tab only (sessionStorage) and sent as an Authorization header. Every change is read back from the device and logged.</p>' +
    '<div id="settings"><div class="empty">Loading…</div></div></section>';
  const tok = $('#token');
  tok.value = sessionStorage.getItem('sungate-token') || '';
  tok.oninput = () => sessionStorage.setItem('sungate-token', tok.value);
  $('#set-device').onchange = (e) => { setQuery({ device: e.target.value }); renderSettings(); };
  if (!dev) { $('#settings').innerHTML = '<div class="empty">No devices.</div>'; return; }
  let r;
  try {
    r = await api('api/devices/' + encodeURIComponent(dev) + '/settings');
  } catch (e) {
    $('#settings').innerHTML = '<div class="empty">Settings unavailable: ' + esc(e.message) + '</div>';
    return;
  }
  const list = r.settings || [];
  let h = r.writes ? '' : '<div class="notice" id="writes-disabled">Writes are disabled in the gateway configuration (<code>[http] writes = false</code>): the values below are read-only.</div>';
  if (!list.length) h += '<div class="empty">' + esc(dev) + ' has no writable settings.</div>';
  for (const s of list) {
    const cur = s.current === null || s.current === undefined ? '—' : fmtVal(s.current, s.unit) + (s.unit ? ' ' + s.unit : '');
    let allowed, input;
    if (s.kind === 'choice') {
      allowed = (s.choices || []).join(' · ');
      const known = (s.choices || []).includes(s.current);
      // With the current value unknown, nothing is preselected: Apply must not write the first choice by accident.
      input = '<select class="input" aria-label="' + esc(s.name) + '">' + (known ? '' : '<option value="" selected disabled>choose…</option>') + (s.choices || []).map((c) => '<option value="' + esc(c) + '"' + (c === s.current ? ' selected' : '') + '>' + esc(c) + '</option>').join('') + '</select>';
    } else {
      allowed = [s.min !== null && s.min !== undefined ? 'min ' + fmtNum(s.min) : '', s.max !== null && s.max !== undefined ? 'max ' + fmtNum(s.max) : '', s.step ? 'step ' + fmtNum(s.step) : ''].filter(Boolean).join(' · ') + (s.unit ? ' ' + s.unit : '');
      const attr = (k, v) => (v === null || v === undefined ? '' : ' ' + k + '="' + esc(v) + '"');
      input = '<input class="input" type="number" inputmode="decimal"' + attr('min', s.min) + attr('max', s.max) + attr('step', s.step || 'any') + attr('value', typeof s.current === 'number' ? s.current : '') + ' aria-label="' + esc(s.name) + '">';
    }
    h += '<div class="setting" data-setting="' + esc(s.name) + '" data-kind="' + esc(s.kind) + '"><div><div class="sname">' + esc(label(s.name)) + '</div><div class="small muted">now <span class="current">' + esc(cur) + '</span></div></div>' +
      '<div class="small muted allowed">' + esc(allowed || 'any') + '</div><div class="ctl">' + input + '<button class="apply primary"' + (r.writes ? '' : ' disabled title="writes are disabled"') + '>Apply</button><div class="result" role="status"></div></div></div>';
  }
  $('#settings').innerHTML = h;
  for (const row of document.querySelectorAll('#settings .setting')) {
    const btn = $('.apply', row);
    btn.onclick = () => applySetting(dev, row, btn);
  }
}

async function applySetting(dev, row, btn) {
  const name = row.dataset.setting;
  const res = $('.result', row);
  const raw = $('.input', row).value;
  const value = row.dataset.kind === 'number' ? Number(raw) : raw;
  if (row.dataset.kind === 'number' && (raw === '' || !isFinite(value))) { res.className = 'result err'; res.textContent = 'Enter a number.'; return; }
  if (raw === '') { res.className = 'result err'; res.textContent = 'Choose a value.'; return; }
  const token = $('#token').value.trim();
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  btn.disabled = true;
  res.className = 'result busy';
  res.textContent = 'Writing and reading back…';
  try {
    const r = await api('api/devices/' + encodeURIComponent(dev) + '/settings/' + encodeURIComponent(name), { method: 'POST', headers, body: JSON.stringify({ value }) });
    res.className = 'result ok';
    res.textContent = '✓ ' + (r.detail || 'done') ;
    $('.current', row).textContent = fmtVal(r.value !== undefined ? r.value : value);
  } catch (e) {
    const why = { 401: 'Token missing or wrong', 403: 'Writes disabled', 400: 'Refused', 404: 'Unknown', 429: 'Too many changes, wait a moment', 502: 'Device did not confirm' }[e.status];
    res.className = 'result err';
    res.textContent = '✗ ' + (why ? why + ': ' : '') + e.message;
  } finally {
    btn.disabled = false;
  }
}

/* ---------- events ---------- */

function eventHtml(ev, fresh) {
  const d = ev.detail || {};
  const failed = ev.kind === 'command' && d.ok === false;
  let extra = '';
  if (ev.kind === 'command') {
    const res = d.detail || d.result;
    extra = 'by ' + (d.origin || '?') + (d.who ? ' (' + d.who + ')' : '') + ' · ' + (d.setting || '') + ' = ' + fmtVal(d.value) + ' · ' + (d.ok ? 'ok' : 'refused') + (res ? ': ' + res : '');
  } else if (ev.kind === 'offline' && d.reason) extra = d.reason;
  const today = new Date(ev.at_ms).toDateString() === new Date().toDateString();
  return '<li class="ev kind-' + esc(ev.kind) + (failed ? ' failed' : '') + (fresh ? ' fresh' : '') + '" data-kind="' + esc(ev.kind) + '" data-device="' + esc(ev.device) + '">' +
    '<span class="k">' + esc(ev.kind) + ' · ' + esc(ev.device) + '</span><span class="t">' + esc(fmtTime(ev.at_ms, !today)) + '</span>' +
    '<span class="m">' + esc(ev.message || '') + '</span>' + (extra ? '<span class="d">' + esc(extra) + '</span>' : '') + '</li>';
}

async function renderEvents() {
  if (!S.order.length) await loadDevices();
  const dev = S.route.q.device || '';
  view().innerHTML = '<h1>Events</h1><section class="card"><div class="row"><select id="ev-device" aria-label="Device"><option value="">All devices</option>' + deviceOptions(dev) + '</select><span class="small muted">newest first · live</span></div>' +
    '<ul class="events" id="events"><li class="muted">Loading…</li></ul><div class="row" style="margin-top:.8rem"><button id="ev-more">Older</button></div></section>';
  $('#ev-device').onchange = (e) => { setQuery(e.target.value ? { device: e.target.value } : {}); renderEvents(); };
  S.events = [];
  await moreEvents(dev, null);
  $('#ev-more').onclick = () => { const last = S.events[S.events.length - 1]; moreEvents(dev, last ? last.at_ms : null); };
}

async function moreEvents(dev, before) {
  const list = $('#events');
  try {
    const r = await api('api/events?limit=100' + (dev ? '&device=' + encodeURIComponent(dev) : '') + (before ? '&before_ms=' + before : ''));
    const evs = r.events || [];
    if (!before) list.innerHTML = '';
    S.events = S.events.concat(evs);
    list.insertAdjacentHTML('beforeend', evs.map((e) => eventHtml(e)).join(''));
    if (!S.events.length) list.innerHTML = '<li class="muted empty-note">No events recorded yet.</li>';
    $('#ev-more').disabled = evs.length < 100;
  } catch (e) {
    // Without a history store there is no stored log, but the live events still arrive.
    if (!before) list.innerHTML = '<li class="muted empty-note">Stored events unavailable: ' + esc(e.message) + '. New events appear here as they happen.</li>';
    $('#ev-more').disabled = true;
  }
}

function addEvent(ev) {
  if (S.route.name !== 'events' || !S.events) return;
  const dev = S.route.q.device;
  if (dev && ev.device !== dev) return;
  S.events.unshift(ev);
  const list = $('#events');
  if (!list) return;
  const empty = $('.empty-note', list);
  if (empty) empty.remove();
  list.insertAdjacentHTML('afterbegin', eventHtml(ev, true));
}

/* ---------- start ---------- */

window.addEventListener('hashchange', render);
window.addEventListener('pagehide', stopStream);
window.addEventListener('pageshow', (e) => { if (e.persisted) { startStream(); loadDevices().then(update); } });
document.addEventListener('visibilitychange', () => {
  if (document.hidden) stopStream();
  else { startStream(); loadDevices().then(update); }
});
(async function start() {
  startStream();
  await Promise.all([loadDevices(), loadBridges()]);
  render();
  setInterval(update, 1000);
  setInterval(() => { loadDevices().then(update); }, 3000);
  setInterval(loadBridges, 5000);
})();
