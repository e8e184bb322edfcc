//! Captures leaving the vehicle, and capture rules arriving: the link's
//! side of `tcu_engine::record::Capturer` (the contract is
//! `docs/RECORDING.md`, "Captures over MQTT" and "Changing the rules
//! remotely").
//!
//! A finished capture is cut into chunks ([`chunks`]): JSON objects naming
//! the capture by the SHA-256 of its file, each with at most
//! [`CHUNK_DATA`] bytes of the file as text. [`CapturePublisher`] hands them
//! to the link's task as ordinary QoS 1 messages, so they wait in the
//! outbox (and its disk spill) while the broker is away. It runs on the
//! capture's writer thread, never the tick thread, so it may wait a little
//! for room in the channel; a chunk still not handed over then is counted
//! as lost and reported (`outbox.dropped`, `link_stalled`) like any loss.
//!
//! A `capture_rules` request goes to the capturer through the rules
//! channel of [`CapturePort`]; the capturer checks it against the catalog
//! between two ticks and answers through the usual reply.

use crate::hook::Frame;
use crate::outbox::{DropReason, Dropped, Msg};
use serde_json::json;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use tcu_engine::bus::SetErrors;
use tcu_engine::record::{CaptureSink, Captured, RuleSpec, RulesRequest};
use tcu_engine::reply::Reply;
use tokio::sync::mpsc;

/// Most bytes of the file one chunk carries.
pub const CHUNK_DATA: usize = 32 * 1024;

/// The path the command policy (`[mqtt] commands`) matches a
/// `capture_rules` request by: `!Sim.Record.*` or `!Sim.Record.CaptureRules`
/// excludes it.
pub const RULES_PATH: &str = "Sim.Record.CaptureRules";

/// How often, and how long apart, a chunk is offered to a full channel
/// before it is counted as lost (about five seconds in all).
const HAND_OVER_TRIES: u32 = 500;
const HAND_OVER_PAUSE: Duration = Duration::from_millis(10);

/// The chunk payloads of `capture`, in order.
pub fn chunks(capture: &Captured<'_>) -> Vec<Vec<u8>> {
    let text = capture.text;
    let id = tcu_engine::swap::store::sha256_hex(text.as_bytes());
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // The file is ASCII; should it not be, a piece still ends on a
        // character boundary so that it is valid text.
        let mut end = rest.len().min(CHUNK_DATA);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    if pieces.is_empty() {
        pieces.push("");
    }
    let n = pieces.len();
    pieces
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let doc = json!({
                "id": id,
                "rule": capture.rule,
                "trigger_tick": capture.trigger_tick,
                "trigger_t": capture.trigger_t,
                "bytes": text.len(),
                "chunk": i,
                "chunks": n,
                "data": data,
            });
            serde_json::to_vec(&doc).unwrap_or_default()
        })
        .collect()
}

/// Publishes captures on `vehicle/{vin}/captures` through the link's
/// outbox (see the module docs).
#[derive(Debug, Clone)]
pub struct CapturePublisher {
    frames: mpsc::Sender<Frame>,
    topic: String,
    tries: u32,
}

impl CapturePublisher {
    pub(crate) fn new(frames: mpsc::Sender<Frame>, topic: String) -> Self {
        Self {
            frames,
            topic,
            tries: HAND_OVER_TRIES,
        }
    }

    /// The topic captures go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Offers `frame` until the channel has room, it is closed, or the
    /// tries are used up; gives it back if it was not taken.
    fn hand_over(&self, mut frame: Frame) -> Result<(), Frame> {
        for _ in 0..self.tries.max(1) {
            match self.frames.try_send(frame) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Closed(f)) => return Err(f),
                Err(mpsc::error::TrySendError::Full(f)) => {
                    frame = f;
                    std::thread::sleep(HAND_OVER_PAUSE);
                }
            }
        }
        Err(frame)
    }
}

impl CapturePublisher {
    /// Hands every chunk over; what could not be is the returned loss. Once
    /// one chunk found no room in time, the link is stalled: the chunks
    /// after it are counted as lost at once rather than each waited for.
    fn offer_all(&self, payloads: Vec<Vec<u8>>) -> Dropped {
        let mut lost = Dropped::default();
        for payload in payloads {
            let msg = Msg {
                topic: self.topic.clone(),
                payload,
                qos: 1,
                seq: None,
            };
            if !lost.is_empty() {
                lost.add(&msg, DropReason::LinkStalled);
            } else if let Err(Frame::Publish(m)) = self.hand_over(Frame::Publish(msg)) {
                lost.add(&m, DropReason::LinkStalled);
            }
        }
        lost
    }
}

impl CaptureSink for CapturePublisher {
    fn publish(&self, capture: &Captured<'_>) {
        let lost = self.offer_all(chunks(capture));
        if lost.is_empty() {
            tracing::info!(
                rule = capture.rule,
                tick = capture.trigger_tick,
                bytes = capture.text.len(),
                "capture handed to the MQTT link"
            );
            return;
        }
        let count = lost.count;
        if self.hand_over(Frame::Lost(lost)).is_err() {
            // The link is gone or stuck: its loss report could not be
            // handed over either.
            tracing::error!(
                rule = capture.rule,
                tick = capture.trigger_tick,
                "{count} capture chunk(s) lost: the MQTT link is stopped or stalled"
            );
        }
    }
}

/// What the link offers a capturer: the publisher of its captures and the
/// rule changes that arrive as commands. Taken once from the link's handle.
#[derive(Debug)]
pub struct CapturePort {
    /// Publishes captures.
    pub publisher: CapturePublisher,
    /// `capture_rules` requests, for `Capturer::with_remote`.
    pub rules: std_mpsc::Receiver<RulesRequest>,
}

