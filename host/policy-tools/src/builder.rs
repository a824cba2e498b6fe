//! Building a policy crate into a component, from source.
//!
//! Two toolchains can build for `wasm32-unknown-unknown`:
//! - a rustup toolchain with the target installed (`rustup target add
//!   wasm32-unknown-unknown`), the usual workstation;
//! - Debian's Rust (`rustc-web`, `cargo-web`, `rust-web-src`, `lld-19`), which
//!   has no prebuilt std for the target but ships std's sources, so cargo
//!   builds std itself (`-Zbuild-std`). This is the path on machines that
//!   cannot download a rustup target.
//!
//! The core module cargo produces carries its WIT in a custom section;
//! `wit-component` turns it into a component. Paths are remapped so that the
//! bytes do not depend on where the sources were checked out: the embedded
//! default policy is compared byte for byte with a fresh build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

/// Which compiler builds the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// The `cargo`/`rustc` on PATH, with rustup's `wasm32-unknown-unknown` target installed.
    Rustup,
    /// Debian's `/usr/bin/cargo` and `/usr/bin/rustc`, building std from source.
    Debian,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The policy crate's directory (the one holding its `Cargo.toml`).
    pub crate_dir: PathBuf,
    /// Cargo features to enable.
    pub features: Vec<String>,
    /// The toolchain; `None` picks rustup's if it has the target, else Debian's.
    pub toolchain: Option<Toolchain>,
}

/// A built policy.
#[derive(Debug)]
pub struct Built {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The toolchain that built it.
    pub toolchain: Toolchain,
    /// The core module cargo produced, before componentization.
    pub core_module: PathBuf,
}

/// Why a policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The directory holds no `Cargo.toml`.
    #[error("{0} is not a crate directory: it has no Cargo.toml")]
    NotACrate(PathBuf),
    /// No toolchain that can target `wasm32-unknown-unknown` was found.
    #[error("no Rust toolchain here can build for wasm32-unknown-unknown: {0}")]
    NoToolchain(String),
    /// A command could not be run.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// `cargo metadata` or `cargo build` failed.
    #[error("{0}")]
    Cargo(String),
    /// The crate produced no `.wasm` file.
    #[error("{0} produced no .wasm file; a policy crate needs `[lib] crate-type = [\"cdylib\"]`")]
    NoArtifact(PathBuf),
    /// The core module could not be turned into a component.
    #[error("cannot make a component of {path}: {reason}")]
    Componentize {
        /// The core module.
        path: PathBuf,
        /// What `wit-component` said.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_STD_SOURCES: &str = "/usr/lib/rustlib/src/rust";
const DEBIAN_PACKAGES: &str = "rustc-web cargo-web rust-web-src lld-19";

/// Builds the crate at `options.crate_dir` into a policy component.
pub fn build_policy(options: &BuildOptions) -> Result<Built, BuildError> {
    let manifest = options.crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::NotACrate(options.crate_dir.clone()));
    }
    let manifest = manifest.canonicalize().map_err(|source| BuildError::Read {
        path: manifest.clone(),
        source,
    })?;
    let toolchain = match options.toolchain {
        Some(t) => t,
        None if rustup_has_wasm_target() => Toolchain::Rustup,
        None => Toolchain::Debian,
    };
    let cargo = match toolchain {
        Toolchain::Rustup => {
            if !rustup_has_wasm_target() {
                return Err(BuildError::NoToolchain(
                    "the rustc on PATH has no wasm32-unknown-unknown target; run `rustup target add wasm32-unknown-unknown`".into(),
                ));
            }
            "cargo"
        }
        Toolchain::Debian => DEBIAN_CARGO,
    };
    let wasm_ld = match toolchain {
        Toolchain::Rustup => None,
        Toolchain::Debian => Some(debian_ready()?),
    };
    let metadata = cargo_metadata(cargo, toolchain, &manifest)?;
    let target_dir = PathBuf::from(&metadata.target_directory)
        .join("azimuth-policies")
        .join(match toolchain {
            Toolchain::Rustup => "rustup",
            Toolchain::Debian => "debian",
        });

    let mut cmd = Command::new(cargo);
    clean_env(&mut cmd, toolchain);
    cmd.arg("build")
        .arg("--release")
        .args(["--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--message-format=json-render-diagnostics")
        // Small, fast, reproducible: one codegen unit, LTO, no symbols.
        .args(["--config", "profile.release.opt-level=3"])
        .args(["--config", "profile.release.lto=true"])
        .args(["--config", "profile.release.codegen-units=1"])
        .args(["--config", "profile.release.panic=\"abort\""])
        .args(["--config", "profile.release.strip=true"])
        .args(["--config", "profile.release.debug=false"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !options.features.is_empty() {
        cmd.arg("--features").arg(options.features.join(","));
    }
    let mut remaps = vec![format!(
        "--remap-path-prefix={}=/policy",
        metadata.workspace_root
    )];
    if let Some(home) = cargo_home() {
        remaps.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    if let Some(linker) = &wasm_ld {
        cmd.env("RUSTC_BOOTSTRAP", "1")
            .env("RUSTC", DEBIAN_RUSTC)
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", linker)
            .arg("-Zbuild-std=std,panic_abort");
        remaps.push(format!("--remap-path-prefix={DEBIAN_STD_SOURCES}=/rust"));
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", remaps.join("\x1f"));

    let output = cmd.output().map_err(|source| BuildError::Spawn {
        command: cargo.into(),
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::Cargo(format!(
            "cargo build of {} failed ({}); its errors are above",
            manifest.display(),
            output.status
        )));
    }
    let core_module = find_wasm_artifact(&output.stdout, &manifest)
        .ok_or_else(|| BuildError::NoArtifact(options.crate_dir.clone()))?;
    let module = std::fs::read(&core_module).map_err(|source| BuildError::Read {
        path: core_module.clone(),
        source,
    })?;
    let component = componentize(&module).map_err(|reason| BuildError::Componentize {
        path: core_module.clone(),
        reason,
    })?;
    Ok(Built {
        component,
        toolchain,
        core_module,
    })
}

/// Wraps a core module that carries its WIT (as wit-bindgen leaves it) into a component.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>, String> {
    wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("{e:#}"))
}

/// Whether the rustc on PATH has rustup's prebuilt std for the Wasm target.
fn rustup_has_wasm_target() -> bool {
    let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    out.status.success()
        && Path::new(&sysroot)
            .join("lib/rustlib")
            .join(WASM_TARGET)
            .join("lib")
            .is_dir()
}

/// Checks Debian's toolchain is complete and returns the `wasm-ld` to link with.
fn debian_ready() -> Result<PathBuf, BuildError> {
    let missing = |what: &str| {
        BuildError::NoToolchain(format!(
            "{what} is missing. Either install rustup's target (`rustup target add {WASM_TARGET}`) \
             or Debian's Rust with std sources (`apt-get install {DEBIAN_PACKAGES}`)"
        ))
    };
    for path in [DEBIAN_CARGO, DEBIAN_RUSTC] {
        if !Path::new(path).is_file() {
            return Err(missing(path));
        }
    }
    if !Path::new(DEBIAN_STD_SOURCES).join("library").is_dir() {
        return Err(missing(&format!("{DEBIAN_STD_SOURCES}/library")));
    }
    find_wasm_ld().ok_or_else(|| missing("wasm-ld"))
}

/// `AZIMUTH_WASM_LD`, else the newest `/usr/lib/llvm-*/bin/wasm-ld`, else `wasm-ld` on PATH.
fn find_wasm_ld() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AZIMUTH_WASM_LD") {
        return Some(PathBuf::from(path));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix("llvm-")?.parse().ok()?;
            let ld = entry.path().join("bin/wasm-ld");
            ld.is_file().then_some((version, ld))
        })
        .collect();
    versions.sort();
    if let Some((_, ld)) = versions.pop() {
        return Some(ld);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("wasm-ld"))
        .find(|p| p.is_file())
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .and_then(|p| p.canonicalize().ok())
}

