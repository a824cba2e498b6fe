//! Where the library crates' log lines go: standard error for every command,
//! except the demo, whose terminal output is its own. During a demo they go
//! to its log file, and the warnings among them are counted for its report.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The policy compiler's crates. At debug and trace level they log every
/// pass over every function of a component — hundreds of thousands of lines
/// and tens of seconds per policy compiled — so they are held at `info`
/// unless the filter names them.
const COMPILER_TARGETS: [&str; 3] = ["cranelift", "wasmtime_internal_cranelift", "regalloc2"];

/// `filter` as a tracing filter, or `warn` if it does not parse.
fn env_filter(filter: &str) -> EnvFilter {
    let mut directives = filter.to_owned();
    for target in COMPILER_TARGETS {
        if !filter.contains(target) {
            directives.push_str(&format!(",{target}=info"));
        }
    }
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("warn"))
}

/// Log lines matching `filter` to standard error.
pub fn to_stderr(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Counts the events it sees (a layer filtered to warnings and errors).
struct Count(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for Count {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Log lines matching `filter` to the file at `path` (created); returns the
/// count of warnings and errors logged from now on, whatever the filter.
pub fn to_file(path: &Path, filter: &str) -> std::io::Result<Arc<AtomicU64>> {
    let file = std::fs::File::create(path)?;
    let warnings = Arc::new(AtomicU64::new(0));
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .with_filter(env_filter(filter));
    let count = Count(warnings.clone()).with_filter(LevelFilter::WARN);
    // Fails only if a subscriber is set already: then lines go there.
    let _ = tracing_subscriber::registry()
        .with(lines)
        .with(count)
        .try_init();
    Ok(warnings)
}
