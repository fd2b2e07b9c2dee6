//! What libheif and LibRaw have in common: C libraries Glimpse opens at run time, once per
//! process, so that a machine without one still starts and says which package to install.

// Reading a C string the library owns is this module's one unsafe step; the caller vouches
// for the pointer.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char};
use std::sync::OnceLock;

/// The library `cell` holds, opened by `load` on the first call; every later call gets the
/// same answer (an error is kept too: a missing library is not looked for per photo).
pub(super) fn once<T>(
    cell: &'static OnceLock<Result<T, String>>,
    load: fn() -> Result<T, String>,
) -> Result<&'static T, &'static str> {
    cell.get_or_init(load).as_ref().map_err(String::as_str)
}

/// Why photos of `what` cannot be read on this machine: `library` could not be loaded
/// (`why`), and the `package` that brings it.
pub(super) fn unavailable(what: &str, library: &str, package: &str, why: &str) -> String {
    format!(
        "{what} photos need {library}, which could not be loaded ({why}); install the {package} package \
         (sudo apt install {package}) and index again"
    )
}

/// True when `reason` is one [`unavailable`] wrote: such a skip is tried again once the
/// library loads.
pub fn is_unavailable(reason: &str) -> bool {
    reason.contains(" photos need ") && reason.contains(", which could not be loaded (")
}

/// A NUL-terminated string the library returned, as text (empty for a null pointer).
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that lives while this runs.
pub(super) unsafe fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the caller's promise above.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}
