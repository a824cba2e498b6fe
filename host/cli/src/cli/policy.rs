//! `azimuth policy ...`: build, check, evaluate and test policies offline.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use azimuth_policy::bindings::CONTRACT_WORLD;
use azimuth_policy::{PolicyConfig, PolicyEngine};
use azimuth_policy_tools::builder::{BuildOptions, Toolchain, build_policy};
use azimuth_policy_tools::check::check;
use azimuth_policy_tools::scenario::{Prepared, Scenario};

use super::{Outcome, SiteArgs, rollout};

/// The toolchains `policy build --toolchain` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolchainArg {
    /// The `cargo`/`rustc` on PATH, with rustup's `wasm32-unknown-unknown` target installed.
    Rustup,
    /// Debian's `/usr/bin/cargo` and `/usr/bin/rustc`, building std from source.
    Debian,
}

impl From<ToolchainArg> for Toolchain {
    fn from(arg: ToolchainArg) -> Self {
        match arg {
            ToolchainArg::Rustup => Toolchain::Rustup,
            ToolchainArg::Debian => Toolchain::Debian,
        }
    }
}

/// Policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Build a policy crate into a component.
    ///
    /// Works with rustup's wasm32-unknown-unknown target (`rustup target add
    /// wasm32-unknown-unknown`) or, where that target cannot be installed,
    /// with Debian's Rust (`apt-get install rustc-web cargo-web rust-web-src
    /// lld-19`). The component is checked like `policy check` before it is
    /// written. Example: `azimuth policy build policies/default -o default.wasm`
    Build {
        /// The policy crate's directory (holding its Cargo.toml).
        crate_dir: PathBuf,
        /// Where to write the component [default: ./<crate directory name>.wasm].
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Cargo features to enable (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        features: Vec<String>,
        /// The toolchain to build with [default: rustup if it has the target, else debian].
        #[arg(long, value_enum)]
        toolchain: Option<ToolchainArg>,
    },
    /// Check a component against the policy contract.
    ///
    /// Loads it as a host would (no imports allowed, exports matching
    /// `azimuth:policy/routing@0.1.0`), asks it a few decisions and checks the
    /// answers. Prints its world, size, sha256 and how hosts will call it
    /// (`calls:` direct, or through wasmtime's component call and why);
    /// exits 1 with the reason if it is not a usable policy.
    Check {
        /// The component (.wasm).
        file: PathBuf,
    },
    /// Print what a policy decides for one scenario, as JSON.
    ///
    /// A scenario is a JSON file naming the client's cluster, the settings and
    /// the candidate workers; see `examples/scenarios/`. Example:
    /// `azimuth policy eval --scenario examples/scenarios/prefer-cached-remote.json`
    Eval {
        /// The policy component [default: the embedded default policy].
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The scenario file.
        #[arg(long)]
        scenario: PathBuf,
    },
    /// Run every scenario in a directory that has an `expect`, and report mismatches.
    ///
    /// Prints one line per scenario and a readable diff for each mismatch;
    /// exits 1 if any scenario fails. Example:
    /// `azimuth policy test tests/scenarios`
    Test {
        /// The policy component [default: the embedded default policy].
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The directory of scenario files (*.json).
        dir: PathBuf,
    },
    /// Publish a component in etcd, for every host following NAME to swap to.
    ///
    /// Checks the component like `policy check`, then stores it with its
    /// sha256 in the etcd of every cluster group this host sees (the
    /// topology file with alluxio.multi.cluster.enabled, else this cluster's).
    /// Hosts with `azimuth.policy.name=NAME` swap to it within a second; a
    /// host refuses a component whose bytes do not match the stored sha256.
    /// Watch the rollout with `policy status`. Example:
    /// `azimuth --conf site.properties policy publish lowest-latency.wasm --name routing`
    Publish {
        /// The component (.wasm).
        file: PathBuf,
        /// The name hosts follow (azimuth.policy.name).
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Show which policy (sha256) every worker runs, against what is published.
    ///
    /// Exits 1 if a group's etcd cannot be reached. Example:
    /// `azimuth --conf site.properties policy status --name routing`
    Status {
        /// The published name to compare against.
        #[arg(long, default_value = "default")]
        name: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a policy command.
pub fn run(site: &SiteArgs, command: PolicyCommand) -> anyhow::Result<Outcome> {
    match command {
        PolicyCommand::Build {
            crate_dir,
            output,
            features,
            toolchain,
        } => build(crate_dir, output, features, toolchain),
        PolicyCommand::Check { file } => check_file(&file),
        PolicyCommand::Eval { policy, scenario } => eval(policy.as_deref(), &scenario),
        PolicyCommand::Test { policy, dir } => test(policy.as_deref(), &dir),
        PolicyCommand::Publish { file, name } => rollout::publish(site, &file, &name),
        PolicyCommand::Status { name, json } => rollout::status(site, &name, json),
    }
}

fn build(
    crate_dir: PathBuf,
    output: Option<PathBuf>,
    features: Vec<String>,
    toolchain: Option<ToolchainArg>,
) -> anyhow::Result<Outcome> {
    let output = match output {
        Some(o) => o,
        None => {
            let name = crate_dir
                .canonicalize()
                .with_context(|| format!("cannot open crate directory {}", crate_dir.display()))?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "policy".into());
            PathBuf::from(format!("{name}.wasm"))
        }
    };
    let built = build_policy(&BuildOptions {
        crate_dir,
        features,
        toolchain: toolchain.map(Toolchain::from),
    })?;
    // The checks `policy check` applies: a build is never written that
    // `check` (or a host) would refuse.
    let checked = check(&built.component, &output.display().to_string())
        .context("the built component is not a valid policy")?;
    write_atomically(&output, &built.component)?;
    println!(
        "built {} ({} bytes, sha256 {}) with the {:?} toolchain; calls: {}",
        output.display(),
        built.component.len(),
        checked.id.sha256,
        built.toolchain,
        checked.call_path_line()
    );
    Ok(Outcome::Success)
}

/// Writes through a temporary file and a rename, so a host following the file
/// never reads half a component.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn check_file(file: &Path) -> anyhow::Result<Outcome> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let checked = check(&bytes, &file.display().to_string())?;
    println!("policy:  {}", file.display());
    // Compiling type-checked the exports against the contract's world.
    println!("world:   {CONTRACT_WORLD}");
    println!("exports: {}", checked.exports.join(", "));
    println!("imports: none");
    println!("size:    {} bytes", checked.id.size);
    println!("sha256:  {}", checked.id.sha256);
    println!("calls:   {}", checked.call_path_line());
    println!(
        "check:   ok ({} sample decisions answered validly)",
        checked.sample_reads
    );
    Ok(Outcome::Success)
}

fn eval(policy: Option<&Path>, scenario: &Path) -> anyhow::Result<Outcome> {
    let engine = engine_with(policy)?;
    let name = scenario.display().to_string();
    let prepared = Scenario::from_file(scenario)?.prepare(&name)?;
    let outcome = prepared.evaluate(&engine);
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(Outcome::Success)
}

fn test(policy: Option<&Path>, dir: &Path) -> anyhow::Result<Outcome> {
    let engine = engine_with(policy)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read scenario directory {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read scenario directory {}", dir.display()))?;
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for path in &files {
        let name = path.display().to_string();
        let prepared: Prepared = Scenario::from_file(path)?.prepare(&name)?;
        if prepared.scenario.expect.is_none() {
            skipped += 1;
            continue;
        }
        let outcome = prepared.evaluate(&engine);
        let mismatches = prepared.mismatches(&outcome);
        if mismatches.is_empty() {
            passed += 1;
            println!("ok   {name}");
        } else {
            failed += 1;
            println!("FAIL {name}");
            for line in mismatches {
                println!("     {line}");
            }
        }
    }
    let active = engine.active();
    println!("policy {active}");
    println!("{passed} passed, {failed} failed, {skipped} skipped (no expect)");
    if passed + failed == 0 {
        bail!("no scenario with an `expect` in {}", dir.display());
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn engine() -> anyhow::Result<PolicyEngine> {
    Ok(PolicyEngine::new(PolicyConfig::default())?)
}

/// An engine whose active policy is the file given, or the embedded default.
fn engine_with(policy: Option<&Path>) -> anyhow::Result<PolicyEngine> {
    let engine = engine()?;
    if let Some(path) = policy {
        azimuth_policy::file_watch::load_policy_file(&engine, path)?;
    }
    Ok(engine)
}
