//! The dashboard's HTTP API end to end: the `sungate` and `sungate-sim` binaries, requests as a
//! browser or curl sends them. Values the API shows are compared with the simulator's own
//! state; a setting changed through the API must reach the simulated inverter and be read back;
//! every refused write (no token, wrong token, writes off, out of range, malformed, read-only)
//! must change nothing and say why; `/metrics` must parse as Prometheus text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e;

use std::net::SocketAddr;
use std::time::Duration;

use e2e::{GatewayProcess, SimProcess, scratch};
use serde_json::{Value as Json, json};
use sungate_tests::harness::http_request;
use tokio::time::Instant;

const TOKEN: &str = "test-token-0123456789";

/// The simulated inverter, BMV and MPPT, `[http]` on `port` with `http_extra`.
fn config(port: u16, http_extra: &str) -> String {
    format!(
        r#"
[gateway]
name = "test"
[[port]]
name = "inv"
serial = "DIR/inverter"
timeout = 1.0
[[port]]
name = "bmv"
serial = "DIR/bmv"
[[port]]
name = "mppt"
serial = "DIR/mppt"
[[device]]
name = "inverter"
driver = "pi30"
port = "inv"
poll_interval = 0.5
queries = ["QPIGS", "QMOD", "QPIRI", "QPIWS"]
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
[http]
bind = "127.0.0.1:{port}"
{http_extra}
"#
    )
}

