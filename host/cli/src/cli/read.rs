//! `azimuth read`: one read through the multi-zone read path.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use futures::StreamExt;

use super::{Outcome, SiteArgs};

/// Arguments of `azimuth read`.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// The file, as a path under the UFS root (e.g. datasets/part-0001).
    path: String,
    /// First byte to read.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Bytes to read [default: to the end of the file].
    #[arg(long)]
    length: Option<u64>,
    /// Write the bytes to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// After the read, print on standard error how it was decided: the
    /// candidates and their cache states, the policy's plan, every attempt and
    /// the source that served.
    #[arg(long)]
    explain: bool,
    /// Read as a client of this cluster (alluxio.cluster.name).
    #[arg(long)]
    cluster: Option<String>,
}

/// Reads the range to the output; exits 1 if no source could serve it.
pub fn run(site: &SiteArgs, args: ReadArgs) -> anyhow::Result<Outcome> {
    super::with_client(site, args.cluster.clone(), |client| async move {
        let mut out: Box<dyn Write> = match &args.output {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        let mut stream = client.read(&args.path, args.offset, args.length);
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => out.write_all(&bytes).context("cannot write the output")?,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        out.flush().context("cannot write the output")?;
        if args.explain {
            eprintln!("{}", stream.explain());
        }
        match failure {
            Some(e) => {
                eprintln!("error: {e}");
                Ok(Outcome::Failed)
            }
            None => Ok(Outcome::Success),
        }
    })
}
