//! `sungate check-config` on broken configs prints file:line and a useful message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn check(file: &str) -> (Option<i32>, String, String) {
    let path = format!("{}/../config/{file}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_sungate"))
        .args(["check-config", &path])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn broken_configs_name_file_line_and_problem() {
    for (file, line, needle) in [
        ("broken/unknown-key.toml", 5, "unknown field `baudrate`"),
        (
            "broken/same-path.toml",
            8,
            "both claim serial \"/dev/ttyUSB0\"",
        ),
        (
            "broken/undefined-port.toml",
            9,
            "uses port \"inverter-serial\", which is not defined (ports: inverter-usb)",
        ),
        (
            "broken/read-only-allow.toml",
            17,
            "mqtt allow: \"mppt\" cannot set \"panel_power\": panel_power (0xEDBC) is read-only",
        ),
    ] {
        let (code, _, err) = check(file);
        assert_eq!(code, Some(1), "{file}: {err}");
        assert!(err.contains(&format!("{file}:{line}: ")), "{file}: {err}");
        assert!(err.contains(needle), "{file}: {err}");
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
}

#[test]
fn the_example_configs_pass() {
    let (code, out, err) = check("demo.toml");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ok (3 ports, 3 devices)"), "{out}");
}
