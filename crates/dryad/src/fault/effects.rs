//! The per-request faults: the middleware that adds latency, CPU work, leaked or cached memory
//! to the requests of one route, and counts requests for `crash:after-requests`.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{CrashAfter, Fault, Faults};

/// Page size the touched allocations write to (every page, so all of it is resident).
const PAGE: usize = 4096;

/// The memory the leak and the cache hold.
#[derive(Debug, Default)]
pub struct Memory {
    leaked: Mutex<Held>,
    cache: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    blocks: VecDeque<Box<[u8]>>,
    bytes: usize,
}

/// `n` bytes, every page written so that they count in the resident set.
fn touched(n: usize) -> Box<[u8]> {
    let mut block = vec![0u8; n].into_boxed_slice();
    for i in (0..n).step_by(PAGE) {
        block[i] = 1;
    }
    if let Some(last) = block.last_mut() {
        *last = 1;
    }
    block
}

impl Memory {
    /// Keeps `n` more bytes forever.
    pub fn leak(&self, n: usize) {
        let block = touched(n);
        let mut held = self.leaked.lock().unwrap_or_else(|e| e.into_inner());
        held.bytes += block.len();
        held.blocks.push_back(block);
    }

    /// Puts `n` bytes into the cache, evicting the oldest entries beyond `max` bytes. A full
    /// cache overwrites its oldest entry in place when it has the same size, as a slab cache
    /// does, so its resident memory stays put whatever the allocator does with freed blocks.
    pub fn cache(&self, n: usize, max: usize) {
        let mut held = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if held.bytes + n > max
            && let Some(mut oldest) = held.blocks.pop_front()
        {
            if oldest.len() == n {
                for i in (0..n).step_by(PAGE) {
                    oldest[i] = oldest[i].wrapping_add(1);
                }
                held.blocks.push_back(oldest);
                return;
            }
            held.bytes -= oldest.len();
        }
        let block = touched(n);
        held.bytes += block.len();
        held.blocks.push_back(block);
        while held.bytes > max {
            match held.blocks.pop_front() {
                Some(old) => held.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// Bytes (leaked, cached) now.
    pub fn held(&self) -> (usize, usize) {
        let bytes = |m: &Mutex<Held>| m.lock().unwrap_or_else(|e| e.into_inner()).bytes;
        (bytes(&self.leaked), bytes(&self.cache))
    }
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Burns `work` of this thread's CPU time (not wall time: on a busy machine it takes longer).
pub fn burn_cpu(work: Duration) {
    let start = thread_cpu_time();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    loop {
        for _ in 0..2_000 {
            // xorshift: work the optimiser cannot remove (the result is observed below).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        if thread_cpu_time().saturating_sub(start) >= work {
            break;
        }
    }
    std::hint::black_box(x);
}

/// The middleware the router gets when a per-request fault is planted.
pub async fn apply(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    if request.uri().path().starts_with("/api/") {
        let n = faults.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = faults.list.iter().find_map(|f| match f {
            Fault::Crash(CrashAfter::Requests(limit)) => Some(*limit),
            _ => None,
        });
        if limit.is_some_and(|limit| n >= limit) {
            super::crash(&format!("request {n} to /api/"));
        }
    }
    if let Some(route) = route {
        for f in faults
            .list
            .iter()
            .filter(|f| f.route() == Some(route.as_str()))
        {
            match f {
                Fault::Latency { delay, .. } => tokio::time::sleep(*delay).await,
                Fault::Cpu { work, .. } => burn_cpu(*work),
                Fault::Leak { bytes, .. } => faults.memory.leak(*bytes),
                Fault::Cache {
                    bytes, max_bytes, ..
                } => faults.memory.cache(*bytes, *max_bytes),
                Fault::MissingIndex | Fault::WriteLock { .. } | Fault::Crash(_) => {}
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_grows_and_cache_levels_off() {
        let m = Memory::default();
        for _ in 0..10 {
            m.leak(10_000);
            m.cache(10_000, 35_000);
        }
        assert_eq!(m.held(), (100_000, 30_000));
    }

    #[test]
    fn burns_cpu_time_not_wall_time() {
        let before = thread_cpu_time();
        burn_cpu(Duration::from_millis(30));
        let used = thread_cpu_time() - before;
        assert!(used >= Duration::from_millis(30), "{used:?}");
        assert!(used < Duration::from_millis(300), "{used:?}");
    }

    #[test]
    fn touched_memory_is_written() {
        let b = touched(3 * PAGE + 5);
        assert_eq!(b.len(), 3 * PAGE + 5);
        assert!(b.iter().step_by(PAGE).all(|&v| v == 1));
        assert_eq!(b.last(), Some(&1));
    }
}
