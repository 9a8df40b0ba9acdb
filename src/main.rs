//! The `lab` binary: parse the command line, run it, turn the result into an exit code.

/// mimalloc: training allocates and frees many mid-sized tensors per step; glibc's allocator
/// returned them to the kernel and faulted them back in (a third of the CPU time was page
/// faults and zeroing), mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's `mi_option_set` (libmimalloc-sys links it; its Rust bindings do not name
    /// the option used below).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (the version libmimalloc-sys builds
/// without its `v3` feature).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() -> std::process::ExitCode {
    // Never hand freed pages back to the kernel: by default mimalloc purges them 10 ms after a
    // free, and a training step frees and reallocates the same tensors every few milliseconds,
    // so each step faulted and zeroed them again (measured with `lab bench train`: system time
    // 1.2–1.9 s → 0.1–0.5 s, the student's training 1.6× faster). A process keeps its peak
    // heap until it exits, which is what every training run needs anyway.
    // SAFETY: sets a plain integer option; mimalloc allows it at any time.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    lab::main()
}
