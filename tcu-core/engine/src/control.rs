//! The control path: the one way the outside world changes a running
//! vehicle. MQTT commands, dashboard keys and scenario steps all become a
//! [`ControlMsg`] sent through a [`ControlHandle`]; the tick loop applies
//! pending messages between two ticks through [`ControlInbox`], so a change
//! reaches the plugins on the next tick and never races one.
//!
//! A `Set` is all or nothing (see [`Bus::set_actuators`]); its outcome goes
//! back through the message's reply callback, which runs on the tick thread
//! and must only hand the result on (send it to a channel), never block.

use crate::bus::SetErrors;
use crate::catalog::Value;
use crate::sim::{TickHook, Vehicle};
use crate::swap::{PreparedSwap, SwapError, SwapOutcome};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::mpsc;

#[cfg(doc)]
use crate::bus::Bus;

pub use crate::reply::Reply;

/// A change requested by the outside world.
pub enum ControlMsg {
    /// Set actuators, all or nothing.
    Set {
        /// Paths and values.
        set: Vec<(String, Value)>,
        /// Receives `Ok` or the reason for each refused path.
        reply: Option<Reply<Result<(), SetErrors>>>,
    },
    /// Run a plugin's named command (`reset`, `set_soc`, ...).
    PluginCommand {
        /// Subsystem name.
        subsystem: String,
        /// Command name.
        name: String,
        /// Its argument.
        value: f64,
        /// Receives `Ok` or what went wrong.
        reply: Option<Reply<Result<(), String>>>,
    },
    /// Hot-swap subsystem libraries (prepared off the tick thread with
    /// [`crate::swap::prepare`]; a preparation error is passed on so that it
    /// is reported like any other rejection).
    Swap {
        /// The prepared transaction.
        prepared: Result<PreparedSwap, SwapError>,
        /// Receives the final outcome, after probation.
        reply: Option<Reply<SwapOutcome>>,
    },
}

impl fmt::Debug for ControlMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Set { set, .. } => f.debug_struct("Set").field("set", set).finish(),
            Self::PluginCommand {
                subsystem,
                name,
                value,
                ..
            } => f
                .debug_struct("PluginCommand")
                .field("subsystem", subsystem)
                .field("name", name)
                .field("value", value)
                .finish(),
            Self::Swap { prepared, .. } => {
                f.debug_struct("Swap").field("prepared", prepared).finish()
            }
        }
    }
}

/// Inboxes that share one count of messages sent and not yet taken.
///
/// A fleet worker asks every vehicle's inbox before every tick, and almost
/// always nothing is there. Each inbox's own flag lives in an allocation of
/// its own, so looking at it costs a cache miss per tick once thousands of
/// vehicles are stepped in turn; the group's count is one cache line that
/// every look shares and only a send or a take writes, so while it is zero
/// no inbox looks any further. [`channel`] makes a group of one.
#[derive(Debug, Clone, Default)]
pub struct InboxGroup {
    /// Sends minus takes across the group. A take can be counted before
    /// the send's increment lands, so it may be briefly negative.
    unread: Arc<AtomicIsize>,
}

impl InboxGroup {
    /// Messages sent to the group's inboxes and not yet taken (briefly off
    /// by the sends and takes in flight).
    pub fn unread(&self) -> isize {
        self.unread.load(Ordering::Acquire)
    }
}

/// The sending side; cheap to clone, one per producer.
#[derive(Debug, Clone)]
pub struct ControlHandle {
    tx: mpsc::Sender<ControlMsg>,
    /// Set after each send: the inbox looks at the channel only then.
    pending: Arc<AtomicBool>,
    group: InboxGroup,
}

/// The vehicle has stopped: nobody applies control messages any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the vehicle is not running")]
pub struct Stopped;