struct Api {
    addr: SocketAddr,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, String) {
        http_request(self.addr, "GET", path, &[], "").await.unwrap()
    }

    async fn json(&self, path: &str) -> Json {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Json) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let (status, text) = http_request(self.addr, "POST", path, &headers, body)
            .await
            .unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    /// Wait until every device is online with values.
    async fn wait_online(&self, within: Duration) -> Json {
        let end = Instant::now() + within;
        loop {
            if let Ok((200, body)) = http_request(self.addr, "GET", "/api/devices", &[], "").await {
                let json: Json = serde_json::from_str(&body).unwrap();
                let devices = json["devices"].as_array().unwrap();
                if devices
                    .iter()
                    .all(|d| d["online"] == json!(true) && d["updated_ms"].is_number())
                {
                    return json;
                }
            }
            assert!(Instant::now() < end, "devices not online within {within:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn field(device: &Json, name: &str) -> Json {
    device["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .map(|f| f["value"].clone())
        .unwrap_or_else(|| panic!("no field {name} in {device}"))
}

async fn start(
    tag: &str,
    http_extra: &str,
) -> (std::path::PathBuf, SimProcess, GatewayProcess, Api) {
    let dir = scratch(tag);
    let sim = SimProcess::start(&dir, "").await;
    let port = e2e::free_port();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let extra = http_extra.replace("TOKENFILE", &dir.join("token").display().to_string());
    let gw = GatewayProcess::start(&dir, &sim, &config(port, &extra), tag);
    let api = Api {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    (dir, sim, gw, api)
}

const OSP: [&str; 3] = ["utility_first", "solar_first", "sbu_first"];

/// The simulated inverter's output source priority, as a setting word.
async fn sim_priority(sim: &SimProcess) -> &'static str {
    let state = sim.device("inverter").await;
    let code = state["state"]["settings"]["output_priority"]
        .as_u64()
        .unwrap();
    OSP[code as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_the_simulators_values_and_changes_a_setting_only_with_the_token() {
    let (_dir, sim, gw, api) =
        start("http-api", "writes = true\ntoken_file = \"TOKENFILE\"\n").await;
    let devices = api.wait_online(Duration::from_secs(20)).await;
    assert_eq!(devices["gateway"]["name"], "test");
    assert_eq!(devices["gateway"]["writes"], true);

    // Identity and values equal the simulator's.
    let inverter = api.json("/api/devices/inverter").await;
    let sim_inverter = sim.device("inverter").await;
    assert_eq!(
        inverter["identity"]["serial"],
        sim_inverter["state"]["config"]["serial"]
    );
    let volts = field(&inverter, "battery_voltage").as_f64().unwrap();
    let sim_volts = sim_inverter["state"]["battery_voltage"].as_f64().unwrap();
    assert!(
        (volts - sim_volts).abs() < 0.15,
        "API {volts} V, simulator {sim_volts} V"
    );
    let bmv = api.json("/api/devices/bmv").await;
    let sim_bmv = sim.device("bmv").await;
    let bmv_volts = field(&bmv, "battery_voltage").as_f64().unwrap();
    let sim_bmv_volts = sim_bmv["state"]["battery"]["voltage_v"].as_f64().unwrap();
    assert!(
        (bmv_volts - sim_bmv_volts).abs() < 0.05,
        "API {bmv_volts} V, simulator {sim_bmv_volts} V"
    );
    assert!(inverter["age_s"].as_f64().unwrap() < 5.0, "{inverter}");
    assert_eq!(inverter["stale"], false);

    // The settings list shows the simulator's current value.
    let settings = api.json("/api/devices/inverter/settings").await;
    let osp = settings["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "output_source_priority")
        .cloned()
        .unwrap();
    let before = sim_priority(&sim).await;
    assert_eq!(osp["current"], before, "{osp}");
    assert_eq!(osp["choices"], json!(OSP));
    let target = if before == "sbu_first" {
        "solar_first"
    } else {
        "sbu_first"
    };
    let path = "/api/devices/inverter/settings/output_source_priority";
    let body = json!({ "value": target }).to_string();

    // Refusals change nothing and say why.
    for (token, body, status, needle) in [
        (None, body.as_str(), 401, "token"),
        (Some("wrong-token-000000000"), body.as_str(), 401, "token"),
        (
            Some(TOKEN),
            "{\"value\": \"moon_first\"}",
            400,
            "moon_first",
        ),
        (Some(TOKEN), "not json", 400, "malformed"),
        (Some(TOKEN), "{\"other\": 1}", 400, "malformed"),
    ] {
        let (got, answer) = api.post(path, token, body).await;
        assert_eq!(got, status, "{token:?} {body}: {answer}");
        assert_eq!(answer["ok"], false);
        assert!(
            answer["reason"].as_str().unwrap().contains(needle),
            "{answer}"
        );
    }
    let (got, answer) = api
        .post(
            "/api/devices/inverter/settings/battery_bulk_charge_voltage",
            Some(TOKEN),
            "{\"value\": 70.0}",
        )
        .await;
    assert_eq!(got, 400, "{answer}");
    let (got, answer) = api
        .post(
            "/api/devices/mppt/settings/panel_power",
            Some(TOKEN),
            "{\"value\": 5}",
        )
        .await;
    assert_eq!(got, 400, "{answer}");
    assert!(
        answer["reason"].as_str().unwrap().contains("read-only"),
        "{answer}"
    );
    let (got, _) = api
        .post(
            "/api/devices/inverter/settings/volume",
            Some(TOKEN),
            "{\"value\": 1}",
        )
        .await;
    assert_eq!(got, 404);
    let (got, _) = api
        .post(
            "/api/devices/nobody/settings/x",
            Some(TOKEN),
            "{\"value\": 1}",
        )
        .await;
    assert_eq!(got, 404);
    assert_eq!(
        sim_priority(&sim).await,
        before,
        "a refused write reached the inverter"
    );

    // With the token: executed by the port task, verified by read-back, answered with it.
    let (got, answer) = api.post(path, Some(TOKEN), &body).await;
    assert_eq!(got, 200, "{answer}");
    assert_eq!(answer["ok"], true);
    assert!(
        answer["detail"].as_str().unwrap().contains("verified"),
        "{answer}"
    );
    assert_eq!(sim_priority(&sim).await, target);
    // The next poll shows it in the settings list too.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let settings = api.json("/api/devices/inverter/settings").await;
        let current = settings["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "output_source_priority")
            .map(|s| s["current"].clone());
        if current == Some(json!(target)) {
            break;
        }
        assert!(Instant::now() < end, "settings still show {current:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The rate limit: a burst of 5, then refused.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(api.post(path, Some(TOKEN), &body).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(!gw.log_text().contains("panicked"), "{}", gw.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_writes_off_nothing_is_written_and_metrics_parse() {
    let (_dir, sim, _gw, api) = start("http-readonly", "").await;
    api.wait_online(Duration::from_secs(20)).await;
    let before = sim_priority(&sim).await;
    let (got, answer) = api
        .post(
            "/api/devices/inverter/settings/output_source_priority",
            Some(TOKEN),
            "{\"value\": \"utility_first\"}",
        )
        .await;
    assert_eq!(got, 403, "{answer}");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("writes are disabled")
    );
    assert_eq!(sim_priority(&sim).await, before);

    // Metrics: a Prometheus parser reads them; the gauges equal the API's values.
    let (status, text) = api.get("/metrics").await;
    assert_eq!(status, 200);
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let gauge = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape.samples.iter().find_map(|s| {
            let matches =
                s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
            match (&s.value, matches) {
                (prometheus_parse::Value::Gauge(v), true) => Some(*v),
                (prometheus_parse::Value::Counter(v), true) => Some(*v),
                (prometheus_parse::Value::Untyped(v), true) => Some(*v),
                _ => None,
            }
        })
    };
    let volts = gauge(
        "sungate_field",
        &[
            ("device", "bmv"),
            ("field", "battery_voltage"),
            ("unit", "V"),
        ],
    )
    .unwrap_or_else(|| panic!("no BMV voltage gauge in\n{text}"));
    assert!((10.0..16.0).contains(&volts), "{volts}");
    assert_eq!(
        gauge("sungate_device_online", &[("device", "inverter")]),
        Some(1.0)
    );
    let polls = gauge(
        "sungate_port_polls_total",
        &[("port", "inv"), ("result", "ok")],
    )
    .unwrap();
    assert!(polls >= 1.0, "{polls}");
    let families: std::collections::HashSet<&str> =
        scrape.docs.keys().map(String::as_str).collect();
    for family in [
        "sungate_field",
        "sungate_port_polls_total",
        "sungate_port_poll_latency_seconds",
        "sungate_port_reopens_total",
        "sungate_bridge_writes_total",
    ] {
        assert!(families.contains(family), "no HELP for {family}");
    }

    // Reads of what does not exist say so.
    assert_eq!(api.get("/api/devices/nobody").await.0, 404);
    let (status, body) = api.get("/").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<html") || body.contains("<!doctype") || body.contains("<!DOCTYPE"),
        "{body}"
    );
}

/// Snapshots of `device` from `/api/stream` for `secs` seconds: (at_ms, fields).
async fn stream_snapshots(addr: SocketAddr, device: &str, secs: u64) -> Vec<(i64, Json)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /api/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 8192];
    while let Ok(Ok(n)) = tokio::time::timeout_at(end, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Json>(d).ok())
        .filter(|d| d["device"] == device && d["fields"].is_object())
        .map(|d| (d["at_ms"].as_i64().unwrap(), d["fields"].clone()))
        .collect()
}

fn export(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sungate"))
        .arg("export")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sungate export {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_exported_as_published_and_survives_a_restart() {
    let history =
        "writes = true\ntoken_file = \"TOKENFILE\"\n[history]\npath = \"DB\"\nflush_interval = 1\n";
    let dir = scratch("http-history");
    let sim = SimProcess::start(&dir, "").await;
    let port = e2e::free_port();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let extra = history
        .replace("TOKENFILE", &dir.join("token").display().to_string())
        .replace("DB", &dir.join("history.db").display().to_string());
    let text = config(port, &extra);
    let api = Api {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let mut gw = GatewayProcess::start(&dir, &sim, &text, "history-1");
    api.wait_online(Duration::from_secs(20)).await;

    // What the gateway published for 6 s, as a dashboard sees it.
    let seen = stream_snapshots(api.addr, "inverter", 6).await;
    assert!(
        seen.len() >= 5,
        "only {} inverter snapshots on the stream",
        seen.len()
    );
    // A command, for the audit log.
    let (status, answer) = api
        .post(
            "/api/devices/inverter/settings/output_source_priority",
            Some(TOKEN),
            "{\"value\": \"solar_first\"}",
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = api
        .post(
            "/api/devices/inverter/settings/output_source_priority",
            None,
            "{\"value\": \"sbu_first\"}",
        )
        .await;
    assert_eq!(status, 401);
    // SIGTERM: the last batch is written before the gateway exits.
    let exit = gw.terminate().await;
    assert!(exit.success(), "{exit}: {}", gw.log_text());

    // Export of the window (CSV and JSONL) holds exactly what was published.
    let config_path = dir.join("gateway-history-1.toml");
    let first = seen.first().unwrap().0;
    let last = seen.last().unwrap().0;
    let window = [
        "--device",
        "inverter",
        "--fields",
        "battery_voltage,pv_input_power",
    ];
    let from = format!("{}", first / 1000);
    let to = format!("{}", last / 1000 + 1);
    let jsonl = export(
        &config_path,
        &[
            &window[..],
            &["--from", &from, "--to", &to, "--format", "jsonl"],
        ]
        .concat(),
    );
    let rows: Vec<Json> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (at, fields) in &seen {
        let row = rows
            .iter()
            .find(|r| r["ts_ms"].as_i64() == Some(*at))
            .unwrap_or_else(|| panic!("snapshot at {at} not exported:\n{jsonl}"));
        assert_eq!(row["battery_voltage"], fields["battery_voltage"], "{row}");
        assert_eq!(row["pv_input_power"], fields["pv_input_power"], "{row}");
    }
    let csv = export(
        &config_path,
        &[
            &window[..],
            &["--from", &from, "--to", &to, "--format", "csv"],
        ]
        .concat(),
    );
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| {
                *h == name
                    || h.starts_with(&format!("{name} "))
                    || h.starts_with(&format!("{name}["))
            })
            .unwrap_or_else(|| panic!("no {name} column in {header:?}"))
    };
    let (ts, volts) = (col("ts_ms"), col("battery_voltage"));
    let csv_rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(csv_rows.len(), rows.len(), "CSV and JSONL rows differ");
    for (at, fields) in &seen {
        let row = csv_rows
            .iter()
            .find(|r| r[ts] == at.to_string())
            .unwrap_or_else(|| panic!("snapshot at {at} not in the CSV"));
        let v: f64 = row[volts].parse().unwrap();
        assert_eq!(Some(v), fields["battery_voltage"].as_f64());
    }

    // After a restart the history API still has the first run's values, at 1 s resolution.
    let _gw = GatewayProcess::start(&dir, &sim, &text, "history-2");
    api.wait_online(Duration::from_secs(20)).await;
    let history = api
        .json(&format!(
            "/api/devices/inverter/history?fields=battery_voltage&from_ms={}&to_ms={}&step_s=1",
            first,
            last + 1
        ))
        .await;
    let points = history["series"][0]["points"].as_array().unwrap();
    let buckets: std::collections::BTreeSet<i64> = seen.iter().map(|(at, _)| at / 1000).collect();
    assert!(
        points.len() >= buckets.len(),
        "{} points for {} seconds with snapshots",
        points.len(),
        buckets.len()
    );
    let (at, fields) = &seen[seen.len() / 2];
    let bucket = at - at.rem_euclid(1000);
    let point = points
        .iter()
        .find(|p| p[0].as_i64() == Some(bucket))
        .unwrap_or_else(|| panic!("no bucket {bucket} in {history}"));
    let v = fields["battery_voltage"].as_f64().unwrap();
    assert!(
        point[1].as_f64().unwrap() <= v && v <= point[3].as_f64().unwrap(),
        "{point} vs {v}"
    );

    // The event log: the commands (done and refused, with who), and the devices coming online.
    let events = api.json("/api/events?limit=200").await;
    let events = events["events"].as_array().unwrap();
    let commands: Vec<&Json> = events.iter().filter(|e| e["kind"] == "command").collect();
    assert!(
        commands
            .iter()
            .any(|e| e["detail"]["ok"] == true && e["detail"]["origin"] == "http"),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|e| e["detail"]["ok"] == false
            && e["detail"]["who"]
                .as_str()
                .unwrap_or("")
                .starts_with("127.0.0.1")),
        "{commands:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "online" && e["device"] == "bmv"),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_history_database_costs_the_history_only() {
    let dir = scratch("http-corrupt-db");
    let db = dir.join("history.db");
    std::fs::write(&db, vec![0x5Au8; 64 * 1024]).unwrap();
    let sim = SimProcess::start(&dir, "").await;
    let port = e2e::free_port();
    let extra = format!(
        "[history]\npath = \"{}\"\nflush_interval = 1\n",
        db.display()
    );
    let gw = GatewayProcess::start(&dir, &sim, &config(port, &extra), "corrupt-db");
    let api = Api {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    // Polling and the API go on: every device online with fresh values.
    api.wait_online(Duration::from_secs(20)).await;
    let line = gw
        .wait_log(&["history store not writable", "history.db"], 10)
        .await;
    assert!(line.contains("ERROR"), "not reported as an error: {line}");
    // Still fresh a few seconds later, and the metrics say the history is not writable.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let inverter = api.json("/api/devices/inverter").await;
    assert!(inverter["age_s"].as_f64().unwrap() < 3.0, "{inverter}");
    let (_, metrics) = api.get("/metrics").await;
    assert!(
        metrics.lines().any(|l| l == "sungate_history_writable 0"),
        "{metrics}"
    );
    // The file was left as it was: nothing is overwritten behind the user's back.
    assert_eq!(std::fs::read(&db).unwrap(), vec![0x5Au8; 64 * 1024]);
    // History reads say why instead of failing silently.
    let (status, body) = api
        .get("/api/devices/inverter/history?fields=battery_voltage")
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("history.db"), "{body}");
}
