//! The overall progress line of a study: a bar over all planned steps (weighted by their
//! usual cost), elapsed time and an ETA from the steps actually run (skipped ones cost
//! nothing). The current step's own bars are the engine's.

use std::time::Instant;

/// Progress over a plan's steps.
#[derive(Debug)]
pub struct Progress {
    total: f64,
    done: f64,
    ran_weight: f64,
    ran_seconds: f64,
    start: Instant,
    step_start: Instant,
    step_weight: f64,
}

impl Progress {
    /// Progress over steps whose costs add up to `total`.
    pub fn new(total: f64) -> Self {
        Progress {
            total: total.max(f64::MIN_POSITIVE),
            done: 0.0,
            ran_weight: 0.0,
            ran_seconds: 0.0,
            start: Instant::now(),
            step_start: Instant::now(),
            step_weight: 0.0,
        }
    }

    /// A step that was already done.
    pub fn skip(&mut self, weight: f64) {
        self.done += weight;
    }

    /// A step about to run: prints the overall line on stderr.
    pub fn begin(&mut self, weight: f64, what: &str) {
        self.step_start = Instant::now();
        self.step_weight = weight;
        let frac = (self.done / self.total).clamp(0.0, 1.0);
        let width = 24;
        let filled = (frac * width as f64).round() as usize;
        let eta = if self.ran_weight >= 1.0 {
            let rest = (self.total - self.done).max(0.0);
            clock(rest * self.ran_seconds / self.ran_weight)
        } else {
            "–".into()
        };
        eprintln!(
            "[{}{}] {:>3.0}%  {} elapsed, ETA {}  {what}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            frac * 100.0,
            clock(self.start.elapsed().as_secs_f64()),
            eta
        );
    }

    /// The step begun last has finished.
    pub fn end(&mut self) {
        self.done += self.step_weight;
        self.ran_weight += self.step_weight;
        self.ran_seconds += self.step_start.elapsed().as_secs_f64();
        self.step_weight = 0.0;
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// `1m05s`, `2h03m`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_reads_minutes_and_hours() {
        assert_eq!(super::clock(65.4), "1m05s");
        assert_eq!(super::clock(7380.0), "2h03m");
        assert_eq!(super::clock(-3.0), "0m00s");
    }
}
