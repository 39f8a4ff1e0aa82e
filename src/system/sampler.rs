//! Background sampling of device memory (seed 003's memory monitor, issue 12): one thread per
//! system with a GPU calls a probe (`cuMemGetInfo`) every `monitoring_interval_ms` and keeps the
//! latest (free, total) bytes and the peak use seen, so that the residency manager's adaptive
//! pressure mode and the statistics read a fresh sample without calling the driver on the
//! engine's thread. The thread sleeps on a condition variable and stops (joined) when the
//! [`Sampler`] drops.
//!
//! Thread safety: [`Sampler`] is `Send + Sync`; [`Sampler::latest`] takes one short lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A probe: free and total bytes of device memory, or `None` when the query fails.
pub(crate) type Probe = Box<dyn Fn() -> Option<(u64, u64)> + Send>;

struct Shared {
    /// The latest sample and when it was taken.
    latest: Mutex<Option<(Instant, (u64, u64))>>,
    /// Set when the sampler drops; the thread exits at its next wake-up.
    stop: Mutex<bool>,
    wake: Condvar,
    /// Samples taken (for the statistics and tests).
    samples: AtomicU64,
    /// Most device bytes in use (total - free) over all samples.
    peak_used: AtomicU64,
}

/// The background sampler of one system (see the module docs).
pub(crate) struct Sampler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    interval: Duration,
}

impl Sampler {
    /// Start a thread that calls `probe` now and then every `interval` (at least 1 ms) until
    /// the sampler drops. Errors: `Io` when the thread cannot be spawned.
    pub(crate) fn start(interval: Duration, probe: Probe) -> crate::Result<Sampler> {
        let interval = interval.max(Duration::from_millis(1));
        let shared = Arc::new(Shared {
            latest: Mutex::new(None),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            samples: AtomicU64::new(0),
            peak_used: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("saraphis-monitor".into())
            .spawn(move || loop {
                if let Some(v) = probe() {
                    *s.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), v));
                    s.samples.fetch_add(1, Ordering::Relaxed);
                    s.peak_used
                        .fetch_max(v.1.saturating_sub(v.0), Ordering::Relaxed);
                }
                let stop = s.stop.lock().unwrap_or_else(|p| p.into_inner());
                let (stop, _) = s
                    .wake
                    .wait_timeout_while(stop, interval, |stop| !*stop)
                    .unwrap_or_else(|p| p.into_inner());
                if *stop {
                    return;
                }
            })
            .map_err(crate::Error::Io)?;
        Ok(Sampler {
            shared,
            thread: Some(thread),
            interval,
        })
    }

    /// The latest sample, if one was taken within the last [`Sampler::max_age`] (a stalled
    /// probe is not reported as current): (free, total) bytes.
    pub(crate) fn latest(&self) -> Option<(u64, u64)> {
        let s = *self.shared.latest.lock().unwrap_or_else(|p| p.into_inner());
        s.filter(|(at, _)| at.elapsed() <= self.max_age())
            .map(|(_, v)| v)
    }

    /// How old a sample may be and still count as current: three intervals plus 50 ms of
    /// scheduling slack.
    fn max_age(&self) -> Duration {
        3 * self.interval + Duration::from_millis(50)
    }

    /// Samples taken so far.
    pub(crate) fn samples(&self) -> u64 {
        self.shared.samples.load(Ordering::Relaxed)
    }

    /// Most device bytes in use over all samples.
    pub(crate) fn peak_used(&self) -> u64 {
        self.shared.peak_used.load(Ordering::Relaxed)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_periodically_and_stops_when_dropped() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        // A fake device whose use grows by 1 MiB per sample, from 8 GiB free of 16.
        let s = Sampler::start(
            Duration::from_millis(10),
            Box::new(move || {
                let k = c.fetch_add(1, Ordering::SeqCst);
                Some(((8 << 30) - (k << 20), 16 << 30))
            }),
        )
        .unwrap();
        let t0 = Instant::now();
        while s.samples() < 5 {
            assert!(t0.elapsed() < Duration::from_secs(10), "no samples");
            std::thread::sleep(Duration::from_millis(1));
        }
        let (free, total) = s.latest().unwrap();
        assert_eq!(total, 16 << 30);
        assert!(free < 8 << 30, "the latest sample, not the first");
        assert!(s.peak_used() >= total - free);
        drop(s);
        // Joined: no call after the drop.
        let after = calls.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(calls.load(Ordering::SeqCst), after);
    }

    #[test]
    fn a_failing_probe_gives_no_sample_and_a_stale_one_expires() {
        let s = Sampler::start(Duration::from_millis(2), Box::new(|| None)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(s.latest(), None);
        assert_eq!(s.samples(), 0);
        // One sample, then the probe stalls: the sample expires after two intervals.
        let once = Arc::new(AtomicU64::new(0));
        let o = once.clone();
        let s = Sampler::start(
            Duration::from_millis(100),
            Box::new(move || (o.fetch_add(1, Ordering::SeqCst) == 0).then_some((1, 2))),
        )
        .unwrap();
        let t0 = Instant::now();
        while s.samples() < 1 {
            assert!(t0.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            s.latest(),
            Some((1, 2)),
            "current within 350 ms of being taken"
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(s.latest(), None, "a stale sample is not current");
    }
}
