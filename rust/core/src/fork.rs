//! A gate that lets a process `fork()` only between storage operations.
//!
//! `fork()` copies memory, locks included, but only the forking thread: a lock another thread
//! held (or waited for) at that instant stays held in the child forever. Callers that wait for
//! a [`crate::Registry`]'s storage lock without holding anything else run through
//! [`ForkGate::run`]; a fork hook calls [`ForkGate::close`] first, which waits until no such
//! section runs and holds new ones back, and [`ForkGate::open`] in the parent and the child
//! after the fork. The child thus starts with every storage lock free and no thread queued on
//! one.
//!
//! Callers that hold the storage lock while they cannot be interrupted by the fork (in Python:
//! code holding the interpreter, which the forking thread holds) need no gate.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How long a section held back by a closed gate sleeps before it looks again.
const BACKOFF: Duration = Duration::from_micros(50);

/// See the [module docs](self).
#[derive(Debug, Default)]
pub struct ForkGate {
    closed: AtomicBool,
    active: AtomicUsize,
}

thread_local! {
    /// Whether this thread closed a gate and has not opened it again: it runs sections
    /// directly (a fork hook that queries must not wait for itself).
    static CLOSER: Cell<bool> = const { Cell::new(false) };
}

/// Counts a running section; dropping it (also on unwinding) ends the section.
struct Section<'a>(&'a AtomicUsize);

impl Drop for Section<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ForkGate {
    /// An open gate.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            closed: AtomicBool::new(false),
            active: AtomicUsize::new(0),
        }
    }

    /// Runs `section`, first waiting while the gate is closed (unless this thread closed it).
    pub fn run<T>(&self, section: impl FnOnce() -> T) -> T {
        if CLOSER.with(Cell::get) {
            return section();
        }
        loop {
            while self.closed.load(Ordering::SeqCst) {
                std::thread::sleep(BACKOFF);
            }
            self.active.fetch_add(1, Ordering::SeqCst);
            let entered = Section(&self.active);
            if !self.closed.load(Ordering::SeqCst) {
                let out = section();
                drop(entered);
                return out;
            }
            // Closed between the check and the count: step back out and wait.
            drop(entered);
        }
    }

    /// Closes the gate and returns once no section runs. Sections started later wait in
    /// [`ForkGate::run`] until [`ForkGate::open`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        CLOSER.with(|closer| closer.set(true));
        while self.active.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    }

    /// Opens the gate again (a no-op when it is open).
    pub fn open(&self) {
        CLOSER.with(|closer| closer.set(false));
        self.closed.store(false, Ordering::SeqCst);
    }

    /// Whether the gate is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn sections_run_while_open() {
        let gate = ForkGate::new();
        assert_eq!(gate.run(|| 7), 7);
        assert!(!gate.is_closed());
    }

    #[test]
    fn close_waits_for_running_sections() -> Result<(), Box<dyn std::error::Error>> {
        let gate = Arc::new(ForkGate::new());
        let (started, wait_started) = mpsc::channel();
        let worker = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || {
                gate.run(|| {
                    let _ = started.send(());
                    std::thread::sleep(Duration::from_millis(100));
                });
            })
        };
        wait_started.recv()?;
        let began = Instant::now();
        gate.close();
        assert!(began.elapsed() >= Duration::from_millis(50));
        gate.open();
        worker.join().map_err(|_| "worker panicked")?;
        Ok(())
    }

    #[test]
    fn sections_wait_while_closed_except_for_the_closer() -> Result<(), Box<dyn std::error::Error>>
    {
        let gate = Arc::new(ForkGate::new());
        gate.close();
        assert_eq!(
            gate.run(|| 1),
            1,
            "the closing thread runs its own sections"
        );
        let (done, wait_done) = mpsc::channel();
        let worker = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || {
                gate.run(|| ());
                let _ = done.send(());
            })
        };
        assert!(wait_done.recv_timeout(Duration::from_millis(100)).is_err());
        gate.open();
        wait_done.recv_timeout(Duration::from_secs(10))?;
        worker.join().map_err(|_| "worker panicked")?;
        Ok(())
    }
}
