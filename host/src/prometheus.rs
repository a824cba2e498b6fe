//! Prometheus text exposition, written by hand: each process exports a few
//! dozen series, which does not call for a metrics registry. One place
//! writes the format, so every exporter (worker, policy engine, client)
//! writes it the same way.

use std::fmt::{Display, Write};

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
