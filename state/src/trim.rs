//! Handing freed memory back to the operating system.
//!
//! glibc's allocator keeps memory that was freed in its per-thread arenas
//! for reuse, and gives it back only from the top of a heap. RocksDB's block
//! cache reads and evicts blocks all the time, and the holes it leaves are
//! rarely at the top: in the 10M-key benchmark the process held about
//! 300 MiB more than it used (a heap profile showed 363 MiB live, 671 MiB
//! resident). While a [`RocksState`](crate::RocksState) is open, a
//! housekeeping thread calls `malloc_trim` every second, which returns the
//! free pages of every arena; it takes a few milliseconds.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often freed memory is handed back.
const PERIOD: Duration = Duration::from_secs(1);

/// The housekeeping thread; stopped when dropped.
#[derive(Debug)]
pub(crate) struct Trimmer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Trimmer {
    /// Starts trimming, where the allocator is glibc's; elsewhere a no-op.
    pub(crate) fn start() -> Self {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return Trimmer {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tributary-trim".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(PERIOD) {
                    release_free_memory();
                }
            })
            .ok();
        Trimmer {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers and may be called at any time
    // from any thread; it locks each arena while it trims it.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_trimmer_stops_its_thread_at_once() {
        let trimmer = Trimmer::start();
        std::thread::sleep(Duration::from_millis(20));
        let t = std::time::Instant::now();
        drop(trimmer);
        assert!(t.elapsed() < PERIOD / 2, "drop waited {:?}", t.elapsed());
    }
}
