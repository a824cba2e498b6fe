//! Which components the host may call directly, and the core names to call.
//!
//! `wit-component` (behind `azimuth policy build`, `wasm-tools component new`
//! and every wit-bindgen toolchain) makes a policy out of one core module: it
//! instantiates the module once and lifts `rank` and `failover` from two of
//! its exports, with the module's memory and `cabi_realloc`. Between the host
//! and those core functions there is then nothing but the canonical ABI,
//! which the host can apply itself (see `super::abi`).
//!
//! This reads a component's sections and accepts only that shape: one core
//! module, instantiated once with no arguments; exactly two functions in the
//! whole component, both `canon lift`s of that instance's exports; nested
//! components (wit-component's type-naming shims) with no code of their own.
//! Since every function of such a component is one of the two lifts, and
//! wasmtime has checked that the component exports `rank` and `failover`
//! with the contract's types, the lift whose core function has `rank`'s
//! lowered signature is `rank`. Anything else is left to wasmtime's
//! component call, which runs any valid policy.

use std::ops::Range;

use wasmparser::{
    CanonicalFunction, CanonicalOption, ComponentAlias, ExternalKind, Instance, Parser, Payload,
};

/// A canonical lift of a core export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lift {
    /// The core function lifted.
    pub core: String,
    /// The core export its memory option names.
    pub memory: String,
    /// The core export its `realloc` option names, if any.
    pub realloc: Option<String>,
    /// The core export its `post-return` option names, if any.
    pub post_return: Option<String>,
}

/// A component of the shape described above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CoreShape {
    /// Where the core module's bytes are in the component.
    pub module: Range<usize>,
    /// The component's two lifts, in the order they appear.
    pub lifts: [Lift; 2],
}

/// What encloses the payloads being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A core module (its own sections are not our concern).
    Module,
    /// A component nested in the policy component.
    Nested,
}

/// Finds the core shape of `bytes`, or says why it has another one.
///
/// `bytes` must already be a valid component (wasmtime compiled it), so this
/// only walks its structure; it never decides validity.
pub(super) fn find(bytes: &[u8]) -> Result<CoreShape, String> {
    let mut scopes: Vec<Scope> = Vec::new();
    let mut module = None;
    let mut core_instances = 0;
    // Core index spaces of the top level, filled only by aliases of the one
    // instance's exports (anything else that adds to them is refused).
    let mut core_funcs: Vec<String> = Vec::new();
    let mut core_memories: Vec<String> = Vec::new();
    let mut lifts: Vec<(u32, Box<[CanonicalOption]>)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("unreadable component: {e}"))?;
        let scope = scopes.last().copied();
        match payload {
            Payload::End(_) => {
                scopes.pop();
            }
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                if scope.is_some() {
                    return Err("a nested component holds a core module".into());
                }
                if module.is_some() {
                    return Err("it holds more than one core module".into());
                }
                module = Some(unchecked_range);
                scopes.push(Scope::Module);
            }
            Payload::ComponentSection { .. } => {
                if scope == Some(Scope::Module) {
                    return Err("a core module holds a component".into());
                }
                scopes.push(Scope::Nested);
            }
            _ if scope == Some(Scope::Module) => {}
            Payload::InstanceSection(reader) => {
                if scope.is_some() {
                    return Err("a nested component instantiates a core module".into());
                }
                for instance in reader {
                    match instance.map_err(|e| format!("unreadable core instance: {e}"))? {
                        Instance::Instantiate {
                            module_index: 0,
                            args,
                        } if args.is_empty() => {
                            core_instances += 1;
                        }
                        _ => {
                            return Err(
                                "a core instance is not the module instantiated alone".into()
                            );
                        }
                    }
                }
                if core_instances > 1 {
                    return Err("it instantiates its core module more than once".into());
                }
            }
            Payload::ComponentCanonicalSection(reader) => {
                if scope.is_some() {
                    return Err("a nested component defines functions".into());
                }
                for function in reader {
                    match function.map_err(|e| format!("unreadable canonical function: {e}"))? {
                        CanonicalFunction::Lift {
                            core_func_index,
                            options,
                            ..
                        } => lifts.push((core_func_index, options)),
                        other => {
                            return Err(format!(
                                "it defines a canonical function other than a lift ({other:?})"
                            ));
                        }
                    }
                }
            }
            Payload::ComponentAliasSection(reader) if scope.is_none() => {
                for alias in reader {
                    if let ComponentAlias::CoreInstanceExport {
                        kind,
                        instance_index,
                        name,
                    } = alias.map_err(|e| format!("unreadable alias: {e}"))?
                    {
                        if instance_index != 0 {
                            return Err("an alias names a core instance that is not there".into());
                        }
                        match kind {
                            ExternalKind::Func => core_funcs.push(name.to_string()),
                            ExternalKind::Memory => core_memories.push(name.to_string()),
                            _ => {}
                        }
                    }
                }
            }
            Payload::ComponentStartSection { .. } => {
                return Err("it has a start function".into());
            }
            _ => {}
        }
    }
    let module = module.ok_or("it holds no core module")?;
    let [rank, failover]: [_; 2] = lifts
        .try_into()
        .map_err(|l: Vec<_>| format!("it defines {} functions, not 2", l.len()))?;
    let lift = |(core, options): (u32, Box<[CanonicalOption]>)| {
        let name = |space: &[String], index: u32, what: &str| {
            space
                .get(index as usize)
                .cloned()
                .ok_or_else(|| format!("a lift's {what} is not an export of the core module"))
        };
        let mut lift = Lift {
            core: name(&core_funcs, core, "function")?,
            memory: String::new(),
            realloc: None,
            post_return: None,
        };
        for option in options.iter() {
            match *option {
                CanonicalOption::Memory(i) => lift.memory = name(&core_memories, i, "memory")?,
                CanonicalOption::Realloc(i) => {
                    lift.realloc = Some(name(&core_funcs, i, "realloc")?);
                }
                CanonicalOption::PostReturn(i) => {
                    lift.post_return = Some(name(&core_funcs, i, "post-return")?);
                }
                // Strings never cross this contract.
                CanonicalOption::UTF8 | CanonicalOption::UTF16 | CanonicalOption::CompactUTF16 => {}
                other => return Err(format!("a lift uses the option {other:?}")),
            }
        }
        if lift.memory.is_empty() {
            return Err("a lift names no memory".to_string());
        }
        Ok(lift)
    };
    Ok(CoreShape {
        module,
        lifts: [lift(rank)?, lift(failover)?],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_has_the_core_shape() {
        let shape = find(crate::embedded::DEFAULT_POLICY).expect("core shape");
        let cores: Vec<&str> = shape.lifts.iter().map(|l| l.core.as_str()).collect();
        assert_eq!(
            cores,
            [
                "azimuth:policy/routing@0.1.0#rank",
                "azimuth:policy/routing@0.1.0#failover"
            ]
        );
        for lift in &shape.lifts {
            assert_eq!(lift.memory, "memory");
            assert_eq!(lift.realloc.as_deref(), Some("cabi_realloc"));
        }
        assert!(
            wasmparser::Validator::new()
                .validate_all(&crate::embedded::DEFAULT_POLICY[shape.module.clone()])
                .is_ok()
        );
    }
}
