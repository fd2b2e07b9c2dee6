//! Flickr8k (Hodosh, Young and Hockenmaier 2013): 8091 photos with 5 captions each, in
//! either of the two layouts users have.
//!
//! - Official: `Flicker8k_Dataset/` (sic; `Flickr8k_Dataset/` is accepted too) and
//!   `Flickr8k_text/` with `Flickr8k.token.txt` (`IMAGE#N<TAB>caption`) and the split
//!   lists `Flickr_8k.{train,dev,test}Images.txt`.
//! - Kaggle: `Images/` and `captions.txt` (a header `image,caption`, then
//!   `IMAGE,caption` rows). It has no split lists, so the official train and dev lists are
//!   compiled into Glimpse; the test list is not shipped and is read from
//!   `Flickr_8k.testImages.txt` next to `captions.txt` when the user puts it there.
//!
//! Caption rows that cannot be right (no separator, a bad `#N`, a name that is not an image
//! file such as the original's `2258277193_586949ec62.jpg.1`, an empty caption) are skipped
//! and reported in [`Flickr8k::warnings`]. Photos are only checked when a split is asked for,
//! and only that split's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The official train list (6000 images), shipped for copies without split files.
const TRAIN_LIST: &str = include_str!("../../assets/flickr8k-splits/Flickr_8k.trainImages.txt");
/// The official dev list (1000 images), shipped for copies without split files.
const DEV_LIST: &str = include_str!("../../assets/flickr8k-splits/Flickr_8k.devImages.txt");

/// How many missing or caption-less images an error names before it says "…".
const NAMES_SHOWN: usize = 5;

/// One of the official splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// 6000 images to train on.
    Train,
    /// 1000 images to choose models and settings on.
    Dev,
    /// 1000 held-out images to report results on.
    Test,
}

impl Split {
    /// Every split, in the official order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    /// The split's name as users type it: `train`, `dev`, `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }

    /// The official file name of the split's image list.
    pub fn list_file(self) -> &'static str {
        match self {
            Split::Train => "Flickr_8k.trainImages.txt",
            Split::Dev => "Flickr_8k.devImages.txt",
            Split::Test => "Flickr_8k.testImages.txt",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Split {
    type Err = Error;

    fn from_str(s: &str) -> Result<Split> {
        Split::ALL
            .into_iter()
            .find(|split| split.name() == s)
            .ok_or_else(|| Error::Invalid(format!("unknown split '{s}': use train, dev or test")))
    }
}

/// Which of the two known layouts a Flickr8k folder has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The original distribution: `Flicker8k_Dataset/` + `Flickr8k_text/`.
    Official,
    /// The Kaggle copy: `Images/` + `captions.txt`.
    Kaggle,
}

/// One photo of a split with its captions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageCaptions {
    /// The file name, e.g. `1000268201_693b08cb0e.jpg`.
    pub image: String,
    /// Where the photo is (checked to exist).
    pub path: PathBuf,
    /// Its captions as written (official layout: in `#N` order; Kaggle: in file order).
    pub captions: Vec<String>,
}

/// An opened Flickr8k folder: the captions read, the photos not yet looked at.
#[derive(Clone, Debug)]
pub struct Flickr8k {
    root: PathBuf,
    layout: Layout,
    images_dir: PathBuf,
    captions: HashMap<String, Vec<String>>,
    /// Caption rows that were skipped, one line each (file, line number, reason).
    pub warnings: Vec<String>,
}