impl ControlHandle {
    /// Queues a message for the next tick boundary.
    pub fn send(&self, msg: ControlMsg) -> Result<(), Stopped> {
        self.tx.send(msg).map_err(|_| Stopped)?;
        // After the send: an inbox that sees the flag finds the message.
        self.pending.store(true, Ordering::Release);
        self.group.unread.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Queues an all-or-nothing write without waiting for its outcome.
    pub fn set(&self, set: Vec<(String, Value)>) -> Result<(), Stopped> {
        self.send(ControlMsg::Set { set, reply: None })
    }
}

/// The receiving side, owned by the tick loop.
#[derive(Debug)]
pub struct ControlInbox {
    rx: mpsc::Receiver<ControlMsg>,
    /// Whether anything was sent since the last look: a fleet worker asks
    /// every vehicle's inbox before every tick, and almost always nothing
    /// is there; one atomic load is cheaper than the channel's `try_recv`.
    pending: Arc<AtomicBool>,
    group: InboxGroup,
}

/// A connected handle and inbox, a group of their own.
pub fn channel() -> (ControlHandle, ControlInbox) {
    channel_in(&InboxGroup::default())
}

/// A connected handle and inbox, counted in `group` (a fleet's vehicles
/// share one).
pub fn channel_in(group: &InboxGroup) -> (ControlHandle, ControlInbox) {
    let (tx, rx) = mpsc::channel();
    let pending = Arc::new(AtomicBool::new(false));
    (
        ControlHandle {
            tx,
            pending: pending.clone(),
            group: group.clone(),
        },
        ControlInbox {
            rx,
            pending,
            group: group.clone(),
        },
    )
}

impl ControlInbox {
    /// Applies every pending message to `vehicle`; returns how many.
    pub fn apply_pending(&mut self, vehicle: &mut Vehicle) -> usize {
        // The common case is one plain load of the group's count, then
        // of the inbox's flag. The swap clears the flag before draining and
        // synchronises with the send that set it; a message sent during the
        // drain sets it again and is taken at the next look at the latest.
        if self.group.unread.load(Ordering::Relaxed) == 0
            || !self.pending.load(Ordering::Relaxed)
            || !self.pending.swap(false, Ordering::Acquire)
        {
            return 0;
        }
        let mut n = 0;
        while let Ok(msg) = self.rx.try_recv() {
            apply(vehicle, msg);
            n += 1;
        }
        self.taken(n);
        n
    }

    fn taken(&self, n: usize) {
        if n > 0 {
            let n = isize::try_from(n).unwrap_or(isize::MAX);
            self.group.unread.fetch_sub(n, Ordering::Release);
        }
    }
}

impl Drop for ControlInbox {
    /// What nobody will take leaves the group's count, so that the other
    /// inboxes go back to one shared load per look.
    fn drop(&mut self) {
        let mut n = 0;
        while self.rx.try_recv().is_ok() {
            n += 1;
        }
        self.taken(n);
    }
}

impl TickHook for ControlInbox {
    fn before_tick(&mut self, vehicle: &mut Vehicle) {
        self.apply_pending(vehicle);
    }
}

/// Applies one message now.
pub fn apply(vehicle: &mut Vehicle, msg: ControlMsg) {
    match msg {
        ControlMsg::Set { set, reply } => {
            let result = vehicle.bus_mut().set_actuators(&set);
            if let Err(errors) = &result {
                tracing::debug!(?errors, "control write refused");
            }
            if let Some(reply) = reply {
                reply(result);
            }
        }
        ControlMsg::PluginCommand {
            subsystem,
            name,
            value,
            reply,
        } => {
            let result = match vehicle
                .plugins_mut()
                .iter_mut()
                .find(|p| p.name() == subsystem)
            {
                None => Err(format!("no subsystem `{subsystem}` is loaded")),
                Some(p) => p.command(&name, value).map_err(|e| e.to_string()),
            };
            if let Some(reply) = reply {
                reply(result);
            }
        }
        ControlMsg::Swap { prepared, reply } => vehicle.request_swap(prepared, reply),
    }
}
