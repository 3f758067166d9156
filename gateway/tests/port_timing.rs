//! Port-task timing under tokio's paused clock: the reopen backoff doubles from 1 s to 60 s, and a
//! silent device goes offline after a bounded number of polls and comes back by itself. The
//! device is a simulator model on an in-memory link, so simulated and tokio time are one clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sungate::core::bus::{Bus, Event};
use sungate::core::port_task::{DeviceSlot, Opener, PortTask};
use sungate_drivers::link::{Link, LinkError, StreamLink};
use sungate_drivers::pi30::driver::{Pi30Driver, Pi30Options};
use sungate_drivers::pi30::queries::Query;
use sungate_sim::config::SimConfig;
use sungate_sim::device::Device;
use tokio::time::Instant;

fn pi30_slot(interval: Duration) -> DeviceSlot {
    let driver = Pi30Driver::new(Pi30Options {
        queries: vec![Query::Qpigs],
        reply_timeout: Duration::from_millis(500),
        ..Pi30Options::default()
    });
    DeviceSlot::new("inverter", Box::new(driver), interval)
}

#[derive(Debug, Default)]
struct FailingOpener {
    attempts: Arc<Mutex<Vec<Instant>>>,
}

#[async_trait]
impl Opener for FailingOpener {
    async fn open(&self) -> Result<Box<dyn Link>, LinkError> {
        self.attempts.lock().unwrap().push(Instant::now());
        Err(LinkError::Closed("no such device".into()))
    }
    fn describe(&self) -> String {
        "nowhere".into()
    }
}

#[tokio::test(start_paused = true)]
async fn reopen_backoff_doubles_from_one_second_to_sixty() {
    let opener = FailingOpener::default();
    let attempts = opener.attempts.clone();
    let bus = Bus::default();
    let mut rx = bus.subscribe();
    let (task, _handle) = PortTask::new(
        "p",
        Box::new(opener),
        None,
        vec![pi30_slot(Duration::from_secs(1))],
        bus,
    );
    let start = Instant::now();
    tokio::spawn(task.run());
    tokio::time::sleep(Duration::from_secs(250)).await;
    let gaps: Vec<u64> = attempts
        .lock()
        .unwrap()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps[..8], [1, 2, 4, 8, 16, 32, 60, 60], "{gaps:?}");
    assert!(attempts.lock().unwrap()[0] - start < Duration::from_millis(10));
    // reported offline once, with the reason
    match rx.try_recv().unwrap() {
        Event::Availability {
            online: false,
            reason: Some(r),
            ..
        } => assert!(r.contains("no such device"), "{r}"),
        other => panic!("{other:?}"),
    }
    assert!(rx.try_recv().is_err(), "availability repeated");
}

/// Connects an in-memory link to a simulator device (interface 0), as a PTY would.
#[derive(Debug)]
struct SimOpener(Device);

#[async_trait]
impl Opener for SimOpener {
    async fn open(&self) -> Result<Box<dyn Link>, LinkError> {
        let (client, sim_end) = tokio::io::duplex(4096);
        let device = self.0.clone();
        tokio::spawn(async move { sungate_sim::frontend::serve_stream(&device, 0, sim_end).await });
        Ok(Box::new(StreamLink::new(client)))
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}

#[tokio::test(start_paused = true)]
async fn silent_device_goes_offline_after_three_polls_and_recovers() {
    let config = SimConfig::default();
    let device = Device::new(&config.devices[0], 5);
    let ticker = device.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            ticker.tick(Duration::from_millis(100));
        }
    });
    let bus = Bus::default();
    let mut rx = bus.subscribe();
    let (task, _handle) = PortTask::new(
        "p",
        Box::new(SimOpener(device.clone())),
        None,
        vec![pi30_slot(Duration::from_secs(2))],
        bus,
    );
    tokio::spawn(task.run());

    let next = async |rx: &mut tokio::sync::broadcast::Receiver<Event>| loop {
        match rx.recv().await.unwrap() {
            Event::Availability { online, .. } => return (online, Instant::now()),
            _ => continue,
        }
    };
    let (online, _) = next(&mut rx).await;
    assert!(online);
    let muted = Instant::now();
    device
        .set_faults(sungate_sim::faults::Faults {
            silent: true,
            ..Default::default()
        })
        .unwrap();
    let (online, at) = next(&mut rx).await;
    assert!(!online);
    // three polls 2 s apart, each giving up after 0.5 s: offline 4.5-6.5 s after the fault
    let took = at - muted;
    assert!(
        took >= Duration::from_millis(4400) && took <= Duration::from_millis(6600),
        "{took:?}"
    );
    device.set_faults(Default::default()).unwrap();
    let cleared = Instant::now();
    let (online, at) = next(&mut rx).await;
    assert!(online);
    assert!(at - cleared <= Duration::from_secs(3), "{:?}", at - cleared);
}
