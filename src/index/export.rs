//! Exporting photos into a folder of their own: each photo copied (or linked) there with an
//! XMP sidecar (`NAME.EXT.xmp`, as darktable and digiKam name them) whose `dc:subject` holds
//! the keywords (collection and concept names), which digiKam, darktable and Lightroom read
//! as tags. The photos themselves are never written to.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Exported {
    /// Photos copied or linked.
    pub photos: usize,
    /// Sidecars written.
    pub sidecars: usize,
    /// Photos already there from an earlier export (same name, same size): their sidecar is
    /// written again, the photo is not.
    pub already_there: usize,
}

/// `text` with the five XML special characters escaped.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An XMP packet with `keywords` as `dc:subject` and, when there is one, `description` as
/// `dc:description` (the default-language alternative).
pub fn xmp(keywords: &[String], description: Option<&str>) -> String {
    let mut body = String::new();
    if !keywords.is_empty() {
        body.push_str("   <dc:subject>\n    <rdf:Bag>\n");
        for k in keywords {
            body.push_str(&format!("     <rdf:li>{}</rdf:li>\n", escaped(k)));
        }
        body.push_str("    </rdf:Bag>\n   </dc:subject>\n");
    }
    if let Some(d) = description {
        body.push_str(&format!(
            "   <dc:description>\n    <rdf:Alt>\n     <rdf:li xml:lang=\"x-default\">{}</rdf:li>\n    </rdf:Alt>\n   </dc:description>\n",
            escaped(d)
        ));
    }
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n  <rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n{body}  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n"
    )
}

/// The name `photo` gets in `dir`: its own, or with `-2`, `-3`, … before the extension when
/// another photo of that name is there (two folders' `IMG_0001.jpg`). A file of that name
/// and size is taken as this photo from an earlier export.
fn target(dir: &Path, photo: &Path, size: u64) -> (PathBuf, bool) {
    let name = photo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "photo".into());
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    let mut n = 1;
    loop {
        let candidate = if n == 1 { dir.join(&name) } else { dir.join(format!("{stem}-{n}{ext}")) };
        match std::fs::symlink_metadata(&candidate) {
            Err(_) => return (candidate, false),
            Ok(m) => {
                let same = std::fs::metadata(&candidate).map(|t| t.len() == size).unwrap_or(false) && m.len() > 0;
                if same {
                    return (candidate, true);
                }
            }
        }
        n += 1;
    }
}

/// Copies (or, with `link`, symlinks) `photos` into `dir` (made when missing), each with a
/// sidecar of `keywords` (and its description from `describe`, when it has one).
pub fn export(
    photos: &[PathBuf],
    dir: &Path,
    link: bool,
    keywords: &[String],
    describe: &dyn Fn(&Path) -> Option<String>,
) -> Result<Exported> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut report = Exported::default();
    for photo in photos {
        let size = std::fs::metadata(photo).map_err(|e| Error::io(photo, e))?.len();
        let (to, there) = target(dir, photo, size);
        if there {
            report.already_there += 1;
        } else if link {
            std::os::unix::fs::symlink(photo, &to).map_err(|e| Error::io(&to, e))?;
            report.photos += 1;
        } else {
            std::fs::copy(photo, &to).map_err(|e| Error::io(&to, e))?;
            report.photos += 1;
        }
        let mut sidecar = to.into_os_string();
        sidecar.push(".xmp");
        let text = xmp(keywords, describe(photo).as_deref());
        crate::durable::write_atomically(Path::new(&sidecar), &[text.as_bytes()])?;
        report.sidecars += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_holds_the_keywords_escaped_and_the_description() {
        let text = xmp(&["Rex".into(), "Tom & Jerry <3".into()], Some("a dog \"running\""));
        assert!(text.contains("<rdf:li>Rex</rdf:li>"));
        assert!(text.contains("<rdf:li>Tom &amp; Jerry &lt;3</rdf:li>"));
        assert!(text.contains("<rdf:li xml:lang=\"x-default\">a dog &quot;running&quot;</rdf:li>"));
        assert!(!xmp(&[], None).contains("dc:subject"));
    }

    #[test]
    fn photos_of_the_same_name_get_their_own_and_an_export_again_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("IMG_1.jpg"), b"first").unwrap();
        std::fs::write(b.join("IMG_1.jpg"), b"second one").unwrap();
        let photos = vec![a.join("IMG_1.jpg"), b.join("IMG_1.jpg")];
        let out = dir.path().join("out");
        let done = export(&photos, &out, false, &["Rex".into()], &|_| None).unwrap();
        assert_eq!((done.photos, done.sidecars, done.already_there), (2, 2, 0));
        assert_eq!(std::fs::read(out.join("IMG_1-2.jpg")).unwrap(), b"second one");
        assert!(std::fs::read_to_string(out.join("IMG_1-2.jpg.xmp")).unwrap().contains("<rdf:li>Rex</rdf:li>"));
        let again = export(&photos, &out, false, &["Rex".into()], &|_| None).unwrap();
        assert_eq!((again.photos, again.already_there), (0, 2));
        assert_eq!(std::fs::read(a.join("IMG_1.jpg")).unwrap(), b"first", "the photo is untouched");
    }
}
