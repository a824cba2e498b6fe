//! Shared helpers: building test policies once, running the `azimuth` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use azimuth_policy::{CacheState, Candidate, PolicyConfig, PolicyEngine, Request};
use azimuth_policy_tools::builder::{BuildOptions, build_policy};

/// The repository's root directory.
pub fn repo() -> PathBuf {
    // The tests belong to the `azimuth` crate, in `host/cli`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// The component built from `policies/<name>` with `features`, built once
/// per test run however many tests ask (builds are serialized: they share a
/// cargo target directory).
pub fn policy(name: &str, features: &[&str]) -> Vec<u8> {
    static BUILT: OnceLock<Mutex<HashMap<String, Vec<u8>>>> = OnceLock::new();
    let key = format!("{name}+{}", features.join(","));
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    built
        .entry(key)
        .or_insert_with(|| {
            build_policy(&BuildOptions {
                crate_dir: repo().join("policies").join(name),
                features: features.iter().map(|f| f.to_string()).collect(),
                toolchain: None,
            })
            .unwrap_or_else(|e| panic!("building policies/{name} {features:?}: {e}"))
            .component
        })
        .clone()
}

/// An engine with default settings.
pub fn engine() -> PolicyEngine {
    PolicyEngine::new(PolicyConfig::default()).expect("the policy engine starts")
}

/// Runs the `azimuth` binary from the repository root.
pub fn azimuth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_azimuth"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("azimuth runs")
}

/// Runs `azimuth --conf <conf> worker` (its UFS and cache under `dir`) and
/// expects it to refuse to start; returns what it said on standard error.
pub fn refused_worker_start(dir: &Path, conf: &Path) -> String {
    let ufs = dir.display().to_string();
    let cache = dir.join("refused-cache").display().to_string();
    let out = azimuth(&[
        "--conf",
        &conf.display().to_string(),
        "worker",
        "--id",
        "w1",
        "--ufs",
        &ufs,
        "--cache-dir",
        &cache,
    ]);
    assert!(!out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output and error of a run, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A read on which the default policy and `lowest-latency` disagree: the
/// default reads the uncached local worker first, `lowest-latency` the fully
/// cached remote one.
pub fn disputed_read() -> (Request, Vec<Candidate>) {
    let request = Request {
        prefer_cached_replicas: false,
        passive_cache: true,
        ufs_fallback: true,
        file_length: Some(4096),
        offset: 0,
        length: None,
        attempt: 0,
        seed: 0,
    };
    let candidate = |local: bool, cache: CacheState, rtt_us: u32| Candidate {
        local,
        cluster: u8::from(!local),
        cache,
        cached_bytes: if cache == CacheState::Full { 4096 } else { 0 },
        healthy: true,
        rtt_us,
    };
    (
        request,
        vec![
            candidate(true, CacheState::None, 900),
            candidate(false, CacheState::Full, 300),
        ],
    )
}

/// What a component made by [`wrapped`] does before the policy inside it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StartUp {
    /// Nothing.
    Quick,
    /// Instantiates a core module whose start function never returns.
    Endless,
}

/// `component`, wrapped in a component that instantiates it and re-exports
/// its interface: a valid policy of another shape (its core module is one
/// level down), as composing tools make them.
pub fn wrapped(component: &[u8], start_up: StartUp) -> Vec<u8> {
    use azimuth_policy::bindings::ROUTING_INTERFACE;
    use wasm_encoder::{
        Alias, BlockType, CodeSection, Component, ComponentAliasSection, ComponentExportKind,
        ComponentExportSection, ComponentInstanceSection, ComponentSectionId, Function,
        FunctionSection, InstanceSection, Instruction, Module, ModuleArg, ModuleSection,
        RawSection, StartSection, TypeSection,
    };
    let mut outer = Component::new();
    if start_up == StartUp::Endless {
        // Core items have index spaces of their own: the policy's
        // component and instance indices below are unchanged.
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut body = Function::new([]);
        body.instruction(&Instruction::Loop(BlockType::Empty))
            .instruction(&Instruction::Br(0))
            .instruction(&Instruction::End)
            .instruction(&Instruction::End);
        let mut code = CodeSection::new();
        code.function(&body);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&StartSection { function_index: 0 })
            .section(&code);
        outer.section(&ModuleSection(&module));
        let mut instances = InstanceSection::new();
        instances.instantiate(0, Vec::<(&str, ModuleArg)>::new());
        outer.section(&instances);
    }
    outer.section(&RawSection {
        id: ComponentSectionId::Component as u8,
        data: component,
    });
    let mut instances = ComponentInstanceSection::new();
    instances.instantiate(0, Vec::<(&str, ComponentExportKind, u32)>::new());
    outer.section(&instances);
    let mut aliases = ComponentAliasSection::new();
    aliases.alias(Alias::InstanceExport {
        instance: 0,
        kind: ComponentExportKind::Instance,
        name: ROUTING_INTERFACE,
    });
    outer.section(&aliases);
    let mut exports = ComponentExportSection::new();
    exports.export(ROUTING_INTERFACE, ComponentExportKind::Instance, 1, None);
    outer.section(&exports);
    outer.finish()
}
