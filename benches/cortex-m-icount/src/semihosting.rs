//! The two Arm semihosting calls the harness makes: write a line to QEMU's console, end
//! the run with an exit status. A semihosting call is `BKPT 0xAB` with the operation in
//! r0 and its argument in r1 (Arm's "Semihosting for `AArch32` and `AArch64`"); QEMU serves
//! it when started with `-semihosting-config enable=on,target=native`.

/// `SYS_WRITE0`: writes a NUL-terminated string to the debug console.
const SYS_WRITE0: u32 = 0x04;
/// `SYS_EXIT`: ends the program; on `AArch32` the argument is the reason itself.
const SYS_EXIT: u32 = 0x18;
/// The reason "application exit": QEMU exits with status 0.
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;
/// The reason "run-time error": QEMU exits with status 1.
const ADP_STOPPED_RUN_TIME_ERROR_UNKNOWN: u32 = 0x2_0024;

/// Writes `text`, which must end with a NUL (anything after the first NUL is not
/// written; without a NUL nothing is).
pub(crate) fn write(text: &[u8]) {
    if text.contains(&0) {
        call(SYS_WRITE0, text.as_ptr() as usize);
    }
}

/// Ends the run: QEMU exits with status 0 if `success`, else 1.
pub(crate) fn exit(success: bool) -> ! {
    let reason = if success {
        ADP_STOPPED_APPLICATION_EXIT
    } else {
        ADP_STOPPED_RUN_TIME_ERROR_UNKNOWN
    };
    call(SYS_EXIT, reason as usize);
    // Without a debugger or QEMU behind it the BKPT would have faulted; if it returns
    // anyway, stay here (xtask's time-out ends QEMU).
    loop {
        core::hint::spin_loop();
    }
}

/// One semihosting call: operation `op`, argument `arg` (a value or a pointer).
fn call(op: u32, arg: usize) -> usize {
    let result: usize;
    // SAFETY: `BKPT 0xAB` traps to the semihosting host, which reads r0 and r1, may read
    // the memory r1 points at (SYS_WRITE0: a NUL-terminated string the caller checked
    // for) and writes its result to r0; it touches no other register, no stack and no
    // memory of ours. The asm is not `nomem`, so the compiler assumes memory is read.
    unsafe {
        core::arch::asm!(
            "bkpt #0xab",
            inout("r0") op as usize => result,
            in("r1") arg,
            options(nostack, preserves_flags),
        );
    }
    result
}
