//! The embedded broker `tcu run` starts when no broker is configured, so
//! that `mosquitto_sub -h 127.0.0.1 -t 'vehicle/#' -v` shows the car on a
//! fresh machine. It is rumqttd, MQTT 3.1.1 only, plain TCP on loopback.
//!
//! rumqttd keeps every topic's messages in in-memory segments; its example
//! configuration (100 MB × 10) grew to over a gigabyte in a long run. Here a
//! topic keeps at most 4 segments of 256 KiB, which bounds memory on a Pi.
//!
//! If the configured port is taken (another broker, another `tcu`), the
//! broker listens on a free port instead; the address is returned so it can
//! be logged. rumqttd's threads run until the process exits.

use crate::error::MqttError;
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Bytes per in-memory segment of one topic.
pub const SEGMENT_BYTES: usize = 256 * 1024;
/// Segments kept per topic.
pub const SEGMENTS: usize = 4;

fn free_addr(wanted: SocketAddr) -> Result<SocketAddr, MqttError> {
    let io = |e: std::io::Error| MqttError::Embedded(format!("binding {wanted}: {e}"));
    match TcpListener::bind(wanted) {
        Ok(l) => l.local_addr().map_err(io),
        Err(_) if wanted.port() != 0 => {
            let any = SocketAddr::new(wanted.ip(), 0);
            let l = TcpListener::bind(any).map_err(io)?;
            let addr = l.local_addr().map_err(io)?;
            tracing::warn!(wanted = %wanted, using = %addr, "MQTT port taken; the embedded broker uses another");
            Ok(addr)
        }
        Err(e) => Err(io(e)),
    }
}

/// Starts the broker on `listen` (or a free port if that one is taken) and
/// waits until it accepts connections. Returns the address.
pub fn start(listen: SocketAddr) -> Result<SocketAddr, MqttError> {
    let addr = free_addr(listen)?;
    let server = ServerSettings {
        name: "tcu-embedded".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: crate::options::MAX_PACKET_BYTES,
            max_inflight_count: 1000,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 1000,
            max_segment_size: SEGMENT_BYTES,
            max_segment_count: SEGMENTS,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Default::default()
    };
    let mut broker = Broker::new(config);
    std::thread::Builder::new()
        .name("tcu-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!("embedded MQTT broker stopped: {e}");
            }
        })
        .map_err(|e| MqttError::Embedded(format!("starting its thread: {e}")))?;
    // The listener is bound on a server thread; wait until it answers.
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(e) = probe(addr) {
        if Instant::now() > deadline {
            return Err(MqttError::Embedded(format!(
                "not answering on {addr} after 5 s: {e}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(addr)
}

/// CONNECT of MQTT 3.1.1: clean session, keepalive 5 s, client id
/// `tcu-probe`, no will, no credentials.
const PROBE_CONNECT: &[u8] = &[
    0x10, 21, // CONNECT, remaining length
    0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 5, // protocol, level, flags, keepalive
    0, 9, b't', b'c', b'u', b'-', b'p', b'r', b'o', b'b', b'e',
];
/// CONNACK, session not present, accepted.
const PROBE_CONNACK: [u8; 4] = [0x20, 2, 0, 0];

/// Whether the broker accepts an MQTT connection. A bare TCP connect would
/// do, but rumqttd logs every connection that closes before its CONNECT as
/// an error; a complete handshake closed after the CONNACK is logged as an
/// ordinary disconnect. No DISCONNECT is sent: rumqttd logs that as an error
/// too.
fn probe(addr: SocketAddr) -> std::io::Result<()> {
    let timeout = Duration::from_millis(500);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(PROBE_CONNECT)?;
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack)?;
    if ack != PROBE_CONNACK {
        return Err(std::io::Error::other(format!(
            "unexpected answer to CONNECT: {ack:02x?}"
        )));
    }
    Ok(())
}
