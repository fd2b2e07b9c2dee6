//! Narrowing a search: by folder, date and file type, applied before top-K so that K
//! results come back whenever K photos pass; ordering the best matches by date; and the
//! dates themselves (EXIF, calendar days).

use std::path::{Path, PathBuf};

use super::contents::PhotoEntry;
use crate::{Error, Result};

/// Where a photo's date comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DateSource {
    /// EXIF DateTimeOriginal (camera time).
    Exif,
    /// The file's modification time.
    Mtime,
}

/// A photo's date in seconds since the epoch: EXIF when present, else the file's mtime.
pub fn date_of(entry: &PhotoEntry) -> (i64, DateSource) {
    match entry.taken {
        Some(t) => (t, DateSource::Exif),
        None => (entry.mtime_ns.div_euclid(1_000_000_000), DateSource::Mtime),
    }
}

/// Which photos a search may return.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only photos under this folder.
    pub folder: Option<PathBuf>,
    /// Only photos dated at or after this (seconds since the epoch).
    pub after: Option<i64>,
    /// Only photos dated before this.
    pub before: Option<i64>,
    /// Only these file types (extensions, lower case; `jpg` also means `jpeg`, `tif` `tiff`).
    pub types: Vec<String>,
}

/// True when the stored path `path` lies under `folder` (whole components, like
/// `Path::starts_with`).
fn inside(path: &[u8], folder: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let f = folder.as_os_str().as_bytes();
    path.starts_with(f) && (path.len() == f.len() || f.ends_with(b"/") || path[f.len()] == b'/')
}

impl Filter {
    /// True when no condition is set.
    pub fn is_empty(&self) -> bool {
        self.folder.is_none() && self.after.is_none() && self.before.is_none() && self.types.is_empty()
    }

    /// True when `entry` passes every condition.
    pub fn accepts(&self, entry: &PhotoEntry) -> bool {
        // On the stored bytes: no allocation per photo, which a search pays 100k times.
        if let Some(folder) = &self.folder
            && !inside(&entry.path, folder)
        {
            return false;
        }
        if self.after.is_some() || self.before.is_some() {
            let (date, _) = date_of(entry);
            if self.after.is_some_and(|a| date < a) || self.before.is_some_and(|b| date >= b) {
                return false;
            }
        }
        if !self.types.is_empty() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).map(canonical_type).unwrap_or_default();
            if !self.types.iter().any(|t| canonical_type(t) == ext) {
                return false;
            }
        }
        true
    }

    /// The filter a person typed: a folder, `YYYY-MM-DD` days and a `jpg,png` list, each
    /// optional; what `--in/--after/--before/--type` and the app's filter fields give.
    pub fn from_text(
        folder: Option<&Path>,
        after: Option<&str>,
        before: Option<&str>,
        types: Option<&str>,
    ) -> Result<Filter> {
        Ok(Filter {
            folder: folder.map(Filter::folder).transpose()?,
            after: after.map(parse_date).transpose()?,
            before: before.map(parse_date).transpose()?,
            types: types.map(Filter::parse_types).unwrap_or_default(),
        })
    }

    /// Parses `--type jpg,png` style lists.
    pub fn parse_types(list: &str) -> Vec<String> {
        list.split(',')
            .map(|t| t.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Resolves a folder given by the user (relative paths, symbolic links) the way the
    /// index stores paths.
    pub fn folder(dir: &Path) -> Result<PathBuf> {
        std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))
    }
}

fn canonical_type(ext: &str) -> String {
    match ext.to_ascii_lowercase().as_str() {
        "jpeg" => "jpg".into(),
        "tiff" => "tif".into(),
        other => other.into(),
    }
}

/// Parses `YYYY-MM-DD` into seconds since the epoch at the start of that day (UTC).
pub fn parse_date(text: &str) -> Result<i64> {
    let bad = || Error::Invalid(format!("'{text}' is not a date: write it as YYYY-MM-DD"));
    let mut parts = text.trim().split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    days_from_civil(y, m, d).map(|days| days * 86_400).ok_or_else(bad)
}

/// Seconds since the epoch → the UTC day as `YYYY-MM-DD` (what [`parse_date`] reads).
pub fn format_date(seconds: i64) -> String {
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// How results are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Best match first.
    #[default]
    Relevance,
    /// Among the best matches, newest first.
    Newest,
    /// Among the best matches, oldest first.
    Oldest,
}

impl std::fmt::Display for SortOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SortOrder::Relevance => "relevance",
            SortOrder::Newest => "newest",
            SortOrder::Oldest => "oldest",
        })
    }
}

