//! Faults staged with the machine's tools, and when they may be skipped.

use super::TestResult;

/// Whether tests that stage faults with the machine's tools (mounting a
/// tmpfs, `faketime`, signals to a process) must run rather than skip
/// where the machine refuses: CI sets `HERALD_REQUIRE_FAULT_TOOLS`.
pub fn fault_tools_required() -> bool {
    std::env::var_os("HERALD_REQUIRE_FAULT_TOOLS").is_some()
}

/// Skips a fault test for `reason`, with a line saying so, unless CI
/// requires it to run: then it fails.
pub fn skip_fault_test(reason: &str) -> TestResult {
    if fault_tools_required() {
        return Err(format!(
            "cannot stage the fault, and HERALD_REQUIRE_FAULT_TOOLS is set: {reason}"
        )
        .into());
    }
    eprintln!("skipped: {reason}");
    Ok(())
}
