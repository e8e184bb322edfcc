//! Host-side fault injection: make a named plugin's tick count as an error
//! for a number of ticks or until cleared, without touching the library.
//!
//! An injected error is handled exactly like a real one: the plugin is not
//! run that tick (its outputs keep their previous values), the vehicle's
//! fault counter goes up and a `fault` event names the plugin. Scenarios use
//! it to check how the rest of the car and the back end cope.

use super::Vehicle;

/// Plugins whose ticks are currently forced to fail.
#[derive(Debug, Clone, Default)]
pub struct InjectedErrors {
    /// Subsystem name and ticks left (`None`: until cleared).
    entries: Vec<(String, Option<u64>)>,
}

impl InjectedErrors {
    /// True when nothing is injected (the fast path of every tick).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Consumes one tick of injection for `name`; true if this tick fails.
    pub fn take(&mut self, name: &str) -> bool {
        let Some(i) = self.entries.iter().position(|(n, _)| n == name) else {
            return false;
        };
        match &mut self.entries[i].1 {
            None => true,
            Some(left) => {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.entries.swap_remove(i);
                }
                true
            }
        }
    }
}

impl Vehicle {
    /// Makes the next `ticks` ticks of plugin `subsystem` fail (`None`:
    /// until [`Vehicle::clear_plugin_errors`]). Replaces an earlier
    /// injection for the same plugin.
    pub fn inject_plugin_errors(
        &mut self,
        subsystem: &str,
        ticks: Option<u64>,
    ) -> Result<(), String> {
        if !self.plugins.iter().any(|p| p.name() == subsystem) {
            return Err(format!("no subsystem `{subsystem}` is loaded"));
        }
        if ticks == Some(0) {
            return Err("an injection of 0 ticks does nothing".to_owned());
        }
        self.clear_plugin_errors(subsystem);
        self.injected.entries.push((subsystem.to_owned(), ticks));
        Ok(())
    }

    /// Ends an injection for `subsystem`; true if one was active.
    pub fn clear_plugin_errors(&mut self, subsystem: &str) -> bool {
        let before = self.injected.entries.len();
        self.injected.entries.retain(|(n, _)| n != subsystem);
        before != self.injected.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_injection_runs_out_and_an_open_one_does_not() {
        let mut f = InjectedErrors::default();
        f.entries.push(("abs".into(), Some(2)));
        f.entries.push(("hvac".into(), None));
        assert!(f.take("abs") && f.take("abs") && !f.take("abs"));
        assert!((0..10).all(|_| f.take("hvac")));
        assert!(!f.take("battery"));
    }
}
