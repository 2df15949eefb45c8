//! What every workload shares: the run's clock, the phase operations are
//! attributed to, and the stop flag.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use synod_check::Operation;

/// Shared by the harness and every client task.
#[derive(Clone)]
pub struct Ctx {
    epoch: Instant,
    phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx::new()
    }
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx {
            epoch: Instant::now(),
            phase: Arc::default(),
            stop: Arc::default(),
        }
    }

    /// Nanoseconds since the run began (the time of every history).
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The phase now: each phase works on its own keys and znodes, so its
    /// history is checked on its own.
    pub fn phase(&self) -> usize {
        self.phase.load(Ordering::SeqCst)
    }

    pub fn set_phase(&self, phase: usize) {
        self.phase.store(phase, Ordering::SeqCst);
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One recorded operation, tagged with the phase it was called in.
#[derive(Clone, Debug)]
pub struct Tagged<T> {
    pub phase: usize,
    pub op: T,
}

/// A workload's history, shared by its clients.
pub type History<I, O> = Arc<Mutex<Vec<Tagged<Operation<I, O>>>>>;

/// Records one operation called at `call` in `phase`; it returned now if
/// it has an `output`, and is pending otherwise.
pub fn record<I, O>(
    history: &History<I, O>,
    ctx: &Ctx,
    phase: usize,
    client: u64,
    (input, call, output): (I, u64, Option<O>),
) {
    let ret = output.as_ref().map(|_| ctx.now());
    history.lock().expect("history lock").push(Tagged {
        phase,
        op: Operation {
            client,
            input,
            call,
            output,
            ret,
        },
    });
}

/// Counts of one workload in one phase.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Operations with a definite outcome.
    pub ok: u64,
    /// Operations whose outcome is unknown (timed out, connection lost):
    /// kept in the history as pending.
    pub unknown: u64,
    /// Operations that definitely failed (refused before taking effect).
    pub failed: u64,
    /// Definite outcomes of operations called after the fault was healed:
    /// the cluster serves again.
    pub ok_after_heal: u64,
}
