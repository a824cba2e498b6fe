//! `azimuth load`: preload files into the caller's cluster.

use std::time::Instant;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Outcome, SiteArgs};

/// Arguments of `azimuth load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Files or directories, as paths under the UFS root (a directory loads
    /// every file under it).
    #[arg(required = true)]
    paths: Vec<String>,
    /// Load into this cluster (alluxio.cluster.name).
    #[arg(long)]
    cluster: Option<String>,
    /// Files loaded at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    parallel: u16,
}

/// Loads every file named; exits 1 if any could not be loaded.
pub fn run(site: &SiteArgs, args: LoadArgs) -> anyhow::Result<Outcome> {
    super::with_client(site, args.cluster.clone(), |client| async move {
        let mut files = Vec::new();
        for path in &args.paths {
            files.extend(client.files_under(path).await?);
        }
        files.sort();
        files.dedup();
        let total: u64 = files.iter().map(|(_, length)| length).sum();
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
            )
            .expect("a valid template"),
        );
        let started = Instant::now();
        let count = files.len();
        let (mut fetched, mut already, mut failures) = (0u64, 0usize, Vec::new());
        let mut done = 0usize;
        let mut loads = futures::stream::iter(files)
            .map(|(path, length)| {
                let client = client.clone();
                async move { (client.preload(&path).await, path, length) }
            })
            .buffer_unordered(args.parallel.into());
        while let Some((result, path, length)) = loads.next().await {
            done += 1;
            bar.inc(length);
            bar.set_message(format!("{done}/{count} files"));
            match result {
                Ok(loaded) if loaded.fetched_bytes == 0 => already += 1,
                Ok(loaded) => fetched += loaded.fetched_bytes,
                Err(e) => {
                    bar.println(format!(
                        "error: {path}: {}",
                        azimuth_client::error_chain(&e)
                    ));
                    failures.push(path);
                }
            }
        }
        bar.finish_and_clear();
        let elapsed = started.elapsed();
        println!(
            "loaded {} of {count} files ({} bytes) into cluster {} in {:.1} s: \
             {fetched} bytes fetched from the UFS, {already} already cached, {} failed",
            count - failures.len(),
            total,
            client.cluster(),
            elapsed.as_secs_f64(),
            failures.len()
        );
        if failures.is_empty() {
            Ok(Outcome::Success)
        } else {
            eprintln!("not loaded: {}", failures.join(", "));
            Ok(Outcome::Failed)
        }
    })
}
