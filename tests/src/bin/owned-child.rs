//! A stand-in for a test or bench that started a server: starts
//! `sleep 300` with [`SpawnOwned::spawn_owned`], prints its PID on a line
//! of its own, then waits for it until it is killed itself. The
//! `owned_children` test kills it by signal and checks that the child
//! ended with it.

use std::process::Command;
use tcu_integration_tests::owned::SpawnOwned;

fn main() {
    let mut child = Command::new("sleep")
        .arg("300")
        .spawn_owned()
        .expect("starting sleep 300");
    println!("{}", child.id());
    // Until the test kills this process (or the child ends).
    let _ = child.wait();
}
