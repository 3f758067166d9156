//! A port task whose command handles are all dropped must not spin (issue 12: the closed
//! command receiver answered `None` at once, forever: 1.8 s of CPU in 2 s). Measured like a
//! benchmark, in a test binary of its own so that the process's CPU time is this test's: a
//! spinning task burns about a core, an idle one next to nothing, so the limit has a wide
//! margin on a busy machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sungate::core::bus::Bus;
use sungate::core::port_task::{DeviceSlot, Opener, PortTask};
use sungate_drivers::link::{Link, LinkError, StreamLink};
use sungate_drivers::pi30::driver::{Pi30Driver, Pi30Options};
use sungate_drivers::pi30::queries::Query;
use sungate_tests::soak::procstat;
use tokio::io::DuplexStream;

/// A link to a device that never answers; the far ends are kept so the links stay open.
#[derive(Debug, Default)]
struct SilentOpener {
    far_ends: Mutex<Vec<DuplexStream>>,
}

#[async_trait]
impl Opener for SilentOpener {
    async fn open(&self) -> Result<Box<dyn Link>, LinkError> {
        let (near, far) = tokio::io::duplex(1024);
        self.far_ends.lock().unwrap().push(far);
        Ok(Box::new(StreamLink::new(near)))
    }
    fn describe(&self) -> String {
        "silent".into()
    }
}

/// CPU seconds (user + system) this process has used (the soak's /proc reader).
fn cpu_seconds() -> f64 {
    let ticks = procstat::cpu_ticks(std::process::id()).unwrap();
    ticks as f64 / procstat::ticks_per_second().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_task_whose_handles_are_all_dropped_stays_idle_or_ends() {
    let driver = Pi30Driver::new(Pi30Options {
        queries: vec![Query::Qpigs],
        reply_timeout: Duration::from_millis(200),
        ..Pi30Options::default()
    });
    // A device polled once an hour: after its first (failing) identify, nothing is due.
    let slot = DeviceSlot::new("inverter", Box::new(driver), Duration::from_secs(3600));
    let (task, handle) = PortTask::new(
        "p",
        Box::new(SilentOpener::default()),
        None,
        vec![slot],
        Bus::default(),
    );
    let running = tokio::spawn(task.run());
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(handle);
    let before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_seconds() - before;
    println!("CPU with every handle dropped: {used:.2} s in 3 s of wall time");
    assert!(
        used < 0.3,
        "the port task spins: {used:.2} s of CPU in 3 s with nothing to do"
    );
    // It still has a device to poll, so it keeps running.
    assert!(!running.is_finished());
    running.abort();

    // With no device to poll and no handle left, there is nothing to do at all: it ends.
    let (task, handle) = PortTask::new(
        "q",
        Box::new(SilentOpener::default()),
        None,
        Vec::new(),
        Bus::default(),
    );
    let idle = tokio::spawn(task.run());
    drop(handle);
    tokio::time::timeout(Duration::from_secs(2), idle)
        .await
        .expect("a port task with no devices and no handles did not end")
        .unwrap();
}
