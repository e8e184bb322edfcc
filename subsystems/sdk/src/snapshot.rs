//! The JSON form of the state a plugin hands over in a hot swap.
//!
//! Every subsystem of this workspace writes its `snapshot` as the JSON of its
//! state struct and reads it back in `restore`; the two halves live here so
//! they cannot drift apart. What a restored state must satisfy (finite
//! values, ranges) stays with each plugin: only the encoding is shared.

use crate::PluginError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `state` for [`Subsystem::snapshot`](crate::Subsystem::snapshot).
///
/// A state of plain numbers, options and enums always serialises. Should one
/// ever fail, the snapshot is empty, which [`decode`] refuses: the safe
/// outcome, rather than restoring a made-up state.
pub fn encode<S: Serialize>(state: &S) -> Vec<u8> {
    serde_json::to_vec(state).unwrap_or_default()
}

/// Decodes a snapshot written by [`encode`].
///
/// `context` opens the error message, which reads `{context}: {reason}`; a
/// plugin passes its name and what failed, e.g. `battery: unreadable
/// snapshot`.
pub fn decode<S: DeserializeOwned>(context: &str, bytes: &[u8]) -> Result<S, PluginError> {
    serde_json::from_slice(bytes).map_err(|e| PluginError(format!("{context}: {e}")))
}

/// Decodes a snapshot written by [`encode`] (errors as [`decode`] gives
/// them), checks it with `check` (the plugin's own rules: finite values,
/// ranges) and only then replaces `state` with it: a refused snapshot
/// leaves the running state as it was.
pub fn restore<S: DeserializeOwned>(
    state: &mut S,
    context: &str,
    bytes: &[u8],
    check: impl FnOnce(&S) -> Result<(), PluginError>,
) -> Result<(), PluginError> {
    let restored: S = decode(context, bytes)?;
    check(&restored)?;
    *state = restored;
    Ok(())
}

/// For a [`restore`] check: `Ok` when `ok`, else the error `message`.
pub fn require(ok: bool, message: &str) -> Result<(), PluginError> {
    if ok {
        Ok(())
    } else {
        Err(PluginError(message.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        energy: f64,
        temperature: Option<f64>,
    }

    #[test]
    fn a_state_survives_encode_and_decode_bit_for_bit() {
        let state = State {
            energy: 0.1 + 0.2,
            temperature: Some(-1e-300),
        };
        let back: State = decode("x", &encode(&state)).expect("decode");
        assert_eq!(back, state);
    }

    #[test]
    fn decode_errors_open_with_the_context() {
        for bad in [&b""[..], b"\xff", b"{}", br#"{"energy":"hot"}"#] {
            let err = decode::<State>("battery: unreadable snapshot", bad).expect_err("bad");
            assert!(err.0.starts_with("battery: unreadable snapshot: "), "{err}");
        }
    }

    #[test]
    fn a_refused_snapshot_leaves_the_state_as_it_was() {
        let mut state = State {
            energy: 1.0,
            temperature: None,
        };
        let positive = |s: &State| require(s.energy > 0.0, "energy must be positive");
        let err = restore(
            &mut state,
            "t",
            br#"{"energy":-1.0,"temperature":null}"#,
            positive,
        )
        .expect_err("refused by the check");
        assert_eq!(err.0, "energy must be positive");
        let err = restore(&mut state, "t: unreadable", b"{", positive).expect_err("not JSON");
        assert!(err.0.starts_with("t: unreadable: "), "{err}");
        assert_eq!(state.energy, 1.0, "unchanged after both refusals");
        restore(
            &mut state,
            "t",
            br#"{"energy":2.0,"temperature":3.0}"#,
            positive,
        )
        .expect("taken");
        assert_eq!(
            state,
            State {
                energy: 2.0,
                temperature: Some(3.0)
            }
        );
    }
}
