//! The `azimuth` command: parses arguments and hands them to the library.

/// mimalloc instead of glibc's malloc: the worker and the gateway allocate
/// per request (headers, bodies, the read path's records), and glibc's
/// malloc and free were a seventh of the gateway's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    azimuth::cli::main()
}
