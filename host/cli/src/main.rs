//! The `azimuth` command: parses arguments and hands them to the library.

fn main() -> std::process::ExitCode {
    azimuth::cli::main()
}
