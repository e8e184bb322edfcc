//! Diagnostic trouble codes: how a plugin raises and clears SAE J2012-style
//! codes (`P0A7E`, `C0035`, `B0001`, `U0100`: a letter and four hex digits).
//!
//! The bus and the ABI carry numbers only, so a code never crosses the
//! boundary as text. Each plugin writes one `uint32` overlay sensor,
//! `Sim.Diagnostics.<Subsystem>.ActiveFaults`, holding its active faults as
//! a bit mask; `catalog/dtc.tsv` of this crate names, for every bit, the
//! fault, its code, its description and what it does to the car. The host
//! reads the same file and turns mask edges into `dtc.raised` /
//! `dtc.cleared` events, `Vehicle.Diagnostics.DTCCount` and the telemetry's
//! `Vehicle.Diagnostics.DTCList`. A mask keeps the tick allocation-free,
//! holds several faults at once, and survives a hot swap in the plugin's
//! snapshot like any other state.
//!
//! A plugin keeps an [`ActiveFaults`] in its state, lists its fault names in
//! bit order, and lets [`ActiveFaults::command`] handle `fault.<name>`
//! (value 1 injects, 0 heals); its tests check the list against the file
//! with [`crate::testing::assert_faults_in_catalog`].

use crate::{CommandError, PluginError};

/// Prefix of the command that injects or heals a fault.
pub const COMMAND_PREFIX: &str = "fault.";

/// The active faults of one plugin: bit `n` is its `n`-th fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "snapshot",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct ActiveFaults(pub u32);

impl ActiveFaults {
    /// Whether fault `bit` is active.
    pub fn is_active(self, bit: usize) -> bool {
        bit < 32 && self.0 & (1 << bit) != 0
    }

    /// Whether any fault is active.
    pub fn any(self) -> bool {
        self.0 != 0
    }

    /// Injects (`on`) or heals fault `bit`.
    pub fn set(&mut self, bit: usize, on: bool) {
        if bit < 32 {
            if on {
                self.0 |= 1 << bit;
            } else {
                self.0 &= !(1 << bit);
            }
        }
    }

    /// The slot value of the `ActiveFaults` signal.
    pub fn slot(self) -> f64 {
        f64::from(self.0)
    }

    /// Handles `fault.<name>` for the faults `names` (in bit order): value 1
    /// injects, 0 heals. `None` when `command` is not one of them, so the
    /// plugin goes on with its other commands.
    pub fn command(
        &mut self,
        names: &[&str],
        command: &str,
        value: f64,
    ) -> Option<Result<(), CommandError>> {
        let name = command.strip_prefix(COMMAND_PREFIX)?;
        let bit = names.iter().position(|n| *n == name)?;
        Some(if value == 0.0 || value == 1.0 {
            self.set(bit, value == 1.0);
            Ok(())
        } else {
            Err(CommandError::Failed(PluginError(format!(
                "{command} needs 1 (inject) or 0 (heal), got {value}"
            ))))
        })
    }

    /// [`ActiveFaults::command`] for a plugin whose only commands are its
    /// faults: any other command is [`CommandError::Unsupported`].
    pub fn only_command(
        &mut self,
        names: &[&str],
        command: &str,
        value: f64,
    ) -> Result<(), CommandError> {
        self.command(names, command, value)
            .unwrap_or_else(|| Err(CommandError::Unsupported(command.to_owned())))
    }
}

/// Whether `code` is SAE J2012-shaped: `P`, `C`, `B` or `U` and four
/// upper-case hex digits.
pub fn is_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && matches!(b[0], b'P' | b'C' | b'B' | b'U')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["a", "b"];

    #[test]
    fn a_fault_command_injects_and_heals_its_bit_only() {
        let mut f = ActiveFaults::default();
        assert_eq!(f.command(&NAMES, "fault.b", 1.0), Some(Ok(())));
        assert_eq!(f, ActiveFaults(2));
        assert!(f.is_active(1) && !f.is_active(0) && f.any());
        assert_eq!(f.command(&NAMES, "fault.a", 1.0), Some(Ok(())));
        assert_eq!(f.command(&NAMES, "fault.b", 0.0), Some(Ok(())));
        assert_eq!(f.slot(), 1.0);
    }

    #[test]
    fn only_fault_commands_refuse_any_other_as_unsupported() {
        let mut f = ActiveFaults::default();
        assert_eq!(f.only_command(&NAMES, "fault.a", 1.0), Ok(()));
        assert_eq!(f, ActiveFaults(1));
        assert_eq!(
            f.only_command(&NAMES, "reset", 1.0),
            Err(CommandError::Unsupported("reset".to_owned()))
        );
        assert!(matches!(
            f.only_command(&NAMES, "fault.b", 0.5),
            Err(CommandError::Failed(_))
        ));
        assert_eq!(f, ActiveFaults(1), "refused commands change nothing");
    }

    #[test]
    fn other_commands_pass_and_bad_values_are_refused() {
        let mut f = ActiveFaults::default();
        assert_eq!(f.command(&NAMES, "reset", 1.0), None);
        assert_eq!(f.command(&NAMES, "fault.c", 1.0), None);
        for v in [0.5, 2.0, f64::NAN] {
            assert!(matches!(
                f.command(&NAMES, "fault.a", v),
                Some(Err(CommandError::Failed(_)))
            ));
        }
        assert_eq!(f, ActiveFaults(0));
    }

    #[test]
    fn codes_are_a_letter_and_four_hex_digits() {
        for ok in ["P0A7E", "C0035", "B0001", "U0100"] {
            assert!(is_code(ok), "{ok}");
        }
        for bad in ["", "X0001", "P001", "P00011", "p0a7e", "P0G00"] {
            assert!(!is_code(bad), "{bad}");
        }
    }
}
