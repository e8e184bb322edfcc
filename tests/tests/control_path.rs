//! The control path: all-or-nothing writes, replies with a reason per path,
//! plugin commands, the vehicle's limits on actuators VSS leaves open, and
//! the tick loop applying queued messages between ticks so the plugins see
//! them on the next tick.

use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tcu_engine::catalog::Value;
use tcu_engine::control::{self, ControlMsg};
use tcu_engine::sim::clock::VirtualClock;
use tcu_engine::sim::{RunSettings, run};
use tcu_engine::world::driver::DriverProfile;
use tcu_integration_tests::harness::{get, vehicle};

const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";

#[test]
fn a_refused_path_refuses_the_whole_write_and_names_each_reason() {
    let mut v = vehicle(1, DriverProfile::Idle, &[]);
    let before = (get(&v, SETPOINT), get(&v, FAN));
    let errors = v
        .bus_mut()
        .set_actuators(&[
            (SETPOINT.to_owned(), Value::Float(23.0)),
            (FAN.to_owned(), Value::Int(250)),
            ("Vehicle.Speed".to_owned(), Value::Float(10.0)),
            ("Vehicle.No.Such".to_owned(), Value::Float(1.0)),
        ])
        .expect_err("must be refused");
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[FAN].contains("100"), "{errors:?}");
    assert!(
        errors["Vehicle.Speed"].contains("not an actuator"),
        "{errors:?}"
    );
    assert_eq!(errors["Vehicle.No.Such"], "unknown signal");
    assert_eq!((get(&v, SETPOINT), get(&v, FAN)), before, "nothing written");

    v.bus_mut()
        .set_actuators(&[
            (SETPOINT.to_owned(), Value::Float(23.0)),
            (FAN.to_owned(), Value::Int(80)),
        ])
        .expect("valid write");
    assert_eq!((get(&v, SETPOINT), get(&v, FAN)), (23.0, 80.0));
}

#[test]
fn queued_messages_are_applied_between_ticks_and_answered() {
    let mut v = vehicle(2, DriverProfile::Idle, &[]);
    let (handle, mut inbox) = control::channel();
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    handle
        .send(ControlMsg::Set {
            set: vec![(SETPOINT.to_owned(), Value::Float(26.5))],
            reply: Some(Box::new(move |r| tx.send(format!("{r:?}")).unwrap())),
        })
        .unwrap();
    handle
        .send(ControlMsg::PluginCommand {
            subsystem: "warp-drive".to_owned(),
            name: "engage".to_owned(),
            value: 1.0,
            reply: Some(Box::new(move |r| tx2.send(format!("{r:?}")).unwrap())),
        })
        .unwrap();
    assert!(
        rx.try_recv().is_err(),
        "nothing applied before the loop runs"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let settings = RunSettings {
        duration: Some(Duration::from_millis(50)),
    };
    let outcome = run(
        &mut v,
        &mut VirtualClock::default(),
        &settings,
        &stop,
        &mut inbox,
    );
    assert_eq!(outcome.ticks, 5);
    assert_eq!(rx.recv().unwrap(), "Ok(())");
    assert!(rx.recv().unwrap().contains("no subsystem `warp-drive`"));
    assert_eq!(get(&v, SETPOINT), 26.5);
    drop(v);
    drop(inbox);
    assert!(handle.set(vec![]).is_err(), "a stopped vehicle says so");
}

/// A `cmd/req` as the MQTT link handles it (parsed, queued as a control
/// message, applied between two ticks, answered on `cmd/res`), minus the
/// socket: a cabin setpoint of 900 °C is refused with the signal and the
/// vehicle's limits, and nothing changes.
#[test]
fn a_900_degree_setpoint_command_is_refused_naming_the_signal_and_its_limits() {
    let mut v = vehicle(3, DriverProfile::Idle, &[]);
    let before = get(&v, SETPOINT);
    let payload = json!({"id": "hot", "set": {SETPOINT: 900.0}}).to_string();
    let cmd = tcu_link::command::parse(payload.as_bytes()).expect("a well-formed request");
    let (handle, mut inbox) = control::channel();
    let (tx, rx) = mpsc::channel();
    handle
        .send(ControlMsg::Set {
            set: cmd.set,
            reply: Some(Box::new(move |r| tx.send(r).unwrap())),
        })
        .unwrap();
    let settings = RunSettings {
        duration: Some(Duration::from_millis(20)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    run(
        &mut v,
        &mut VirtualClock::default(),
        &settings,
        &stop,
        &mut inbox,
    );
    let outcome = rx.recv().expect("the command is answered");
    let res: serde_json::Value =
        serde_json::from_slice(&tcu_link::command::response(Some(&cmd.id), &outcome)).unwrap();
    assert_eq!(
        res,
        json!({"id": "hot", "status": "rejected", "errors": {SETPOINT: "900 is outside [16, 28]"}})
    );
    assert_eq!(get(&v, SETPOINT), before, "nothing written");
}

#[test]
fn inboxes_of_one_group_take_only_their_own_messages_and_the_shared_count_returns_to_zero() {
    let group = control::InboxGroup::default();
    let (mut a, mut b) = (
        vehicle(3, DriverProfile::Idle, &[]),
        vehicle(4, DriverProfile::Idle, &[]),
    );
    let (to_a, mut inbox_a) = control::channel_in(&group);
    let (to_b, mut inbox_b) = control::channel_in(&group);
    assert_eq!(inbox_a.apply_pending(&mut a), 0);
    assert_eq!(group.unread(), 0);

    // A message for B makes the group's count non-zero: A looks at its own
    // flag, finds nothing and leaves the message alone.
    to_b.set(vec![(SETPOINT.to_owned(), Value::Float(25.0))])
        .unwrap();
    assert_eq!(group.unread(), 1);
    assert_eq!(inbox_a.apply_pending(&mut a), 0);
    assert_eq!(group.unread(), 1, "A must not take B's message");
    assert_eq!(inbox_b.apply_pending(&mut b), 1);
    assert_eq!(get(&b, SETPOINT), 25.0);
    assert_ne!(get(&a, SETPOINT), 25.0);
    assert_eq!(group.unread(), 0);

    // Two for A, one for B: each takes its own, in one look.
    to_a.set(vec![(SETPOINT.to_owned(), Value::Float(21.0))])
        .unwrap();
    to_a.set(vec![(SETPOINT.to_owned(), Value::Float(22.0))])
        .unwrap();
    to_b.set(vec![(SETPOINT.to_owned(), Value::Float(19.0))])
        .unwrap();
    assert_eq!(group.unread(), 3);
    assert_eq!(inbox_b.apply_pending(&mut b), 1);
    assert_eq!(inbox_a.apply_pending(&mut a), 2);
    assert_eq!((get(&a, SETPOINT), get(&b, SETPOINT)), (22.0, 19.0));
    assert_eq!(group.unread(), 0);

    // An inbox dropped with messages nobody will take gives them back, so
    // the others return to the one shared load.
    to_a.set(vec![(SETPOINT.to_owned(), Value::Float(23.0))])
        .unwrap();
    assert_eq!(group.unread(), 1);
    drop(inbox_a);
    assert_eq!(group.unread(), 0);
    assert!(to_a.set(vec![]).is_err(), "A's inbox is gone");
    assert_eq!(group.unread(), 0, "a refused send is not counted");
    assert_eq!(inbox_b.apply_pending(&mut b), 0);
}