/// Passes a `capture_rules` request to the capturer; an error (no
/// capturer takes rules) is the refusal to answer.
pub(crate) fn request_rules(
    to: Option<&std_mpsc::Sender<RulesRequest>>,
    rules: Vec<RuleSpec>,
    reply: Reply<Result<(), SetErrors>>,
) -> Result<(), SetErrors> {
    let request = RulesRequest {
        rules,
        reply: Some(reply),
    };
    match to.map(|tx| tx.send(request)) {
        Some(Ok(())) => Ok(()),
        _ => Err(SetErrors::from([(
            "capture_rules".to_owned(),
            "this vehicle runs no capturer".to_owned(),
        )])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    fn capture(text: &str) -> Captured<'_> {
        Captured {
            rule: "abs.engaged",
            trigger_tick: 1234,
            trigger_t: 12.34,
            text,
        }
    }

    fn parsed(text: &str) -> Vec<Json> {
        chunks(&capture(text))
            .iter()
            .map(|p| serde_json::from_slice(p).expect("JSON"))
            .collect()
    }

    /// Joins the chunks' data in order, checking what every chunk says.
    fn joined(docs: &[Json], text: &str) -> String {
        let id = tcu_engine::swap::store::sha256_hex(text.as_bytes());
        let mut out = String::new();
        for (i, d) in docs.iter().enumerate() {
            assert_eq!(d["id"], json!(id));
            assert_eq!(d["rule"], json!("abs.engaged"));
            assert_eq!(d["trigger_tick"], json!(1234));
            assert_eq!(d["trigger_t"], json!(12.34));
            assert_eq!(d["bytes"], json!(text.len()));
            assert_eq!(d["chunk"], json!(i));
            assert_eq!(d["chunks"], json!(docs.len()));
            assert_eq!(d.as_object().expect("object").len(), 8, "{d}");
            let data = d["data"].as_str().expect("data");
            assert!(data.len() <= CHUNK_DATA, "{} bytes", data.len());
            out.push_str(data);
        }
        out
    }

    #[test]
    fn joined_chunks_give_the_file_whose_hash_is_the_id() {
        let text: String = (0..5000)
            .map(|i| format!("{i},QJ9Aq0xLeQ,,Bb0\n"))
            .collect();
        let docs = parsed(&text);
        assert_eq!(docs.len(), text.len().div_ceil(CHUNK_DATA));
        assert!(docs.len() > 2);
        assert_eq!(joined(&docs, &text), text);
    }

    #[test]
    fn a_file_of_exactly_one_chunk_is_one_chunk_and_each_byte_over_starts_another() {
        let exact = "x".repeat(CHUNK_DATA);
        let docs = parsed(&exact);
        assert_eq!(docs.len(), 1);
        assert_eq!(joined(&docs, &exact), exact);
        for over in 1..=3 {
            let text = format!("{exact}{}", "y".repeat(over));
            let docs = parsed(&text);
            assert_eq!(docs.len(), 2, "{over} over");
            assert_eq!(docs[1]["data"], json!("y".repeat(over)));
            assert_eq!(joined(&docs, &text), text);
        }
    }

    #[test]
    fn a_piece_never_splits_a_character() {
        let text = format!("{}é{}", "a".repeat(CHUNK_DATA - 1), "b".repeat(10));
        let docs = parsed(&text);
        assert_eq!(
            docs[0]["data"].as_str().expect("data").len(),
            CHUNK_DATA - 1
        );
        assert_eq!(joined(&docs, &text), text);
    }

    #[test]
    fn an_empty_file_is_one_empty_chunk() {
        let docs = parsed("");
        assert_eq!(docs.len(), 1);
        assert_eq!(joined(&docs, ""), "");
    }

    #[test]
    fn chunks_that_find_no_room_are_counted_as_lost_and_the_loss_is_reported() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut p = CapturePublisher::new(tx, "vehicle/V/captures".into());
        p.tries = 1;
        // Four chunks into a channel with room for two that nobody drains.
        let text = "z".repeat(3 * CHUNK_DATA + 1);
        let lost = p.offer_all(chunks(&capture(&text)));
        assert_eq!(lost.count, 2);
        assert_eq!(lost.reasons[&DropReason::LinkStalled], 2);
        let mut got = Vec::new();
        while let Ok(f) = rx.try_recv() {
            got.push(f);
        }
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(
            |f| matches!(f, Frame::Publish(m) if m.qos == 1 && m.topic == "vehicle/V/captures")
        ));
        // With room again, the report goes to the link (which publishes it
        // as `outbox.dropped`).
        assert!(p.hand_over(Frame::Lost(lost)).is_ok());
        assert!(matches!(rx.try_recv(), Ok(Frame::Lost(d)) if d.count == 2));
        // A closed link takes nothing and is not waited for.
        drop(rx);
        p.tries = u32::MAX;
        assert_eq!(p.offer_all(chunks(&capture("abc"))).count, 1);
    }

    #[test]
    fn a_rules_request_without_a_capturer_is_refused_keyed_capture_rules() {
        let e = request_rules(None, Vec::new(), Box::new(|_| {})).expect_err("refused");
        assert!(e["capture_rules"].contains("no capturer"), "{e:?}");
        let (tx, rx) = std_mpsc::channel();
        drop(rx);
        assert!(request_rules(Some(&tx), Vec::new(), Box::new(|_| {})).is_err());
    }
}
