//! Helpers of the MQTT tests: a mosquitto started on an ephemeral loopback
//! port with a generated configuration, the `tcu` binary as a child process,
//! an MQTT subscriber collecting messages, and test certificates.
//!
//! Everything started here is stopped by PID on drop, and every wait is
//! bounded. mosquitto is configured so it does not drop QoS 1 messages when
//! a subscriber lags (`max_queued_messages 0`, `max_inflight_messages 0`),
//! keeps sessions across a restart (`persistence true`), and stays root
//! when started as root (`user root`: its default would switch to the
//! `mosquitto` user, which cannot write the test's temporary directory).

use crate::owned::SpawnOwned;
use crate::process::Running;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The mosquitto executable: on PATH, else Debian's `/usr/sbin/mosquitto`
/// (not on every user's PATH).
pub fn mosquitto_exe() -> PathBuf {
    let sbin = Path::new("/usr/sbin/mosquitto");
    if Command::new("mosquitto").arg("-h").output().is_err() && sbin.is_file() {
        sbin.to_owned()
    } else {
        PathBuf::from("mosquitto")
    }
}

/// Whether mosquitto is installed (scripts/test installs it).
pub fn mosquitto_available() -> bool {
    Command::new(mosquitto_exe()).arg("-h").output().is_ok()
}

/// A free TCP port on 127.0.0.1 (free when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// Waits until `f` is true or `timeout` passed; returns the last result.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A mosquitto process.
#[derive(Debug)]
pub struct Mosquitto {
    child: Option<Child>,
    /// The plain listener's port.
    pub port: u16,
    conf: PathBuf,
    /// Its directory (config, persistence, log).
    pub dir: PathBuf,
}

impl Mosquitto {
    /// Starts mosquitto in `dir` with a plain listener plus `extra` config.
    pub fn start(dir: &Path, extra: &str) -> Self {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n\
                 max_inflight_messages 0\npersistence true\npersistence_location {}/\n\
                 set_tcp_nodelay true\nuser root\nlog_dest file {}/mosquitto.log\n{extra}\n",
                dir.display(),
                dir.display()
            ),
        )
        .expect("writing mosquitto.conf");
        let mut m = Self {
            child: None,
            port,
            conf,
            dir: dir.to_owned(),
        };
        m.restart();
        m
    }

    /// Starts it (again) with the same configuration and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "mosquitto is running");
        let child = Command::new(mosquitto_exe())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn_owned()
            .expect("starting mosquitto (is it installed? scripts/test installs it)");
        self.child = Some(child);
        let port = self.port;
        assert!(
            wait_for(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "mosquitto is not listening on {port}; log:\n{}",
            self.log()
        );
    }

    /// Stops it with SIGTERM (it saves its sessions) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let exited = wait_for(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `tcu run --headless --config <dir>/tcu.toml <args>` with `config`
/// written to that file, as a [`Running`] process (output captured, killed
/// by PID when dropped).
pub fn spawn_tcu_run(dir: &Path, config: &str, args: &[&str]) -> Running {
    let conf = dir.join("tcu.toml");
    std::fs::write(&conf, config).expect("writing tcu.toml");
    let mut cmd = crate::process::tcu_command();
    cmd.args(["run", "--headless", "--config"])
        .arg(&conf)
        .args(args);
    Running::start(cmd)
}

/// Starts `tcu run --headless` on its embedded broker, listening on an
/// ephemeral loopback port, publishing every 200 ms with its outbox in
/// `dir`; returns the process and the broker's port, read from its log.
pub fn spawn_tcu_embedded(dir: &Path) -> (Running, u16) {
    let config = format!(
        "[mqtt]\nembedded_listen = \"127.0.0.1:0\"\npublish_period = \"200ms\"\noutbox_dir = \"{}\"\n",
        dir.join("outbox").display()
    );
    let tcu = spawn_tcu_run(dir, &config, &[]);
    let line = tcu
        .wait_line("embedded MQTT broker listening on", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no broker address logged:\n{}", tcu.output()));
    let port: u16 = line
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in `{line}`"));
    (tcu, port)
}

/// A message received by [`Subscriber`].
pub type Received = (String, Vec<u8>);

/// An MQTT subscriber on its own thread; reconnects on errors.
#[allow(missing_debug_implementations)]
pub struct Subscriber {
    client: Client,
    rx: mpsc::Receiver<(String, Vec<u8>, bool)>,
    connected: mpsc::Receiver<()>,
}

impl Subscriber {
    /// Connects to 127.0.0.1:`port` as `id` and subscribes to `filter` at
    /// QoS 1. `clean: false` keeps a session the broker saves across a
    /// restart.
    pub fn connect(port: u16, id: &str, filter: &str, clean: bool) -> Self {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(clean);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(o, 1000);
        let (tx, rx) = mpsc::channel();
        let (ctx, connected) = mpsc::channel();
        let sub = client.clone();
        let filter = filter.to_owned();
        std::thread::spawn(move || {
            for ev in connection.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = sub.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ctx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx
                            .send((p.topic.clone(), p.payload.to_vec(), p.dup))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        let s = Self {
            client,
            rx,
            connected,
        };
        assert!(
            s.connected.recv_timeout(Duration::from_secs(10)).is_ok(),
            "subscriber could not subscribe on port {port}"
        );
        s
    }

    /// Next message within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Received> {
        self.next_full(timeout).map(|(t, p, _)| (t, p))
    }

    /// Next message within `timeout`, with the DUP flag of a broker
    /// redelivery.
    pub fn next_full(&self, timeout: Duration) -> Option<(String, Vec<u8>, bool)> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Collects messages on `topic` until `done` says so or `timeout`.
    pub fn collect(
        &self,
        topic: &str,
        timeout: Duration,
        mut done: impl FnMut(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let end = Instant::now() + timeout;
        let mut out = Vec::new();
        while Instant::now() < end && !done(&out) {
            if let Some((t, p)) = self.next(Duration::from_millis(100))
                && t == topic
            {
                out.push(serde_json::from_slice(&p).unwrap_or_else(|e| {
                    panic!(
                        "payload on {t} is not JSON ({e}): {}",
                        String::from_utf8_lossy(&p)
                    )
                }));
            }
        }
        out
    }

    /// Publishes `payload` on `topic` at QoS 1.
    pub fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .expect("publishing from the test subscriber");
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
    }
}

/// PEM files of a test PKI: a CA, a server certificate for 127.0.0.1 and
/// a client certificate, all signed by the CA.
#[derive(Debug)]
pub struct Pki {
    /// CA certificate.
    pub ca: PathBuf,
    /// Server certificate and key.
    pub server: (PathBuf, PathBuf),
    /// Client certificate and key.
    pub client: (PathBuf, PathBuf),
}

/// Writes a test PKI into `dir`.
pub fn make_pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tcu test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("writing PEM");
        p
    };
    let leaf = |names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &ca).expect("signing");
        (cert.pem(), key.serialize_pem())
    };
    let (scert, skey) = leaf(vec!["127.0.0.1".into(), "localhost".into()], "127.0.0.1");
    let (ccert, ckey) = leaf(vec![], "tcu-client");
    Pki {
        ca: write("ca.pem", ca.pem()),
        server: (write("server.pem", scert), write("server.key", skey)),
        client: (write("client.pem", ccert), write("client.key", ckey)),
    }
}