impl Flickr8k {
    /// Opens the Flickr8k folder `dir`, detecting its layout, and reads its captions.
    pub fn open(dir: &Path) -> Result<Flickr8k> {
        let text_dir = dir.join("Flickr8k_text");
        let token = text_dir.join("Flickr8k.token.txt");
        let kaggle = dir.join("captions.txt");
        let (layout, images_dir, captions_file) = if token.is_file() {
            let images = ["Flicker8k_Dataset", "Flickr8k_Dataset"]
                .into_iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_dir())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{}: the photo folder Flicker8k_Dataset/ is missing (it comes in Flickr8k_Dataset.zip)",
                        dir.display()
                    ))
                })?;
            (Layout::Official, images, token)
        } else if kaggle.is_file() {
            let images = dir.join("Images");
            if !images.is_dir() {
                return Err(Error::Invalid(format!(
                    "{}: captions.txt is there but the photo folder Images/ is missing",
                    dir.display()
                )));
            }
            (Layout::Kaggle, images, kaggle)
        } else {
            return Err(Error::Invalid(format!(
                "{} is not a Flickr8k folder: expected Flickr8k_text/Flickr8k.token.txt and Flicker8k_Dataset/ \
                 (official layout) or captions.txt and Images/ (Kaggle layout)",
                dir.display()
            )));
        };
        let text = std::fs::read_to_string(&captions_file).map_err(|e| Error::io(&captions_file, e))?;
        let origin = captions_file.display().to_string();
        let (captions, warnings) = match layout {
            Layout::Official => parse_official(&text, &origin),
            Layout::Kaggle => parse_kaggle(&text, &origin),
        };
        Ok(Flickr8k { root: dir.to_path_buf(), layout, images_dir, captions, warnings })
    }

    /// The folder's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The folder the photos are in.
    pub fn images_dir(&self) -> &Path {
        &self.images_dir
    }

    /// The image names of `split`, in the order of its official list.
    pub fn split_names(&self, split: Split) -> Result<Vec<String>> {
        let (list, origin) = match (self.layout, split) {
            (Layout::Kaggle, Split::Train) => (TRAIN_LIST.to_string(), "Glimpse's shipped train list".to_string()),
            (Layout::Kaggle, Split::Dev) => (DEV_LIST.to_string(), "Glimpse's shipped dev list".to_string()),
            (layout, split) => {
                let folder = match layout {
                    Layout::Official => self.root.join("Flickr8k_text"),
                    Layout::Kaggle => self.root.clone(),
                };
                let path = folder.join(split.list_file());
                if !path.is_file() {
                    let shipped = if layout == Layout::Kaggle { " is not shipped with Glimpse" } else { " is missing" };
                    return Err(Error::Invalid(format!(
                        "the {split} split list{shipped}; put {} in {} (it is in the official Flickr8k_text.zip)",
                        split.list_file(),
                        folder.display()
                    )));
                }
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                (text, path.display().to_string())
            }
        };
        let names: Vec<String> = list.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        if names.is_empty() {
            return Err(Error::Invalid(format!("{origin}: the {split} split list is empty")));
        }
        Ok(names)
    }

    /// The photos of `split` with their captions. Every photo of the split must be on disk
    /// and have a caption; the error names how many do not, and the first few.
    pub fn split(&self, split: Split) -> Result<Vec<ImageCaptions>> {
        let names = self.split_names(split)?;
        let uncaptioned: Vec<&str> =
            names.iter().filter(|n| !self.captions.contains_key(*n)).map(String::as_str).collect();
        if !uncaptioned.is_empty() {
            return Err(Error::Invalid(format!(
                "{} of the {} {split} images have no caption in {}: {}",
                uncaptioned.len(),
                names.len(),
                self.root.display(),
                first_few(&uncaptioned)
            )));
        }
        let items: Vec<ImageCaptions> = names
            .into_iter()
            .map(|image| ImageCaptions {
                path: self.images_dir.join(&image),
                captions: self.captions.get(&image).cloned().unwrap_or_default(),
                image,
            })
            .collect();
        let missing: Vec<&str> = items.iter().filter(|i| !i.path.is_file()).map(|i| i.image.as_str()).collect();
        if !missing.is_empty() {
            return Err(Error::Invalid(format!(
                "{} of the {} {split} photos are missing from {}: {}",
                missing.len(),
                items.len(),
                self.images_dir.display(),
                first_few(&missing)
            )));
        }
        Ok(items)
    }
}

/// `a.jpg, b.jpg, c.jpg, …` with at most [`NAMES_SHOWN`] names.
fn first_few(names: &[&str]) -> String {
    let shown = names.iter().take(NAMES_SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > NAMES_SHOWN { format!("{shown}, …") } else { shown }
}

/// Why `name` cannot be a photo's file name, if it cannot.
fn bad_image_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("no image name");
    }
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Some("not a plain file name");
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jpg" | "jpeg" | "png") => None,
        _ => Some("not an image file name"),
    }
}

type Parsed = (HashMap<String, Vec<String>>, Vec<String>);

