//! Frames rendered into ratatui's `TestBackend` (layout at common sizes, the
//! too-small message, the help overlay, link/OTA placeholders and filled
//! states), the snapshot hook, and keys turned into control messages.

use super::clock::ClockControl;
use super::input::{Action, Controller, action_for};
use super::snapshot::paths;
use super::snapshot::{LinkState, OtaState, PluginRow, Shared, Snapshot, SnapshotHook};
use super::view::{MIN_HEIGHT, MIN_WIDTH, View};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tcu_engine::catalog::Catalog;
use tcu_engine::control;
use tcu_engine::sim::{Event, TickHook};

fn render(view: &View, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| f.render_widget(view, f.area())).unwrap();
    screen(&term)
}

fn screen(term: &Terminal<TestBackend>) -> String {
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn sample() -> View {
    let mut s = Snapshot {
        vin: "WTCUZ000000000042".into(),
        t: 12.5,
        ..Snapshot::default()
    };
    s.set("Vehicle.Speed", 42.5);
    s.set("Sim.Driver.AcceleratorPedal", 30.0);
    s.set("Sim.Driver.BrakePedal", 0.0);
    s.set(
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
        77.25,
    );
    s.set("Vehicle.ADAS.ABS.IsEnabled", 1.0);
    s.set("Vehicle.ADAS.ABS.IsEngaged", 1.0);
    s.set("Vehicle.Cabin.Seat.Row1.DriverSide.IsOccupied", 1.0);
    s.set("Vehicle.Cabin.Seat.Row1.DriverSide.Airbag.IsDeployed", 1.0);
    s.set(
        "Vehicle.Cabin.Seat.Row1.PassengerSide.Airbag.IsDeployed",
        0.0,
    );
    s.set("Vehicle.Cabin.Seat.Row1.DriverSide.HeatingCooling", 60.0);
    s.set("Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature", 22.5);
    s.set("Sim.Fault.ABS.WheelSensor", 2.0);
    s.plugins = vec![PluginRow {
        name: "battery".into(),
        version: "1.0.0".into(),
        ok: true,
    }];
    for i in 0..30 {
        s.charts[0].push_back((f64::from(i), f64::from(i) * 1.5));
    }
    s.log.push_back("0.00s plugin.loaded battery 1.0.0".into());
    View::new(s)
}

#[test]
fn the_full_layout_shows_every_panel_with_its_values() {
    let text = render(&sample(), 160, 50);
    for needle in [
        "TCU WTCUZ000000000042",
        "Vehicle speed   42.5 km/h",
        "Accelerator [███·······]  30 %",
        "SOC",
        "77.2 %",
        "ENGAGED",
        "› R1 Driver yes",
        "DEPLOYED",
        "ready",
        "R1 Driver lvl   60%",
        "22.5",
        "Wheel-sensor fault  FR",
        "Speed 43.5 km/h",
        "battery       1.0.0     ok",
        "no swaps yet",
        "not connected / not configured",
        "not configured",
        "plugin.loaded battery",
        "Motor",
        "Heated seats",
        "Event log",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // Values nobody wrote read as a dash, not as zero.
    assert!(text.contains("Rotor              — rpm"), "{text}");
}

#[test]
fn the_smallest_supported_size_still_shows_the_panels() {
    let text = render(&sample(), MIN_WIDTH, MIN_HEIGHT);
    assert!(text.contains("Vehicle speed"), "{text}");
    assert!(text.contains("Event log"), "{text}");
    assert!(!text.contains("too small"), "{text}");
}

#[test]
fn a_small_terminal_gets_a_clear_message_and_no_panels() {
    let text = render(&sample(), 80, 24);
    assert!(text.contains("Terminal too small: 80x24"), "{text}");
    assert!(
        text.contains(&format!("{MIN_WIDTH}x{MIN_HEIGHT}")),
        "{text}"
    );
    assert!(!text.contains("Vehicle speed"), "{text}");
}

#[test]
fn resizing_redraws_for_the_new_size() {
    let view = sample();
    let mut term = Terminal::new(TestBackend::new(160, 50)).unwrap();
    term.draw(|f| f.render_widget(&view, f.area())).unwrap();
    for (w, h) in [(100, 20), (MIN_WIDTH, MIN_HEIGHT), (200, 60), (1, 1)] {
        term.backend_mut().resize(w, h);
        term.autoresize().unwrap();
        term.draw(|f| f.render_widget(&view, f.area())).unwrap();
        let text = screen(&term);
        let small = w < MIN_WIDTH || h < MIN_HEIGHT;
        assert_eq!(text.contains("Vehicle speed"), !small, "{w}x{h}\n{text}");
    }
}

#[test]
fn the_help_overlay_lists_every_key() {
    let mut view = sample();
    view.help = true;
    let text = render(&view, 160, 50);
    assert!(text.contains("Keys (? or Esc to close)"), "{text}");
    for (key, what) in super::input::KEYS {
        let line = format!(" {key:<11} {what}");
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn link_and_ota_show_what_their_owners_report() {
    let shared = Shared::default();
    shared.update_link(LinkState {
        broker: "127.0.0.1:1883".into(),
        connected: true,
        published: 1234,
        msgs_per_s: 1.0,
        outbox_depth: 7,
    });
    shared.update_ota(OtaState {
        state: "downloading".into(),
        action: Some("42: battery 1.1.0".into()),
        progress: 0.5,
        versions: vec!["battery 1.0.0".into()],
    });
    let mut view = sample();
    let frame = shared.frame();
    view.snap.link = frame.link;
    view.snap.ota = frame.ota;
    let text = render(&view, 160, 50);
    for needle in [
        "Broker    127.0.0.1:1883",
        "State     connected",
        "Published 1234",
        "Outbox    7",
        "State    downloading",
        "Action   42: battery 1.1.0",
        "[███████·······]  50 %",
        "battery 1.0.0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("not configured"), "{text}");
}

#[test]
fn the_hook_publishes_values_events_and_plugin_history() {
    let mut vehicle = bare_vehicle();
    let shared = Arc::new(Shared::default());
    let mut hook = SnapshotHook::new(&vehicle, "VIN", shared.clone());
    hook.before_tick(&mut vehicle);
    vehicle.step();
    let events = [
        Event {
            t: 0.01,
            kind: "plugin.swapped".into(),
            detail: "battery 1.0.0 -> 1.1.0".into(),
            fields: Default::default(),
        },
        Event {
            t: 0.01,
            kind: "fault".into(),
            detail: "engine failed".into(),
            fields: Default::default(),
        },
    ];
    hook.after_tick(&vehicle, &events);
    let frame = shared.frame();
    assert_eq!(frame.vin, "VIN");
    assert_eq!(frame.ticks, 1);
    assert_eq!(frame.plugin_history.len(), 1);
    assert!(frame.plugin_history[0].contains("battery 1.0.0 -> 1.1.0"));
    assert!(frame.log.iter().any(|l| l.contains("fault engine failed")));
    // The world writes the speed; no plugin writes the SOC; actuators always
    // have their value.
    assert_eq!(frame.get("Vehicle.Speed"), 0.0);
    assert!(
        frame
            .get("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current")
            .is_nan()
    );
    assert_eq!(frame.get("Sim.Environment.RoadFriction"), 0.9);
    assert_eq!(frame.charts[0].len(), 1);
}

#[test]
fn the_header_shows_the_active_dtcs_and_the_fault_d_toggles() {
    let mut view = sample();
    let text = render(&view, 160, 50);
    assert!(text.contains("DTC none"), "{text}");
    view.snap.dtcs = vec![
        ("C0035".into(), "abs".into()),
        ("P0A7E".into(), "battery".into()),
    ];
    view.dtc_fault = Some((
        "B1A10".into(),
        "heated-seats".into(),
        "heater_row1_driver".into(),
    ));
    let text = render(&view, 160, 50);
    let header = text.lines().next().unwrap();
    assert!(header.contains("DTC 2: C0035 P0A7E"), "{header}");
    assert!(header.contains("d: B1A10 heater_row1_driver"), "{header}");
    // The fixed fields come first: a narrow terminal keeps them.
    let narrow = render(&view, MIN_WIDTH, MIN_HEIGHT);
    assert!(
        narrow.lines().next().unwrap().contains("q quit"),
        "{narrow}"
    );
}

#[test]
fn the_hook_lists_the_codes_of_the_active_fault_masks() {
    let mut vehicle = bare_vehicle();
    let shared = Arc::new(Shared::default());
    let mut hook = SnapshotHook::new(&vehicle, "VIN", shared.clone());
    vehicle.step();
    hook.after_tick(&vehicle, &[]);
    assert!(shared.frame().dtcs.is_empty());
    let bus = vehicle.bus_mut();
    let abs = bus.id("Sim.Diagnostics.ABS.ActiveFaults").unwrap();
    bus.write(abs, 1.0).unwrap();
    vehicle.step();
    hook.after_tick(&vehicle, &[]);
    assert_eq!(
        shared.frame().dtcs,
        [("C0035".to_owned(), "abs".to_owned())]
    );
    vehicle.bus_mut().write(abs, 0.0).unwrap();
    vehicle.step();
    hook.after_tick(&vehicle, &[]);
    assert!(shared.frame().dtcs.is_empty());
}

#[test]
fn d_injects_the_selected_fault_and_heals_it_once_its_code_is_active() {
    let (handle, mut inbox) = control::channel();
    let shared = Arc::new(Shared::default());
    let clock = Arc::new(ClockControl::new(Arc::new(AtomicBool::new(false))));
    let mut c = Controller::new(handle, clock, shared.clone(), None);
    assert_eq!(c.dtc_faults[0].code, "C0035");
    let battery = c.dtc_faults.iter().position(|f| f.code == "P0A7E");
    for _ in 0..battery.expect("the battery's fault is listed") {
        assert!(c.handle(Action::NextDtcFault, &Snapshot::default()));
    }
    assert_eq!(c.dtc_faults[c.dtc_fault].code, "P0A7E");
    assert!(c.handle(Action::ToggleDtcFault, &Snapshot::default()));
    let active = Snapshot {
        dtcs: vec![("P0A7E".into(), "battery".into())],
        ..Snapshot::default()
    };
    assert!(c.handle(Action::ToggleDtcFault, &active));
    // The bare vehicle has no battery plugin: both commands come back
    // refused, naming what was sent.
    let mut v = bare_vehicle();
    assert_eq!(inbox.apply_pending(&mut v), 2);
    let log = shared.frame().log;
    assert!(
        log[0].contains("battery fault.cell_overtemp=1 (P0A7E)"),
        "{log:?}"
    );
    assert!(
        log[1].contains("battery fault.cell_overtemp=0 (P0A7E)"),
        "{log:?}"
    );
    for _ in 0..c.dtc_faults.len() {
        c.handle(Action::NextDtcFault, &Snapshot::default());
    }
    assert_eq!(
        c.dtc_faults[c.dtc_fault].code, "P0A7E",
        "the selection wraps"
    );
}

#[test]
fn taking_over_switches_the_driver_to_idle_before_the_next_tick() {
    let mut vehicle = bare_vehicle();
    let shared = Arc::new(Shared::default());
    let mut hook = SnapshotHook::new(&vehicle, "VIN", shared.clone());
    shared
        .take_over
        .store(true, std::sync::atomic::Ordering::Relaxed);
    hook.before_tick(&mut vehicle);
    vehicle.step();
    hook.after_tick(&vehicle, &[]);
    assert!(shared.frame().manual);
    // The demo driver would have pressed the accelerator on the first tick.
    assert_eq!(shared.frame().get("Sim.Driver.AcceleratorPedal"), 0.0);
}

// Keys and the control path.
fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn every_documented_letter_maps_to_an_action() {
    for c in "wscohHztTfFaeEgGxdDpn<>LU?q12345 ".chars() {
        assert!(action_for(key(c)).is_some(), "{c}");
    }
    assert_eq!(
        action_for(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
}

/// A vehicle without plugins: enough to apply control messages to.
fn bare_vehicle() -> tcu_engine::sim::Vehicle {
    use tcu_engine::catalog::Catalog;
    use tcu_engine::config::{VehicleConfig, VehicleOverrides};
    let catalog = Catalog::builtin();
    let config = VehicleConfig::defaults_with(&VehicleOverrides::default(), &catalog)
        .expect("default config");
    let (v, _) = tcu_engine::build::build_vehicle_with(&config, Arc::new(catalog), |_| {
        Ok(tcu_engine::plugin::LoadReport {
            plugins: Vec::new(),
            rejected: Vec::new(),
        })
    })
    .expect("vehicle");
    v
}

#[test]
fn throttle_takes_over_and_sends_both_pedals_through_the_control_path() {
    let (handle, mut inbox) = control::channel();
    let shared = Arc::new(Shared::default());
    let clock = Arc::new(ClockControl::new(Arc::new(AtomicBool::new(false))));
    let mut c = Controller::new(handle, clock, shared.clone(), None);
    let snap = Snapshot::default();
    assert!(c.handle(Action::Throttle, &snap));
    assert!(c.handle(Action::Throttle, &snap));
    assert!(shared.take_over.load(Ordering::Relaxed));
    let mut v = bare_vehicle();
    assert_eq!(inbox.apply_pending(&mut v), 2);
    let id = v.bus().id("Sim.Driver.AcceleratorPedal").unwrap();
    assert_eq!(v.bus().get(id), 20.0);
    assert!(c.handle(Action::Brake, &snap));
    inbox.apply_pending(&mut v);
    assert_eq!(v.bus().get(id), 0.0);
    assert!(!c.handle(Action::Quit, &snap));
}

#[test]
fn heating_a_seat_without_heating_is_logged_not_sent() {
    let (handle, mut inbox) = control::channel();
    let shared = Arc::new(Shared::default());
    let clock = Arc::new(ClockControl::new(Arc::new(AtomicBool::new(false))));
    let mut c = Controller::new(handle, clock, shared.clone(), None);
    let snap = Snapshot::default();
    c.handle(Action::SelectSeat(3), &snap);
    c.handle(Action::SeatHeat(10), &snap);
    let mut v = bare_vehicle();
    assert_eq!(inbox.apply_pending(&mut v), 0);
    assert!(shared.frame().log.iter().any(|l| l.contains("no heating")));
}

// The snapshot.
#[test]
fn every_path_shown_is_in_the_catalog() {
    let catalog = Catalog::builtin();
    for p in paths() {
        assert!(catalog.id(p).is_some(), "{p}");
    }
}

#[test]
fn unknown_and_unset_values_read_as_nan() {
    let mut s = Snapshot::default();
    assert!(s.get("Vehicle.Speed").is_nan());
    s.set("Vehicle.Speed", 12.0);
    assert_eq!(s.get("Vehicle.Speed"), 12.0);
    assert!(s.get("Vehicle.TraveledDistance").is_nan());
}

#[test]
fn ota_state_events_feed_the_ota_panel() {
    let mut vehicle = bare_vehicle();
    let shared = Arc::new(Shared::default());
    let mut hook = SnapshotHook::new(&vehicle, "VIN", shared.clone());
    vehicle.step();
    let fields = [
        ("state", "downloading"),
        ("action", "7"),
        ("bytes", "250"),
        ("of", "1000"),
        ("versions", "abs=1.0.0,battery=1.0.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let events = [Event {
        t: 0.01,
        kind: "ota.state".into(),
        detail: "downloading action 7".into(),
        fields,
    }];
    hook.after_tick(&vehicle, &events);
    let ota = shared.frame().ota.expect("OTA state reported");
    assert_eq!(ota.state, "downloading");
    assert_eq!(ota.action.as_deref(), Some("7"));
    assert!((ota.progress - 0.25).abs() < 1e-9);
    assert_eq!(ota.versions, vec!["abs 1.0.0", "battery 1.0.0"]);
}
