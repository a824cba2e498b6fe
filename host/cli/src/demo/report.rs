//! What the demo measured, phase by phase, and what it checked.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use azimuth_client::{ClientStats, Tier};

/// One phase of the demo.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    /// What happened in it.
    pub name: String,
    /// How long it ran, s.
    pub seconds: f64,
    /// Reads served, all sources.
    pub reads: u64,
    /// Reads that failed.
    pub failed: u64,
    /// Reads whose bytes differed from the file's.
    pub mismatched: u64,
    /// Reads by the tier of the source that served them.
    pub reads_by_tier: BTreeMap<&'static str, u64>,
    /// Bytes from workers of other zones.
    pub cross_zone_bytes: u64,
    /// Times a read moved on to another source after a failure.
    pub failovers: u64,
    /// Median read latency, µs.
    pub p50_us: Option<u32>,
    /// 99th percentile read latency, µs.
    pub p99_us: Option<u32>,
    /// The first errors, if any.
    pub errors: Vec<String>,
}

impl Phase {
    /// A phase from the client's counters over it and the readers' samples.
    pub fn new(
        name: &str,
        seconds: f64,
        delta: &ClientStats,
        taken: super::workload::Taken,
    ) -> Self {
        Phase {
            name: name.to_owned(),
            seconds,
            reads: delta.total_reads(),
            failed: delta.failed_reads,
            mismatched: taken.mismatched,
            reads_by_tier: Tier::ALL
                .iter()
                .map(|&t| (t.name(), delta.reads_of(t)))
                .collect(),
            cross_zone_bytes: delta.cross_zone_bytes,
            failovers: delta.failovers,
            p50_us: super::workload::percentile(&taken.latencies_us, 0.5),
            p99_us: super::workload::percentile(&taken.latencies_us, 0.99),
            errors: taken.errors,
        }
    }

    /// Reads served by `tier`.
    pub fn tier(&self, tier: Tier) -> u64 {
        self.reads_by_tier.get(tier.name()).copied().unwrap_or(0)
    }

    /// One line: reads, share by tier, failures, cross-zone bytes, latency.
    pub fn line(&self) -> String {
        let share = |tier: Tier| {
            if self.reads == 0 {
                0.0
            } else {
                100.0 * self.tier(tier) as f64 / self.reads as f64
            }
        };
        let us = |v: Option<u32>| v.map_or("-".to_owned(), |v| format!("{v} us"));
        format!(
            "{} reads ({:.0}/s) | local cached {:.0}% remote cached {:.0}% local {:.0}% remote {:.0}% ufs {:.0}% | \
             failed {} | cross-zone {:.1} MB | p50 {} p99 {}",
            self.reads,
            self.reads as f64 / self.seconds.max(0.001),
            share(Tier::LocalCached),
            share(Tier::RemoteCached),
            share(Tier::Local),
            share(Tier::Remote),
            share(Tier::Ufs),
            self.failed + self.mismatched,
            self.cross_zone_bytes as f64 / 1e6,
            us(self.p50_us),
            us(self.p99_us),
        )
    }
}

/// One thing the demo set out to show, and whether it did.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The claim.
    pub name: String,
    /// Whether the phases showed it.
    pub passed: bool,
    /// The figures that decided it.
    pub detail: String,
}

/// The whole demo.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// How workers found each other: etcd or a static list, and why.
    pub membership: String,
    /// The workers it started: id and HTTP address.
    pub workers: Vec<(String, String)>,
    /// Its directory (removed at the end unless `--dir` named it).
    pub dir: String,
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// The plan for a file cached only in another zone before the policy
    /// swap...
    pub plan_before: Vec<String>,
    /// ...the policy that made it...
    pub policy_before: String,
    /// ...the plan after the swap...
    pub plan_after: Vec<String>,
    /// ...and the policy that made that one.
    pub policy_after: String,
    /// What the demo set out to show, each judged.
    pub checks: Vec<Check>,
    /// Warnings and errors the libraries logged during the demo (expected
    /// ones: failed passive loads to the killed zone, failed reads there).
    pub library_warnings: u64,
    /// The log file they went to.
    pub log_file: String,
    /// Whether the log file outlives the demo (`--dir`).
    pub log_kept: bool,
}

impl Report {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// Reads in every phase.
    pub fn total_reads(&self) -> u64 {
        self.phases.iter().map(|p| p.reads).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "azimuth demo report (membership: {})", self.membership)?;
        for (n, phase) in self.phases.iter().enumerate() {
            writeln!(
                f,
                "  {}. {} ({:.1} s)\n     {}",
                n + 1,
                phase.name,
                phase.seconds,
                phase.line()
            )?;
            for error in &phase.errors {
                writeln!(f, "     error: {error}")?;
            }
        }
        writeln!(
            f,
            "  ranking of a file cached only in another zone:\n     before: {}  ({})\n     after:  {}  ({})",
            self.plan_before.join(" -> "),
            self.policy_before,
            self.plan_after.join(" -> "),
            self.policy_after
        )?;
        for check in &self.checks {
            let mark = if check.passed { "ok  " } else { "FAIL" };
            writeln!(f, "  [{mark}] {}: {}", check.name, check.detail)?;
        }
        let kept = if self.log_kept {
            String::new()
        } else {
            " (removed with the demo's directory; keep it with --dir)".to_owned()
        };
        writeln!(
            f,
            "  library warnings logged: {} in {}{kept}",
            self.library_warnings, self.log_file
        )?;
        let verdict = if self.passed() {
            "every check passed"
        } else {
            "SOME CHECKS FAILED"
        };
        write!(f, "  {} reads in all; {verdict}", self.total_reads())
    }
}
