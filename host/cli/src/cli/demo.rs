//! `azimuth demo`: three zones on this machine, showing themselves working.

use std::path::PathBuf;
use std::time::Duration;

use super::Outcome;
use crate::demo::{self, DemoSettings};
use azimuth_cluster::config::values;

/// Arguments of `azimuth demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How long each phase runs, in seconds (the passive-cache phase runs
    /// on until reads are local again, up to 30 s more).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    phase_seconds: u64,
    /// Concurrent readers.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=512))]
    readers: u16,
    /// Sample files to generate.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=10000))]
    files: u16,
    /// Size of each sample file, e.g. 4MB.
    #[arg(long, default_value = "2MB")]
    file_size: String,
    /// Bytes per read, e.g. 64KB.
    #[arg(long, default_value = "64KB")]
    read_size: String,
    /// Use a static worker list even when `etcd` is on PATH.
    #[arg(long = "static")]
    force_static: bool,
    /// After the report, leave the zones running as a playground (prints
    /// the addresses, site files and commands to try) until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
    /// Keep data, caches, site files and logs in DIR (new or empty)
    /// instead of a temporary directory that is removed at the end.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// Runs the demo and prints its report; exits 1 if a check failed.
pub fn run(args: DemoArgs, log_filter: &str) -> anyhow::Result<Outcome> {
    let size = |flag: &str, text: &str| {
        values::parse_size(text)
            .map_err(|why| anyhow::anyhow!("{flag} {text:?}: {why}"))
            .and_then(|n| match n {
                0 => anyhow::bail!("{flag} {text:?}: must be more than 0"),
                n if n > 1 << 30 => anyhow::bail!("{flag} {text:?}: at most 1GB"),
                n => Ok(n),
            })
    };
    let settings = DemoSettings {
        phase: Duration::from_secs(args.phase_seconds),
        readers: args.readers.into(),
        files: args.files.into(),
        file_size: size("--file-size", &args.file_size)?,
        read_size: size("--read-size", &args.read_size)?,
        force_static: args.force_static,
        keep_running: args.keep_running,
        dir: args.dir,
        log_filter: log_filter.to_owned(),
    };
    let report = demo::run(&settings)?;
    if !settings.keep_running {
        println!("{report}");
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(if report.passed() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
