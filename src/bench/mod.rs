//! Measurements reported by `glimpse bench`, each against a baseline measured in the same
//! run.

pub mod cue;
pub mod duplicates;
pub mod embed;
pub mod feedback;
pub mod search;