/// Reads `IMAGE#N<TAB>caption` rows; captions of an image end up in `#N` order.
fn parse_official(text: &str, origin: &str) -> Parsed {
    let mut numbered: HashMap<String, Vec<(u32, String)>> = HashMap::new();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let warn = |reason: String| format!("{origin}, line {}: {reason}; skipped", i + 1);
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, caption)) = line.split_once('\t') else {
            warnings.push(warn("no tab between IMAGE#N and the caption".into()));
            continue;
        };
        let Some((image, n)) = key.trim().rsplit_once('#') else {
            warnings.push(warn(format!("'{key}' has no #N caption number")));
            continue;
        };
        let Ok(n) = n.parse::<u32>() else {
            warnings.push(warn(format!("'{key}' has a bad caption number '#{n}'")));
            continue;
        };
        if let Some(reason) = bad_image_name(image) {
            warnings.push(warn(format!("'{image}' is {reason}")));
            continue;
        }
        let caption = caption.trim();
        if caption.is_empty() {
            warnings.push(warn(format!("{key} has an empty caption")));
            continue;
        }
        let entry = numbered.entry(image.to_string()).or_default();
        if entry.iter().any(|(m, _)| *m == n) {
            warnings.push(warn(format!("{key} appears twice")));
            continue;
        }
        entry.push((n, caption.to_string()));
    }
    let captions = numbered
        .into_iter()
        .map(|(image, mut caps)| {
            caps.sort_by_key(|(n, _)| *n);
            (image, caps.into_iter().map(|(_, c)| c).collect())
        })
        .collect();
    (captions, warnings)
}

