//! The direct call path: the host calls a policy's core functions itself.
//!
//! A component call through wasmtime lowers the arguments, calls the guest's
//! `cabi_realloc` through a separate entry, looks up function references,
//! keeps resource-scope bookkeeping and lifts the answer; profiled, that
//! machinery was over half of a 6-candidate decision (about 220 of 385 ns),
//! more than the policy's own work. For a component of the usual shape (see
//! `shape`: one core module, lifted as is) the host instead instantiates
//! that core module with wasmtime's core API and applies the canonical ABI
//! itself (`abi`). The same guest functions run on the same bytes, in a
//! store with the same CPU deadline and memory cap; only the host's side of
//! the boundary is different, and it costs a few loads and stores.
//!
//! Components of another shape run through wasmtime's component call (see
//! `instance`), and `azimuth policy check` says which path a policy takes.
//!
//! Policies built with Azimuth's SDK also export an input buffer (see
//! `INPUT_EXPORT`): the host writes the candidate list there instead of
//! asking `cabi_realloc` for room, which saves an entry into the guest per
//! decision. The component is unchanged by it; any other host, and this one
//! for lists that do not fit, uses `cabi_realloc`.

pub(crate) mod abi;
mod shape;

use std::ops::Range;

use wasmtime::{
    Engine, ExternType, FuncType, InstancePre, Linker, Memory, Module, Result, Store, TypedFunc,
    format_err,
};

use crate::bindings::{Failure, NextStep, Plan, Request};
use crate::instance::StoreState;
use crate::wire::{self, Candidate};

/// `cabi_realloc(old, old_size, align, new_size) -> ptr`.
type Realloc = TypedFunc<(i32, i32, i32, i32), i32>;
/// A post-return function: it gets the pointer the call returned.
type PostReturn = TypedFunc<i32, ()>;

/// The core signatures the contract's two functions lower to.
const RANK_SIGNATURE: &str = "(i32 i32 i32 i32 i64 i64 i32 i64 i32 i64 i32 i32) -> (i32)";
const FAILOVER_SIGNATURE: &str = "(i32) -> (i32)";
const REALLOC_SIGNATURE: &str = "(i32 i32 i32 i32) -> (i32)";
const POST_RETURN_SIGNATURE: &str = "(i32) -> ()";

/// The SDK's input-buffer export (`policies/sdk/src/abi.rs`; documented in
/// `wit/ABI.md`): it answers a pointer to `{ start: u32, bytes: u32 }`, the
/// buffer where the host may write a candidate list, which the guest then
/// does not free.
const INPUT_EXPORT: &str = "azimuth:sdk/input-buffer@1";
const INPUT_SIGNATURE: &str = "() -> (i32)";

/// One lifted function's core exports.
struct Lifted {
    core: String,
    realloc: String,
    post_return: Option<String>,
}

/// A policy's core module, compiled and linked, with the names to call.
pub(crate) struct DirectPre {
    pre: InstancePre<StoreState>,
    memory: String,
    rank: Lifted,
    failover: Lifted,
    /// Whether the module exports the SDK's input buffer.
    input_buffer: bool,
}

/// `ty` as `(params) -> (results)`.
fn signature(ty: &FuncType) -> String {
    let join = |types: &mut dyn Iterator<Item = wasmtime::ValType>| {
        types.map(|t| t.to_string()).collect::<Vec<_>>().join(" ")
    };
    format!(
        "({}) -> ({})",
        join(&mut ty.params()),
        join(&mut ty.results())
    )
}