impl std::str::FromStr for SortOrder {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "relevance" => Ok(SortOrder::Relevance),
            "newest" => Ok(SortOrder::Newest),
            "oldest" => Ok(SortOrder::Oldest),
            other => Err(Error::Invalid(format!("unknown order '{other}': use relevance, newest or oldest"))),
        }
    }
}

/// EXIF DateTimeOriginal as seconds since the epoch (camera local time taken as UTC).
pub fn exif_taken(path: &Path) -> Option<i64> {
    let (file, _) = crate::files::open_regular(path, u64::MAX).ok()?;
    let exif = exif::Reader::new().read_from_container(&mut std::io::BufReader::new(file)).ok()?;
    let field = exif.get_field(exif::Tag::DateTimeOriginal, exif::In::PRIMARY)?;
    let exif::Value::Ascii(ref v) = field.value else { return None };
    let dt = exif::DateTime::from_ascii(v.first()?).ok()?;
    days_from_civil(i64::from(dt.year), i64::from(dt.month), i64::from(dt.day))
        .map(|days| days * 86_400 + i64::from(dt.hour) * 3600 + i64::from(dt.minute) * 60 + i64::from(dt.second))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The inverse of [`days_from_civil`]: days since 1970-01-01 → (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, taken: Option<i64>, mtime_s: i64) -> PhotoEntry {
        PhotoEntry {
            path: path.as_bytes().to_vec(),
            size: 1,
            mtime_ns: mtime_s * 1_000_000_000,
            hash: [0; 16],
            width: 1,
            height: 1,
            taken,
            features: Vec::new(),
            joint: Vec::new(),
            cold_row: None,
        }
    }

    #[test]
    fn folder_matching_is_by_whole_path_components() {
        let folder = Path::new("/photos/2024");
        assert!(inside(b"/photos/2024/a.jpg", folder));
        assert!(inside(b"/photos/2024/trip/b.jpg", folder));
        assert!(!inside(b"/photos/2024-old/a.jpg", folder));
        assert!(!inside(b"/photos/20", folder));
        assert!(inside(b"/a.jpg", Path::new("/")));
    }

    #[test]
    fn the_date_is_exif_when_present_and_else_the_modification_time() {
        assert_eq!(date_of(&entry("/a.jpg", Some(100), 999)), (100, DateSource::Exif));
        assert_eq!(date_of(&entry("/a.jpg", None, 999)), (999, DateSource::Mtime));
    }

    #[test]
    fn folder_date_and_type_conditions_combine() {
        let day = parse_date("2024-06-01").unwrap();
        let filter = Filter {
            folder: Some("/photos/2024".into()),
            after: Some(day),
            before: Some(parse_date("2024-07-01").unwrap()),
            types: Filter::parse_types("JPG, .png"),
        };
        assert!(filter.accepts(&entry("/photos/2024/a.jpeg", Some(day + 5), 0)));
        assert!(filter.accepts(&entry("/photos/2024/sub/b.PNG", None, day + 86_400)));
        assert!(!filter.accepts(&entry("/photos/2023/a.jpg", Some(day + 5), 0)), "other folder");
        assert!(
            !filter.accepts(&entry("/photos/2024x/a.jpg", Some(day + 5), 0)),
            "a sibling folder with a longer name"
        );
        assert!(!filter.accepts(&entry("/photos/2024/a.jpg", Some(day - 1), 0)), "too early");
        assert!(
            !filter.accepts(&entry("/photos/2024/a.jpg", Some(parse_date("2024-07-01").unwrap()), 0)),
            "before is exclusive"
        );
        assert!(!filter.accepts(&entry("/photos/2024/a.gif", Some(day + 5), 0)), "other type");
    }

    #[test]
    fn formatted_days_parse_back_to_the_start_of_the_same_day() {
        for day in ["1970-01-01", "2000-02-29", "2024-12-31", "1969-07-20"] {
            let seconds = parse_date(day).unwrap();
            assert_eq!(format_date(seconds), day);
            assert_eq!(format_date(seconds + 86_399), day);
        }
    }

    #[test]
    fn dates_parse_as_utc_days_and_nonsense_is_refused() {
        assert_eq!(parse_date("1970-01-02").unwrap(), 86_400);
        assert!(parse_date("2024-13-01").is_err());
        assert!(parse_date("yesterday").unwrap_err().to_string().contains("YYYY-MM-DD"));
    }

    #[test]
    fn civil_dates_convert_to_unix_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2024, 2, 29), Some(19_782));
        assert_eq!(days_from_civil(2024, 13, 1), None);
    }
}
