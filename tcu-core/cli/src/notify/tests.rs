use super::*;
use std::sync::{Arc, Mutex};

fn bound(dir: &std::path::Path) -> (UnixDatagram, String) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    (sock, path.display().to_string())
}

fn recv(sock: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn a_notify_socket_path_gets_each_state_as_one_datagram() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, path) = bound(dir.path());
    let n = Notifier::from_env(|k| (k == "NOTIFY_SOCKET").then(|| path.clone())).unwrap();
    n.send("READY=1");
    n.send("WATCHDOG=1");
    assert_eq!(recv(&sock).as_deref(), Some("READY=1"));
    assert_eq!(recv(&sock).as_deref(), Some("WATCHDOG=1"));
}

#[test]
fn an_abstract_notify_socket_is_reached_by_its_name() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("tcu-notify-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let n = Notifier::from_env(|k| (k == "NOTIFY_SOCKET").then(|| format!("@{name}"))).unwrap();
    n.send("READY=1");
    assert_eq!(recv(&sock).as_deref(), Some("READY=1"));
}

#[test]
fn no_notify_socket_means_no_notifier() {
    assert!(Notifier::from_env(|_| None).is_none());
    assert!(Notifier::from_env(|_| Some("relative".into())).is_none());
}

#[test]
fn the_watchdog_interval_is_half_of_watchdog_usec_and_only_for_this_pid() {
    let env = |pid: Option<&'static str>| {
        move |k: &str| match k {
            "WATCHDOG_USEC" => Some("10000000".to_owned()),
            "WATCHDOG_PID" => pid.map(str::to_owned),
            _ => None,
        }
    };
    assert_eq!(
        watchdog_interval(env(None), 7),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        watchdog_interval(env(Some("7")), 7),
        Some(Duration::from_secs(5))
    );
    assert_eq!(watchdog_interval(env(Some("8")), 7), None);
    assert_eq!(watchdog_interval(|_| None, 7), None);
}

#[test]
fn pings_follow_ticks_at_the_interval_and_stop_when_ticks_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, path) = bound(dir.path());
    let n = Notifier::from_env(|k| (k == "NOTIFY_SOCKET").then(|| path.clone())).unwrap();
    let start = Instant::now();
    let t = Arc::new(Mutex::new(start));
    let clock = t.clone();
    let mut hook = NotifyHook::new(
        n,
        Some(Duration::from_secs(1)),
        Box::new(move || *clock.lock().unwrap()),
    );
    let vehicle = vehicle_without_plugins(dir.path());
    let tick = |hook: &mut NotifyHook, vehicle: &Vehicle, at_ms: u64| {
        *t.lock().unwrap() = start + Duration::from_millis(at_ms);
        hook.after_tick(vehicle, &[]);
    };
    tick(&mut hook, &vehicle, 0);
    assert_eq!(recv(&sock).as_deref(), Some("READY=1\nSTATUS=running"));
    assert_eq!(recv(&sock).as_deref(), Some("WATCHDOG=1"));
    for ms in [100, 500, 900] {
        tick(&mut hook, &vehicle, ms);
    }
    tick(&mut hook, &vehicle, 1000);
    assert_eq!(recv(&sock).as_deref(), Some("WATCHDOG=1"));
    // No tick for a while: no ping, however much time passes.
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    *t.lock().unwrap() = start + Duration::from_secs(60);
    assert_eq!(recv(&sock), None);
    tick(&mut hook, &vehicle, 60_000);
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(recv(&sock).as_deref(), Some("WATCHDOG=1"));
}

/// A vehicle with no plugins: the hook ignores it.
fn vehicle_without_plugins(dir: &std::path::Path) -> Vehicle {
    let plugins = dir.join("no-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let config = crate::config::Config::build(
        None,
        &crate::config::Overrides::default(),
        &crate::config::Overrides {
            vehicle: tcu_engine::config::VehicleOverrides {
                plugins_dir: Some(plugins),
                ..Default::default()
            },
            ..Default::default()
        },
        &tcu_engine::catalog::Catalog::builtin(),
    )
    .unwrap();
    let catalog = std::sync::Arc::new(tcu_engine::catalog::Catalog::builtin());
    tcu_engine::build::build_vehicle(&config.vehicle, catalog)
        .unwrap()
        .0
}