impl DirectPre {
    /// Prepares the direct path for the component `bytes`, which wasmtime
    /// has already compiled and type-checked against the contract; `Err`
    /// says why the component call must be used instead.
    pub(crate) fn prepare(engine: &Engine, bytes: &[u8]) -> Result<Self, String> {
        let shape = shape::find(bytes)?;
        let module = Module::new(engine, &bytes[shape.module.clone()])
            .map_err(|e| format!("its core module does not compile on its own: {e:#}"))?;
        if let Some(import) = module.imports().next() {
            return Err(format!(
                "its core module imports `{}::{}`",
                import.module(),
                import.name()
            ));
        }
        let func = |name: &str| match module.get_export(name) {
            Some(ExternType::Func(ty)) => Ok(signature(&ty)),
            _ => Err(format!("its core module exports no function `{name}`")),
        };
        let [first, second] = shape.lifts;
        let (rank, failover) = if func(&first.core)? == RANK_SIGNATURE {
            (first, second)
        } else {
            (second, first)
        };
        if rank.memory != failover.memory {
            return Err("its two functions use different memories".into());
        }
        if !matches!(module.get_export(&rank.memory), Some(ExternType::Memory(_))) {
            return Err(format!(
                "its core module exports no memory `{}`",
                rank.memory
            ));
        }
        let lifted = |lift: shape::Lift, expected: &str| -> Result<Lifted, String> {
            let found = func(&lift.core)?;
            if found != expected {
                return Err(format!(
                    "`{}` has the core signature {found}, not {expected}",
                    lift.core
                ));
            }
            let realloc = lift
                .realloc
                .ok_or_else(|| format!("`{}` is lifted without a realloc", lift.core))?;
            let mut names = vec![(&realloc, REALLOC_SIGNATURE)];
            names.extend(lift.post_return.iter().map(|p| (p, POST_RETURN_SIGNATURE)));
            for (name, expected) in names {
                let found = func(name)?;
                if found != expected {
                    return Err(format!(
                        "`{name}` has the core signature {found}, not {expected}"
                    ));
                }
            }
            Ok(Lifted {
                core: lift.core,
                realloc,
                post_return: lift.post_return,
            })
        };
        let input_buffer = match module.get_export(INPUT_EXPORT) {
            None => false,
            Some(ExternType::Func(ty)) if signature(&ty) == INPUT_SIGNATURE => true,
            Some(_) => {
                return Err(format!(
                    "its core export `{INPUT_EXPORT}` is not a function {INPUT_SIGNATURE}"
                ));
            }
        };
        let memory = rank.memory.clone();
        let rank = lifted(rank, RANK_SIGNATURE)?;
        let failover = lifted(failover, FAILOVER_SIGNATURE)?;
        let pre = Linker::new(engine)
            .instantiate_pre(&module)
            .map_err(|e| format!("its core module does not link: {e:#}"))?;
        Ok(Self {
            pre,
            memory,
            rank,
            failover,
            input_buffer,
        })
    }

    /// Whether instances take their candidates in the SDK's input buffer.
    pub(crate) fn has_input_buffer(&self) -> bool {
        self.input_buffer
    }
}

/// One instance's core functions and memory, called directly.
pub(crate) struct DirectCalls {
    memory: Memory,
    rank: TypedFunc<abi::RankParams, i32>,
    rank_realloc: Realloc,
    rank_post: Option<PostReturn>,
    failover: TypedFunc<i32, i32>,
    failover_realloc: Realloc,
    failover_post: Option<PostReturn>,
    /// The SDK's input buffer in guest memory, if the module has one.
    input: Option<Range<usize>>,
}

