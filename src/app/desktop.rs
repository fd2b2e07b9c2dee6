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
/// or opens its folder when no file manager answers that call. Waits for the answer (run
/// it off the UI thread): when neither works, the error names the folder to open by hand.
pub fn reveal(path: &Path) -> Result<()> {
    reveal_through(path, "dbus-send", "xdg-open")
}

/// [`reveal`] through the given programs (tests pass ones that fail).
fn reveal_through(path: &Path, dbus_send: &str, opener: &str) -> Result<()> {
    let uri = format!("file://{}", path.display());
    let shown = Command::new(dbus_send)
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
    // xdg-open returns once the folder's application has started (or failed to).
    let opened =
        Command::new(opener).arg(folder).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    let why = match opened {
        Ok(status) if status.success() => return Ok(()),
        Ok(status) => format!("{opener} found no application for folders ({status})"),
        Err(e) => format!("{opener} could not run: {e}"),
    };
    Err(Error::Invalid(format!(
        "Could not show {} in its folder: no file manager answered ({why}). The photo is in {}: open that folder in your file manager, or install one (and xdg-utils) so that Show in folder works",
        path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
        folder.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn showing_a_photo_with_no_file_manager_answering_says_which_folder_to_open() {
        let photo = Path::new("/photos/2024/beach.jpg");
        // Both programs run and fail (`false`), or the opener is not there at all.
        for opener in ["false", "/nonexistent/xdg-open"] {
            let error = reveal_through(photo, "false", opener).unwrap_err().to_string();
            assert!(error.contains("Could not show beach.jpg in its folder"), "{error}");
            assert!(error.contains("The photo is in /photos/2024"), "{error}");
            assert!(error.contains(opener), "{error}");
        }
        // A file manager that answers is success.
        assert!(reveal_through(photo, "true", "false").is_ok());
    }
}