/// Drops variables an outer cargo (`cargo run`, `cargo test`) sets that would
/// change what the inner build does.
fn clean_env(cmd: &mut Command, toolchain: Toolchain) {
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    if toolchain == Toolchain::Debian {
        cmd.env_remove("RUSTUP_TOOLCHAIN");
    }
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: String,
    target_directory: String,
}

fn cargo_metadata(
    cargo: &str,
    toolchain: Toolchain,
    manifest: &Path,
) -> Result<Metadata, BuildError> {
    let mut cmd = Command::new(cargo);
    clean_env(&mut cmd, toolchain);
    if toolchain == Toolchain::Debian {
        cmd.env("RUSTC", DEBIAN_RUSTC);
    }
    let out = cmd
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| BuildError::Spawn {
            command: format!("{cargo} metadata"),
            source,
        })?;
    if !out.status.success() {
        return Err(BuildError::Cargo(format!(
            "cargo metadata for {} failed ({})",
            manifest.display(),
            out.status
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| BuildError::Cargo(format!("cannot parse cargo metadata output: {e}")))
}

/// The `.wasm` file of the cdylib whose manifest is `manifest`, from cargo's JSON messages.
fn find_wasm_artifact(stdout: &[u8], manifest: &Path) -> Option<PathBuf> {
    #[derive(Deserialize)]
    struct Message {
        reason: String,
        #[serde(default)]
        manifest_path: Option<PathBuf>,
        #[serde(default)]
        filenames: Vec<PathBuf>,
    }
    stdout
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Message>(line).ok())
        .filter(|m| m.reason == "compiler-artifact" && m.manifest_path.as_deref() == Some(manifest))
        .flat_map(|m| m.filenames)
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
}
