//! Hands a photo to the desktop: open it in the default viewer, or show it in its folder.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// Starts `program args…` detached from the app, its output discarded.
fn launch(program: &str, args: &[&std::ffi::OsStr]) -> std::io::Result<()> {
    Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().map(
        |mut child| {
            // Reap it in the background so it does not linger as a zombie.
            let _ = std::thread::Builder::new().name("glimpse-launch".into()).spawn(move || child.wait());
        },
    )
}

/// Opens `path` with the desktop's default application (`xdg-open`).
pub fn open(path: &Path) -> Result<()> {
    launch("xdg-open", &[path.as_os_str()]).map_err(|e| {
        Error::Invalid(format!("cannot open {}: xdg-open failed ({e}); install xdg-utils", path.display()))
    })
}

/// Shows `path` selected in the file manager (the freedesktop `FileManager1.ShowItems` call),
/// or opens its folder when no file manager answers that call.
pub fn reveal(path: &Path) -> Result<()> {
    let uri = format!("file://{}", path.display());
    let shown = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.FileManager1",
            "/org/freedesktop/FileManager1",
            "org.freedesktop.FileManager1.ShowItems",
        ])
        .arg(format!("array:string:{uri}"))
        .arg("string:")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if shown {
        return Ok(());
    }
    let folder = path.parent().unwrap_or(path);
    launch("xdg-open", &[folder.as_os_str()]).map_err(|e| {
        Error::Invalid(format!("cannot show {}: xdg-open failed ({e}); install xdg-utils", folder.display()))
    })
}