impl DirectCalls {
    /// Instantiates the core module in `store`.
    pub(crate) fn instantiate(pre: &DirectPre, store: &mut Store<StoreState>) -> Result<Self> {
        let instance = pre.pre.instantiate(&mut *store)?;
        let memory = instance
            .get_memory(&mut *store, &pre.memory)
            .ok_or_else(|| format_err!("no memory `{}`", pre.memory))?;
        let post = |store: &mut Store<StoreState>, name: &Option<String>| {
            name.as_deref()
                .map(|name| instance.get_typed_func(&mut *store, name))
                .transpose()
        };
        let input = if pre.input_buffer {
            let at: TypedFunc<(), i32> = instance.get_typed_func(&mut *store, INPUT_EXPORT)?;
            let descriptor = at.call(&mut *store, ())? as u32;
            Some(abi::input_buffer(memory.data(&*store), descriptor)?)
        } else {
            None
        };
        Ok(Self {
            memory,
            input,
            rank: instance.get_typed_func(&mut *store, &pre.rank.core)?,
            rank_realloc: instance.get_typed_func(&mut *store, &pre.rank.realloc)?,
            rank_post: post(store, &pre.rank.post_return)?,
            failover: instance.get_typed_func(&mut *store, &pre.failover.core)?,
            failover_realloc: instance.get_typed_func(&mut *store, &pre.failover.realloc)?,
            failover_post: post(store, &pre.failover.post_return)?,
        })
    }

    /// Calls `rank`.
    pub(crate) fn rank(
        &self,
        store: &mut Store<StoreState>,
        request: &Request,
        candidates: &[Candidate],
    ) -> Result<Plan> {
        let list = self.store_candidates(store, &self.rank_realloc, candidates)?;
        let params = abi::rank_params(request, list, candidates.len() as u32);
        let ret = self.rank.call(&mut *store, params)? as u32;
        let plan = abi::lift_plan(self.memory.data(&*store), ret, candidates.len())?;
        if let Some(post) = &self.rank_post {
            post.call(&mut *store, ret as i32)?;
        }
        Ok(plan)
    }

    /// Calls `failover`.
    pub(crate) fn failover(
        &self,
        store: &mut Store<StoreState>,
        request: &Request,
        candidates: &[Candidate],
        failure: &Failure,
    ) -> Result<NextStep> {
        // The canonical ABI's order: the argument tuple is allocated first,
        // then the list while the tuple is stored.
        let args = self.alloc(
            store,
            &self.failover_realloc,
            abi::FAILOVER_ARGS_ALIGN,
            abi::FAILOVER_ARGS_SIZE,
        )?;
        let list = self.store_candidates(store, &self.failover_realloc, candidates)?;
        abi::store_failover_args(
            &mut self.memory.data_mut(&mut *store)[args.clone()],
            request,
            list,
            candidates.len() as u32,
            failure,
        );
        let ret = self.failover.call(&mut *store, args.start as i32)? as u32;
        let step = abi::lift_next_step(self.memory.data(&*store), ret)?;
        if let Some(post) = &self.failover_post {
            post.call(&mut *store, ret as i32)?;
        }
        Ok(step)
    }

    /// Asks the guest for `size` bytes aligned to `align`, and checks what it gave.
    fn alloc(
        &self,
        store: &mut Store<StoreState>,
        realloc: &Realloc,
        align: u32,
        size: usize,
    ) -> Result<Range<usize>> {
        let size32 =
            i32::try_from(size).map_err(|_| format_err!("size overflow copying a list"))?;
        let ptr = realloc.call(&mut *store, (0, 0, align as i32, size32))? as u32;
        abi::region(
            self.memory.data(&*store),
            ptr,
            size,
            align,
            "realloc return",
        )
    }

    /// Places `candidates` in guest memory; returns where.
    fn store_candidates(
        &self,
        store: &mut Store<StoreState>,
        realloc: &Realloc,
        candidates: &[Candidate],
    ) -> Result<u32> {
        let size = candidates
            .len()
            .checked_mul(wire::SIZE)
            .ok_or_else(|| format_err!("size overflow copying a list"))?;
        // Linear memory never shrinks, so the buffer checked at
        // instantiation is still in bounds.
        let at = match &self.input {
            Some(input) if size <= input.len() => input.start..input.start + size,
            _ => self.alloc(store, realloc, abi::CANDIDATE_ALIGN, size)?,
        };
        let start = at.start as u32;
        wire::store_list(&mut self.memory.data_mut(&mut *store)[at], candidates);
        Ok(start)
    }
}
