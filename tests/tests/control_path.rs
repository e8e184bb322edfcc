//! The control path: all-or-nothing writes, replies with a reason per path,
//! plugin commands, and the tick loop applying queued messages between
//! ticks so the plugins see them on the next tick.

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
