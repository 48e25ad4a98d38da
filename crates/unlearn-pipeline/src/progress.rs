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

    /// A step that ran alongside others (a pool's worker) has finished. The ETA then comes
    /// from the wall time since the start over the work finished so far, which counts the
    /// workers running at once.
    pub fn finish_concurrent(&mut self, weight: f64) {
        self.done += weight;
        self.ran_weight += weight;
        self.ran_seconds = self.start.elapsed().as_secs_f64();
    }

    /// `42%, ETA 3m10s` of the work so far (`–` before a step has run).
    pub fn summary(&self) -> String {
        let frac = (self.done / self.total).clamp(0.0, 1.0);
        let eta = if self.ran_weight >= 1.0 {
            let rest = (self.total - self.done).max(0.0);
            clock(rest * self.ran_seconds / self.ran_weight)
        } else {
            "–".into()
        };
        format!("{:.0}%, ETA {eta}", frac * 100.0)
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

    #[test]
    fn a_pool_summary_scales_the_wall_time_by_the_work_left() {
        let mut p = super::Progress::new(10.0);
        assert_eq!(p.summary(), "0%, ETA –");
        p.skip(2.0);
        std::thread::sleep(std::time::Duration::from_millis(50));
        p.finish_concurrent(4.0);
        // 4 of the 8 units left ran in the wall time so far: 4 more take as long again.
        let wall = p.elapsed();
        assert!(p.summary().starts_with("60%, ETA "), "{}", p.summary());
        assert!((p.ran_seconds - wall).abs() < 0.01 && wall >= 0.05);
    }
}
