//! How an outcome travels back to whoever asked for a change: a callback
//! run once on the tick thread, which must only hand the result on (send
//! it to a channel), never block.

/// Called with a message's outcome, on the tick thread.
pub type Reply<T> = Box<dyn FnOnce(T) + Send>;