/// Reads `image,caption` rows after the header; a caption with commas or quotes is in CSV
/// quotes (`"…"`, with `""` for a quote inside).
fn parse_kaggle(text: &str, origin: &str) -> Parsed {
    let mut captions: HashMap<String, Vec<String>> = HashMap::new();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let warn = |reason: String| format!("{origin}, line {}: {reason}; skipped", i + 1);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || (i == 0 && line.trim() == "image,caption") {
            continue;
        }
        let Some((image, caption)) = line.split_once(',') else {
            warnings.push(warn("no comma between the image name and the caption".into()));
            continue;
        };
        let image = image.trim();
        if let Some(reason) = bad_image_name(image) {
            warnings.push(warn(format!("'{image}' is {reason}")));
            continue;
        }
        let caption = caption.trim();
        let caption = match caption.strip_prefix('"') {
            Some(quoted) => match quoted.strip_suffix('"') {
                Some(inner) => inner.replace("\"\"", "\""),
                None => {
                    warnings.push(warn("a caption's opening quote is never closed".into()));
                    continue;
                }
            },
            None => caption.to_string(),
        };
        if caption.trim().is_empty() {
            warnings.push(warn(format!("{image} has an empty caption")));
            continue;
        }
        captions.entry(image.to_string()).or_default().push(caption.trim().to_string());
    }
    (captions, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `n` names of a shipped list, so that Kaggle-layout fixtures match it.
    fn shipped(list: &str, n: usize) -> Vec<String> {
        list.lines().take(n).map(String::from).collect()
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"not decoded by the loader").unwrap();
    }

    /// An official-layout folder: images `t1`, `t2` (train), `d1` (dev) with 2 captions each,
    /// plus the given extra token rows.
    fn official(extra_rows: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["t1.jpg", "t2.jpg", "d1.jpg"] {
            touch(&root.join("Flicker8k_Dataset").join(name));
        }
        let text = root.join("Flickr8k_text");
        std::fs::create_dir_all(&text).unwrap();
        let rows = "t1.jpg#1\tA dog runs .\nt1.jpg#0\tA brown dog .\nt2.jpg#0\tTwo girls .\nt2.jpg#1\tGirls play .\n\
                    d1.jpg#0\tA red car .\nd1.jpg#1\tA car on a road .\n";
        std::fs::write(text.join("Flickr8k.token.txt"), format!("{rows}{extra_rows}")).unwrap();
        std::fs::write(text.join("Flickr_8k.trainImages.txt"), "t1.jpg\nt2.jpg\n").unwrap();
        std::fs::write(text.join("Flickr_8k.devImages.txt"), "d1.jpg\n").unwrap();
        dir
    }

    /// A Kaggle-layout folder with the first 2 shipped train images and the first shipped
    /// dev image, 2 captions each.
    fn kaggle() -> (tempfile::TempDir, Vec<String>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let (train, dev) = (shipped(TRAIN_LIST, 2), shipped(DEV_LIST, 1));
        let mut csv = String::from("image,caption\n");
        for name in train.iter().chain(&dev) {
            touch(&dir.path().join("Images").join(name));
            csv += &format!("{name},A dog runs through the water .\n");
            csv += &format!("{name},\"A dog, wet, says \"\"woof\"\" .\"\n");
        }
        std::fs::write(dir.path().join("captions.txt"), csv).unwrap();
        (dir, train, dev)
    }

    fn refusal<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_official_layout_gives_each_split_with_captions_in_number_order() {
        let dir = official("");
        let data = Flickr8k::open(dir.path()).unwrap();
        assert_eq!(data.layout(), Layout::Official);
        assert!(data.warnings.is_empty(), "{:?}", data.warnings);
        let train = data.split(Split::Train).unwrap();
        assert_eq!(train.len(), 2);
        assert_eq!(train[0].image, "t1.jpg");
        assert_eq!(train[0].path, dir.path().join("Flicker8k_Dataset/t1.jpg"));
        assert_eq!(train[0].captions, ["A brown dog .", "A dog runs ."]);
        assert_eq!(data.split(Split::Dev).unwrap()[0].captions, ["A red car .", "A car on a road ."]);
    }

    #[test]
    fn malformed_rows_are_skipped_with_a_warning_each() {
        let dir = official(
            "t9.jpg.1#0\tpeople waiting for the subway\nno tab here\nt1.jpg#x\tA dog .\nt1.jpg\tA dog .\n\
             t1.jpg#0\tThe same number again .\nt2.jpg#3\t   \n\n",
        );
        let data = Flickr8k::open(dir.path()).unwrap();
        let w = &data.warnings;
        assert_eq!(w.len(), 6, "{w:#?}");
        assert!(
            w[0].ends_with("Flickr8k.token.txt, line 7: 't9.jpg.1' is not an image file name; skipped"),
            "{}",
            w[0]
        );
        assert!(w[1].contains("line 8: no tab"));
        assert!(w[2].contains("line 9: 't1.jpg#x' has a bad caption number '#x'"));
        assert!(w[3].contains("line 10: 't1.jpg' has no #N"));
        assert!(w[4].contains("line 11: t1.jpg#0 appears twice"));
        assert!(w[5].contains("line 12: t2.jpg#3 has an empty caption"));
        assert_eq!(data.split(Split::Train).unwrap()[0].captions, ["A brown dog .", "A dog runs ."]);
    }

    #[test]
    fn a_missing_photo_of_the_requested_split_is_an_error_naming_it() {
        let dir = official("");
        std::fs::remove_file(dir.path().join("Flicker8k_Dataset/t2.jpg")).unwrap();
        let data = Flickr8k::open(dir.path()).unwrap();
        let m = refusal(data.split(Split::Train));
        assert!(m.starts_with("1 of the 2 train photos are missing from "), "{m}");
        assert!(m.ends_with("Flicker8k_Dataset: t2.jpg"), "{m}");
        // Other splits do not need it.
        assert_eq!(data.split(Split::Dev).unwrap().len(), 1);
    }

    #[test]
    fn an_image_of_a_split_without_captions_is_an_error() {
        let dir = official("");
        std::fs::write(dir.path().join("Flickr8k_text/Flickr_8k.devImages.txt"), "d1.jpg\nd2.jpg\n").unwrap();
        let m = refusal(Flickr8k::open(dir.path()).unwrap().split(Split::Dev));
        assert!(m.starts_with("1 of the 2 dev images have no caption in "), "{m}");
        assert!(m.ends_with(": d2.jpg"), "{m}");
    }

    #[test]
    fn a_missing_split_list_says_where_to_put_it() {
        let dir = official("");
        let data = Flickr8k::open(dir.path()).unwrap();
        let m = refusal(data.split(Split::Test));
        assert!(m.contains("the test split list is missing; put Flickr_8k.testImages.txt in "), "{m}");
        assert!(m.contains("Flickr8k_text"), "{m}");
    }

    #[test]
    fn the_kaggle_layout_uses_the_shipped_lists_and_reads_quoted_captions() {
        let (dir, train, dev) = kaggle();
        let data = Flickr8k::open(dir.path()).unwrap();
        assert_eq!(data.layout(), Layout::Kaggle);
        assert!(data.warnings.is_empty(), "{:?}", data.warnings);
        assert_eq!(data.images_dir(), dir.path().join("Images"));
        // The shipped train list has 6000 images; only these two are in this folder.
        let m = refusal(data.split(Split::Train));
        assert!(m.starts_with("5998 of the 6000 train images have no caption"), "{m}");
        assert!(m.ends_with(", …"), "{m}");
        assert_eq!(data.split_names(Split::Train).unwrap()[..2], train[..]);
        let names = data.split_names(Split::Dev).unwrap();
        assert_eq!((names.len(), &names[0]), (1000, &dev[0]));
    }

    #[test]
    fn the_kaggle_layout_gives_a_full_split_with_its_captions() {
        let (dir, _, _) = kaggle();
        let images = dir.path().join("Images");
        let mut csv = std::fs::read_to_string(dir.path().join("captions.txt")).unwrap();
        for name in shipped(DEV_LIST, 1000).iter().skip(1) {
            touch(&images.join(name));
            csv += &format!("{name},A caption .\n");
        }
        csv += "2258277193_586949ec62.jpg.1,people waiting for the subway\nno comma\nx.jpg,\"unclosed\n";
        std::fs::write(dir.path().join("captions.txt"), csv).unwrap();
        let data = Flickr8k::open(dir.path()).unwrap();
        assert_eq!(data.warnings.len(), 3, "{:#?}", data.warnings);
        assert!(data.warnings[0].contains("'2258277193_586949ec62.jpg.1' is not an image file name"));
        let dev = data.split(Split::Dev).unwrap();
        assert_eq!(dev.len(), 1000);
        assert_eq!(dev[0].captions, ["A dog runs through the water .", "A dog, wet, says \"woof\" ."]);
        assert_eq!(dev[1].captions, ["A caption ."]);
    }

    #[test]
    fn the_kaggle_test_split_needs_a_list_from_the_user() {
        let (dir, train, _) = kaggle();
        let data = Flickr8k::open(dir.path()).unwrap();
        let m = refusal(data.split(Split::Test));
        assert_eq!(
            m,
            format!(
                "the test split list is not shipped with Glimpse; put Flickr_8k.testImages.txt in {} \
                 (it is in the official Flickr8k_text.zip)",
                dir.path().display()
            )
        );
        std::fs::write(dir.path().join("Flickr_8k.testImages.txt"), format!("{}\n", train[1])).unwrap();
        let test = data.split(Split::Test).unwrap();
        assert_eq!(test.len(), 1);
        assert_eq!(test[0].image, train[1]);
    }

    #[test]
    fn a_folder_of_neither_layout_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let m = refusal(Flickr8k::open(dir.path()));
        assert!(m.contains("is not a Flickr8k folder"), "{m}");
        assert!(m.contains("official layout") && m.contains("Kaggle layout"), "{m}");
        std::fs::write(dir.path().join("captions.txt"), "image,caption\n").unwrap();
        assert!(refusal(Flickr8k::open(dir.path())).contains("Images/ is missing"));
        let dir = official("");
        std::fs::rename(dir.path().join("Flicker8k_Dataset"), dir.path().join("Flickr8k_Dataset")).unwrap();
        assert!(Flickr8k::open(dir.path()).unwrap().split(Split::Train).is_ok());
        std::fs::remove_dir_all(dir.path().join("Flickr8k_Dataset")).unwrap();
        assert!(refusal(Flickr8k::open(dir.path())).contains("Flicker8k_Dataset/ is missing"));
    }

    #[test]
    fn splits_parse_from_their_names() {
        assert_eq!("dev".parse::<Split>().unwrap(), Split::Dev);
        assert!(refusal("val".parse::<Split>()).contains("use train, dev or test"));
        assert_eq!(Split::Test.to_string(), "test");
    }

    #[test]
    fn the_shipped_split_lists_are_the_official_disjoint_ones() {
        let train = shipped(TRAIN_LIST, usize::MAX);
        let dev = shipped(DEV_LIST, usize::MAX);
        assert_eq!((train.len(), dev.len()), (6000, 1000));
        let all: std::collections::HashSet<&String> = train.iter().chain(&dev).collect();
        assert_eq!(all.len(), 7000);
        assert!(all.iter().all(|n| bad_image_name(n).is_none()));
        assert_eq!(train[0], "2513260012_03d33305cf.jpg");
        assert_eq!(dev[0], "2090545563_a4e66ec76b.jpg");
    }

    #[test]
    fn the_real_flickr8k_has_6000_train_and_1000_dev_photos_with_5_captions() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flickr8k");
        if !root.join("Flickr8k_text").exists() {
            eprintln!("skipped: {} is absent", root.display());
            return;
        }
        let data = Flickr8k::open(&root).unwrap();
        assert_eq!(data.layout(), Layout::Official);
        assert_eq!(data.warnings.len(), 5, "{:#?}", data.warnings);
        assert!(data.warnings.iter().all(|w| w.contains("'2258277193_586949ec62.jpg.1' is not an image file name")));
        for (split, n) in [(Split::Train, 6000), (Split::Dev, 1000)] {
            let items = data.split(split).unwrap();
            assert_eq!(items.len(), n);
            assert!(items.iter().all(|i| i.captions.len() == 5), "{split}");
        }
        assert_eq!(data.split_names(Split::Train).unwrap(), shipped(TRAIN_LIST, usize::MAX));
        assert!(refusal(data.split(Split::Test)).contains("put Flickr_8k.testImages.txt in"));
    }
}
