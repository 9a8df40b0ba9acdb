//! The `lab` binary: parse the command line, run it, turn the result into an exit code.

/// mimalloc: training allocates and frees many mid-sized tensors per step; glibc's allocator
/// returned them to the kernel and faulted them back in (a third of the CPU time was page
/// faults and zeroing), mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lab::main()
}
