//! Execution order of plugins within a tick: writers before readers.
//!
//! A plugin that reads a signal another plugin writes runs after it, so it
//! sees this tick's value. Where declarations form a cycle, the remaining
//! plugins keep their load order and the reader sees the previous tick's
//! value; the cycle is reported so it can be logged.

use crate::catalog::SignalId;
use std::collections::HashSet;

/// What ordering needs to know about one plugin.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// Subsystem name.
    pub name: &'a str,
    /// Signals read.
    pub reads: &'a [SignalId],
    /// Signals written.
    pub writes: &'a [SignalId],
}

/// Returns indices into `nodes` in execution order, and the names of plugins
/// caught in a dependency cycle (empty when there is none).
pub fn execution_order(nodes: &[Node<'_>]) -> (Vec<usize>, Vec<String>) {
    let n = nodes.len();
    // deps[i] = plugins whose outputs i reads.
    let deps: Vec<HashSet<usize>> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            (0..n)
                .filter(|&j| j != i && nodes[j].writes.iter().any(|w| node.reads.contains(w)))
                .collect()
        })
        .collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut cycle = Vec::new();
    while order.len() < n {
        // Lowest index whose dependencies have all run: stable and reproducible.
        let ready = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]));
        let next = match ready {
            Some(i) => i,
            None => {
                let i = (0..n).find(|&i| !done[i]).unwrap_or(0);
                cycle.push(nodes[i].name.to_owned());
                i
            }
        };
        done[next] = true;
        order.push(next);
    }
    (order, cycle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[u32]) -> Vec<SignalId> {
        ids.iter().map(|i| SignalId(*i)).collect()
    }

    #[test]
    fn writers_run_before_their_readers() {
        let (r0, w0) = (s(&[1]), s(&[2]));
        let (r1, w1) = (s(&[]), s(&[1]));
        let (r2, w2) = (s(&[2, 1]), s(&[3]));
        let nodes = [
            Node {
                name: "battery",
                reads: &r0,
                writes: &w0,
            },
            Node {
                name: "engine",
                reads: &r1,
                writes: &w1,
            },
            Node {
                name: "dash",
                reads: &r2,
                writes: &w2,
            },
        ];
        let (order, cycle) = execution_order(&nodes);
        assert_eq!(order, vec![1, 0, 2]);
        assert!(cycle.is_empty());
    }

    #[test]
    fn a_cycle_keeps_load_order_and_is_reported() {
        let (r0, w0) = (s(&[2]), s(&[1]));
        let (r1, w1) = (s(&[1]), s(&[2]));
        let nodes = [
            Node {
                name: "a",
                reads: &r0,
                writes: &w0,
            },
            Node {
                name: "b",
                reads: &r1,
                writes: &w1,
            },
        ];
        let (order, cycle) = execution_order(&nodes);
        assert_eq!(order, vec![0, 1]);
        assert_eq!(cycle, vec!["a".to_owned()]);
    }
}
