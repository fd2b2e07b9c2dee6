//! Collections: saved searches that fill themselves. A collection keeps its query (concepts
//! included), filters and marks, and the score its last photo had when it was saved: a
//! photo indexed later whose score reaches it joins the collection, flagged new until the
//! person looks at the collection. Members are kept (a new text model does not take photos
//! away); a person pins photos in or excludes them for good.
//!
//! Kept in the same file as the concepts ([`super::concepts`]), so what a person taught is
//! written in one atomic step.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::concepts::Example;

/// Filters as typed, kept with a collection (empty: no condition).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedFilter {
    /// Only photos under this folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<PathBuf>,
    /// Taken on or after this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Taken before this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Only these file types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
}

/// A photo of a collection, with when it joined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The photo.
    #[serde(flatten)]
    pub photo: Example,
    /// When it joined, seconds since the epoch.
    pub added: i64,
}

/// One collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// Its name.
    pub name: String,
    /// The query as typed (concept names included).
    pub query: String,
    /// Its filters.
    #[serde(default)]
    pub filter: SavedFilter,
    /// Photos marked good when it was saved.
    #[serde(default)]
    pub good: Vec<PathBuf>,
    /// Photos marked bad when it was saved.
    #[serde(default)]
    pub bad: Vec<PathBuf>,
    /// A photo whose score for the query reaches this joins.
    pub threshold: f32,
    /// Its photos, in the order they joined.
    pub members: Vec<Member>,
    /// Photos put in by hand, whatever their score.
    #[serde(default)]
    pub pinned: Vec<Example>,
    /// Photos taken out by hand, whatever their score.
    #[serde(default)]
    pub excluded: Vec<Example>,
    /// When it was saved, seconds since the epoch.
    pub created: i64,
    /// When the person last looked at it: members added since are new.
    pub seen: i64,
}

impl Collection {
    /// True when `photo` was taken out by hand.
    pub fn is_excluded(&self, photo: &Example) -> bool {
        self.excluded.iter().any(|e| e.same_photo(photo))
    }

    /// True when `photo` was pinned in by hand.
    pub fn is_pinned(&self, photo: &Example) -> bool {
        self.pinned.iter().any(|p| p.same_photo(photo))
    }

    /// True when `photo` is a member already.
    pub fn has(&self, photo: &Example) -> bool {
        self.members.iter().any(|m| m.photo.same_photo(photo))
    }

    /// Adds the photos that match now (and the pinned ones) that are not members yet, at
    /// `now` (or just after the last look, when that is later: the clock counts seconds, and
    /// a photo that joins in the second the collection was looked at is still new);
    /// excluded photos never join. Returns how many joined.
    pub fn take_in(&mut self, matching: impl IntoIterator<Item = Example>, now: i64) -> usize {
        let now = now.max(self.seen + 1);
        let mut joined = 0;
        let candidates: Vec<Example> = self.pinned.clone().into_iter().chain(matching).collect();
        for photo in candidates {
            if !self.is_excluded(&photo) && !self.has(&photo) {
                self.members.push(Member { photo, added: now });
                joined += 1;
            }
        }
        joined
    }

    /// Pins `photo` in (and undoes an exclusion). The person put it there: it is not new.
    pub fn pin(&mut self, photo: Example) {
        self.excluded.retain(|e| !e.same_photo(&photo));
        if !self.is_pinned(&photo) {
            self.pinned.push(photo.clone());
        }
        if !self.has(&photo) {
            self.members.push(Member { photo, added: self.seen });
        }
    }

    /// Takes `photo` out for good (and undoes a pin).
    pub fn exclude(&mut self, photo: Example) {
        self.pinned.retain(|p| !p.same_photo(&photo));
        self.members.retain(|m| !m.photo.same_photo(&photo));
        if !self.excluded.iter().any(|e| e.same_photo(&photo)) {
            self.excluded.push(photo);
        }
    }

    /// The person looks at it at `now`: no member is new any more.
    pub fn look(&mut self, now: i64) {
        self.seen = self.members.iter().map(|m| m.added).max().unwrap_or(now).max(now);
    }

    /// Members that joined after the person last looked.
    pub fn new_members(&self) -> usize {
        self.members.iter().filter(|m| m.added > self.seen).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(p: &str) -> Example {
        Example { path: p.into(), hash: Some(format!("h{p}")) }
    }

    fn collection() -> Collection {
        Collection {
            name: "Rex at the beach".into(),
            query: "Rex on the beach".into(),
            filter: SavedFilter::default(),
            good: Vec::new(),
            bad: Vec::new(),
            threshold: 0.2,
            members: Vec::new(),
            pinned: Vec::new(),
            excluded: Vec::new(),
            created: 10,
            seen: 10,
        }
    }

    #[test]
    fn photos_that_match_later_join_once_and_are_new_until_seen() {
        let mut c = collection();
        assert_eq!(c.take_in([photo("a"), photo("b")], 10), 2);
        c.look(10);
        assert_eq!(c.new_members(), 0, "what it was saved with is not new");
        assert_eq!(c.take_in([photo("a"), photo("c")], 10), 1);
        assert_eq!(c.new_members(), 1, "a photo joining in the second of the last look is new");
        let moved = Example { path: "elsewhere".into(), hash: Some("hb".into()) };
        assert_eq!(c.take_in([moved], 20), 0, "a moved member is the same photo");
        assert_eq!(c.new_members(), 1);
        c.look(20);
        assert_eq!(c.new_members(), 0);
    }

    #[test]
    fn an_excluded_photo_never_joins_and_a_pinned_one_always_does() {
        let mut c = collection();
        c.take_in([photo("a"), photo("b")], 10);
        c.exclude(photo("a"));
        assert_eq!(c.take_in([photo("a")], 20), 0);
        assert_eq!(c.members.len(), 1);
        c.look(20);
        c.pin(photo("z"));
        assert!(c.has(&photo("z")));
        assert_eq!(c.new_members(), 0, "a photo the person put in is not new to them");
        c.pin(photo("a"));
        assert!(c.has(&photo("a")) && !c.is_excluded(&photo("a")), "a pin undoes an exclusion");
        c.exclude(photo("z"));
        assert_eq!(c.take_in(std::iter::empty(), 40), 0, "an exclusion undoes a pin");
    }
}
