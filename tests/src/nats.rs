//! A NATS cluster for the scale-out tests: Debian's `nats-server` (2.9),
//! several nodes on loopback, each with JetStream and an MQTT listener, on
//! ephemeral ports, routed to each other.
//!
//! NATS's MQTT listener needs JetStream, and for 10–20 s after a cluster
//! starts its MQTT connects can fail while JetStream looks up the
//! retained-message stream: [`Cluster::start`] returns only once a retained
//! message published on each node is read on the next one. Every process
//! is stopped by its PID on drop and every wait is bounded.

use crate::mqtt::free_port;
use crate::owned::SpawnOwned;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` executable: on PATH, else Debian's `/usr/sbin/nats-server`.
pub fn nats_exe() -> PathBuf {
    let sbin = Path::new("/usr/sbin/nats-server");
    if Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
        && sbin.is_file()
    {
        sbin.to_owned()
    } else {
        PathBuf::from("nats-server")
    }
}

/// Whether `nats-server` is installed (scripts/test installs it).
pub fn nats_available() -> bool {
    Command::new(nats_exe()).arg("--version").output().is_ok()
}

/// One node's ports.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    /// NATS client port.
    pub client: u16,
    /// Cluster route port.
    pub route: u16,
    /// MQTT listener port.
    pub mqtt: u16,
}

impl Node {
    /// `nats://127.0.0.1:<client>`.
    pub fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client)
    }

    /// `mqtt://127.0.0.1:<mqtt>`.
    pub fn mqtt_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.mqtt)
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    children: Vec<Child>,
    /// The nodes, in start order.
    pub nodes: Vec<Node>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts `n` nodes in `dir` and waits (up to `ready`) until MQTT
    /// carries retained messages across them.
    pub fn start(dir: &Path, n: usize, ready: Duration) -> Self {
        let nodes: Vec<Node> = (0..n)
            .map(|_| Node {
                client: free_port(),
                route: free_port(),
                mqtt: free_port(),
            })
            .collect();
        let routes = nodes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{}", p.route))
            .collect::<Vec<_>>()
            .join(", ");
        let mut children = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let conf = dir.join(format!("nats-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{}\n\
                     jetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: tcu, listen: 127.0.0.1:{}, routes: [{routes}] }}\n\
                     mqtt {{ listen: 127.0.0.1:{} }}\n",
                    node.client,
                    dir.join(format!("js-{i}")).display(),
                    node.route,
                    node.mqtt
                ),
            )
            .expect("writing a nats-server config");
            let log = std::fs::File::create(dir.join(format!("nats-{i}.log"))).expect("log file");
            let child = Command::new(nats_exe())
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn_owned()
                .expect("starting nats-server");
            children.push(child);
        }
        let cluster = Self {
            children,
            nodes,
            dir: dir.to_owned(),
        };
        let end = Instant::now() + ready;
        while !cluster.carries_retained_messages() {
            assert!(
                Instant::now() < end,
                "the NATS cluster did not carry a retained MQTT message across its nodes within \
                 {ready:?}:\n{}",
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        cluster
    }

    /// Whether a retained message published on every node is read on the
    /// next node.
    fn carries_retained_messages(&self) -> bool {
        let n = self.nodes.len();
        (0..n).all(|i| {
            let topic = format!("tcu-probe/{i}");
            publish_retained(self.nodes[i].mqtt, &topic)
                && read_retained(self.nodes[(i + 1) % n].mqtt, &topic)
        })
    }

    /// Every node's log.
    pub fn logs(&self) -> String {
        (0..self.nodes.len())
            .map(|i| {
                let text = std::fs::read_to_string(self.dir.join(format!("nats-{i}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!(
                    "--- node {i} (last lines) ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn client(port: u16, id: &str) -> (Client, rumqttc::Connection) {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    Client::new(o, 10)
}

/// Publishes a retained QoS 1 probe and waits for its PUBACK (3 s).
fn publish_retained(port: u16, topic: &str) -> bool {
    let (c, mut conn) = client(port, &format!("probe-pub-{port}"));
    let end = Instant::now() + Duration::from_secs(3);
    let mut sent = false;
    while Instant::now() < end {
        match conn.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) if !sent => {
                sent = c
                    .try_publish(topic, QoS::AtLeastOnce, true, "probe")
                    .is_ok();
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                let _ = c.try_disconnect();
                return true;
            }
            Ok(Err(_)) => return false,
            _ => {}
        }
    }
    false
}

/// Subscribes and waits for the retained probe (3 s).
fn read_retained(port: u16, topic: &str) -> bool {
    let (c, mut conn) = client(port, &format!("probe-sub-{port}"));
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        match conn.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                let _ = c.try_subscribe(topic, QoS::AtLeastOnce);
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.topic == topic => {
                let _ = c.try_disconnect();
                return true;
            }
            Ok(Err(_)) => return false,
            _ => {}
        }
    }
    false
}
