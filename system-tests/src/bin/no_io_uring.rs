//! `arxi-no-io-uring PROGRAM [ARGS...]`: runs PROGRAM with the io_uring
//! system calls refused (EPERM), exactly as Docker >= 25's default seccomp
//! profile refuses them, so the sidecar's epoll fallback is exercised for
//! real. A test helper; never shipped.

#![forbid(unsafe_code)]

use std::os::unix::process::CommandExt as _;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: arxi-no-io-uring PROGRAM [ARGS...]");
        std::process::exit(64);
    };
    let arch = if cfg!(target_arch = "aarch64") {
        TargetArch::aarch64
    } else {
        TargetArch::x86_64
    };
    let rules = [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ]
    .into_iter()
    .map(|syscall| (syscall, Vec::new()))
    .collect();
    let built: Result<BpfProgram, String> = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(u32::try_from(libc::EPERM).unwrap_or(1)),
        arch,
    )
    .map_err(|error| error.to_string())
    .and_then(|filter| BpfProgram::try_from(filter).map_err(|error| error.to_string()));
    let filter = built.unwrap_or_else(|error| {
        eprintln!("arxi-no-io-uring: building the filter: {error}");
        std::process::exit(1);
    });
    if let Err(error) = seccompiler::apply_filter(&filter) {
        eprintln!("arxi-no-io-uring: applying the filter: {error}");
        std::process::exit(1);
    }
    let error = std::process::Command::new(&program).args(args).exec();
    eprintln!(
        "arxi-no-io-uring: exec {}: {error}",
        program.to_string_lossy()
    );
    std::process::exit(1);
}
