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
