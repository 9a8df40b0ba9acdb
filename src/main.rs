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

/// `mi_option_purge_delay` in `mimalloc.h`: the same number in v3 (what libmimalloc-sys builds
/// by default) and v2.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Never hand freed pages back to the kernel (`FreedMemory::Keep`): by default mimalloc purges
/// them 10 ms after a free, and a training step frees and reallocates the same tensors every
/// few milliseconds, so each step faulted and zeroed them again (measured with `lab bench
/// train`: system time 1.2–1.9 s → 0.1–0.5 s, the student's training 1.6× faster); such a
/// process keeps its peak heap until it exits, which is what every training run needs anyway.
/// `lab ui` (`FreedMemory::Return`) keeps mimalloc's default: it lives long and its big reads
/// are rare (a million-point history read kept ~150 MB more for good).
fn freed_memory(how: lab::FreedMemory) {
    let delay_ms = match how {
        lab::FreedMemory::Keep => -1,
        lab::FreedMemory::Return => 10,
    };
    // SAFETY: sets a plain integer option; mimalloc allows it at any time.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, delay_ms) };
}

fn main() -> std::process::ExitCode {
    lab::main(freed_memory)
}
