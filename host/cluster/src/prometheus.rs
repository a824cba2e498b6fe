//! Prometheus text exposition, written by hand: each process exports a few
//! dozen series, which does not call for a metrics registry. One place
//! writes the format, so every exporter (worker, policy engine, client)
//! writes it the same way.

use std::fmt::{Display, Write};

use azimuth_policy::PolicyEngine;

/// A metric family being written: its `# HELP` and `# TYPE` lines are out;
/// [`Family::sample`] adds its series.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

/// Starts the family `name` of `kind` (`counter`, `gauge`) in `out`.
pub fn family<'a>(out: &'a mut String, name: &'a str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    Family { out, name }
}

impl Family<'_> {
    /// One series: `labels` as `key="value"` pairs (none: the bare name).
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) -> &mut Self {
        let _ = write!(self.out, "{}", self.name);
        for (i, (key, val)) in labels.iter().enumerate() {
            let open = if i == 0 { "{" } else { "," };
            let _ = write!(self.out, "{open}{key}=\"{val}\"");
        }
        let close = if labels.is_empty() { "" } else { "}" };
        let _ = writeln!(self.out, "{close} {value}");
        self
    }
}

/// Writes a histogram: `bounds` are the buckets' upper bounds (seconds,
/// ascending), `counts` the observations at or below each bound and not
/// below the previous one, then the observations above the last bound;
/// `sum` their total.
pub fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    bounds: &[f64],
    counts: &[u64],
    sum: f64,
) {
    debug_assert_eq!(counts.len(), bounds.len() + 1);
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (bound, count) in bounds.iter().zip(counts) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    cumulative += counts.last().copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
}

/// Writes the policy engine's counters and its active policy (by sha256)
/// to `out`; the engine itself only gives numbers ([`PolicyEngine::stats`]).
pub fn policy_engine(out: &mut String, engine: &PolicyEngine) {
    let s = engine.stats();
    for (name, help, value) in [
        (
            "azimuth_policy_decisions_total",
            "Decisions asked of the policy engine.",
            s.decisions,
        ),
        (
            "azimuth_policy_quarantines_total",
            "Policies quarantined after repeated failures.",
            s.quarantines,
        ),
        (
            "azimuth_policy_swaps_total",
            "Policies swapped in.",
            s.swaps,
        ),
        (
            "azimuth_policy_swaps_refused_total",
            "Policy components refused at swap time.",
            s.swaps_refused,
        ),
    ] {
        family(out, name, "counter", help).sample(&[], value);
    }
    let mut fallbacks = family(
        out,
        "azimuth_policy_fallbacks_total",
        "counter",
        "Decisions made by the default policy because the active one failed.",
    );
    for (reason, value) in s.fallbacks_by_reason() {
        fallbacks.sample(&[("reason", reason)], value);
    }
    let quarantined = engine.active_is_quarantined().to_string();
    family(
        out,
        "azimuth_policy_active_info",
        "gauge",
        "The active policy (value 1), by sha256.",
    )
    .sample(
        &[
            ("sha256", &engine.active().sha256),
            ("quarantined", &quarantined),
        ],
        1,
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_histogram_counts_cumulatively_up_to_inf() {
        let mut out = String::new();
        super::histogram(
            &mut out,
            "h_seconds",
            "Latency.",
            &[0.1, 1.0],
            &[2, 3, 1],
            4.5,
        );
        assert_eq!(
            out,
            "# HELP h_seconds Latency.\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{le=\"0.1\"} 2\nh_seconds_bucket{le=\"1\"} 5\n\
             h_seconds_bucket{le=\"+Inf\"} 6\nh_seconds_sum 4.5\nh_seconds_count 6\n"
        );
    }

    #[test]
    fn writes_help_type_and_labelled_series() {
        let mut out = String::new();
        super::family(&mut out, "x_total", "counter", "Things.")
            .sample(&[], 1)
            .sample(&[("a", "1"), ("b", "two")], 2);
        assert_eq!(
            out,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\nx_total{a=\"1\",b=\"two\"} 2\n"
        );
    }
}
