//! The real default backbone on real Flickr8k photos from `../shared/photos`.

use glimpse::engine::labels::top_k;
use glimpse::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use glimpse::engine::{Backbone, BackboneModel, ProviderChoice, Runtime, SessionOptions};

use crate::need_shared;
use crate::util::cosine;

fn lite0() -> Backbone {
    let runtime = Runtime::load(None).unwrap();
    let model = BackboneModel::find("efficientnet-lite0").unwrap();
    Backbone::open(runtime, model, &SessionOptions { provider: ProviderChoice::Cpu, intra_threads: 0 }).unwrap()
}

#[test]
fn the_dog_photo_has_a_dog_breed_in_its_top_five() {
    let shared = need_shared!();
    let backbone = lite0();
    let photo = shared.join("photos/1130369873_d80a1aa59c.jpg");
    let options = EmbedOptions { want_logits: true, ..EmbedOptions::default() };
    let job = pipeline::embed(&backbone, vec![photo], options, None).unwrap();
    let EmbedEvent::Embedded(e) = crate::util::next(job.events()) else { panic!("the dog photo failed") };
    let labels = backbone.model().labels.clone().unwrap();
    let top = top_k(e.logits.as_ref().unwrap(), &labels, 5);
    // ImageNet classes 151–268 are dog breeds.
    let dog_breeds = &labels[151..=268];
    assert!(top.iter().any(|l| dog_breeds.contains(&l.label)), "top-5: {top:?}");
    assert_eq!(e.features.len(), 1280);
}

#[test]
fn real_photos_get_the_same_features_alone_or_in_a_batch_of_sixteen() {
    let shared = need_shared!();
    let backbone = lite0();
    let mut photos = glimpse::bench::embed::photos_in(&shared.join("photos")).unwrap();
    photos.truncate(16);
    let run = |batch| {
        let job =
            pipeline::embed(&backbone, photos.clone(), EmbedOptions { batch_size: batch, ..Default::default() }, None)
                .unwrap();
        let mut out = vec![Vec::new(); photos.len()];
        for event in crate::util::drain(job.events()) {
            let EmbedEvent::Embedded(e) = event else { panic!("a shared photo failed: {event:?}") };
            out[e.index] = e.features;
        }
        out
    };
    let single = run(1);
    let batched = run(16);
    for (i, (a, b)) in single.iter().zip(&batched).enumerate() {
        let c = cosine(a, b);
        assert!(c > 0.9999, "photo {i}: cosine {c}");
    }
}

#[test]
fn classify_json_prints_one_object_per_photo_with_five_labels() {
    let shared = need_shared!();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["embed", "--classify", "--json"])
        .arg(shared.join("photos/1130369873_d80a1aa59c.jpg"))
        .arg(shared.join("photos/1022454332_6af2c1449a.jpg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert!(line["path"].as_str().unwrap().ends_with(".jpg"));
        let labels = line["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 5);
        let probs: Vec<f64> = labels.iter().map(|l| l["prob"].as_f64().unwrap()).collect();
        assert!(probs.windows(2).all(|w| w[0] >= w[1]), "not sorted: {probs:?}");
    }
    assert_eq!(lines[0]["labels"][0]["label"], "vizsla");
}

#[test]
fn a_text_query_opens_only_the_text_encoder_and_find_similar_the_rest_once() {
    use glimpse::finder::{Finder, Models, SearchRequest, Subject};
    use glimpse::index::update::{self, IndexOptions};
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    // A black dog in water, people by a lake, a brown dog with a ball.
    let names = ["1731546544_9fbf14617b.jpg", "1022454332_6af2c1449a.jpg", "1130369873_d80a1aa59c.jpg"];
    for name in names {
        std::fs::copy(shared.join("photos").join(name), photos.join(name)).unwrap();
    }
    let runtime = Runtime::load(None).unwrap();
    let options = SessionOptions { provider: ProviderChoice::Cpu, intra_threads: 2 };
    // Indexing opens the backbone and the shipped model's image head through one owner.
    let indexing = Models::new(runtime, &options, None);
    let backbone =
        indexing.backbone(BackboneModel::find(glimpse::engine::manifest::DEFAULT_BACKBONE).unwrap()).unwrap();
    let head = indexing.projection_for(backbone.model()).unwrap().expect("the shipped model fits the default backbone");
    let idx = dir.path().join("library.glimpse");
    let job = update::start(
        idx.clone(),
        &backbone,
        IndexOptions { add_roots: vec![photos.clone()], head: Some(head), ..IndexOptions::default() },
        None,
    )
    .unwrap();
    crate::util::drain(job.events());
    assert_eq!(job.wait().unwrap().unwrap().projected, 3);
    let backbone_name = format!("backbone {}", glimpse::engine::manifest::DEFAULT_BACKBONE);
    assert_eq!(indexing.opened(), [backbone_name.as_str(), "image head"], "indexing needs no text encoder");

    let models = Models::new(runtime, &options, None);
    let finder = Finder::open_with(&idx, models.clone()).unwrap();
    let ask = |subject| finder.search(&SearchRequest { subject, k: 3, ..SearchRequest::default() }).unwrap();
    let answer = ask(Subject::Text("a dog swimming in a lake".into()));
    assert!(answer.hits[0].path.ends_with(names[0]), "{:?}", answer.hits);
    assert_eq!(models.opened(), ["text encoder"], "a text query needs nothing else");
    // A word without a vector is said to be ignored, and is: the ranking is the one without it.
    assert!(answer.ignored_words.is_empty());
    let with_nonsense = ask(Subject::Text("a xyzzy dog swimming in a lake zqxjk xyzzy".into()));
    assert_eq!(with_nonsense.ignored_words, ["xyzzy", "zqxjk"]);
    let scores =
        |a: &glimpse::finder::SearchAnswer| a.hits.iter().map(|h| (h.path.clone(), h.score)).collect::<Vec<_>>();
    assert_eq!(scores(&with_nonsense), scores(&answer));
    // Typos are read as the words meant, said, and rank as those words do.
    let typos = ask(Subject::Text("a dog swimmnig in a lkae".into()));
    let read: Vec<(&str, &str)> = typos.read_words.iter().map(|r| (r.typed.as_str(), r.read_as.as_str())).collect();
    assert_eq!(read, [("swimmnig", "swimming"), ("lkae", "lake")]);
    assert!(typos.ignored_words.is_empty());
    assert_eq!(scores(&typos), scores(&answer));
    // A query of only such words shows no photo.
    let nonsense =
        finder.search(&SearchRequest { subject: Subject::Text("xyzzy zqxjk".into()), ..SearchRequest::default() });
    match nonsense {
        Err(glimpse::Error::UnknownWords { words, .. }) => assert_eq!(words, ["xyzzy", "zqxjk"]),
        other => panic!("expected UnknownWords, got {:?}", other.map(|a| a.hits)),
    }
    let similar = ask(Subject::Photo(photos.join(names[0])));
    assert_eq!(similar.hits.len(), 2, "find similar leaves the photo out");
    assert_eq!(models.opened(), [backbone_name.as_str(), "text encoder", "image head"]);
    ask(Subject::Photo(photos.join(names[2])));
    assert_eq!(models.opened().len(), 3, "each graph opens once");
}

#[test]
fn a_search_ranks_once_its_cue_reads_its_own_ranking_and_a_newer_search_stops_it() {
    use std::sync::atomic::AtomicBool;

    use glimpse::finder::{Feedback, FilterText, Finder, Models, SearchRequest, Subject};
    use glimpse::index::update::{self, IndexOptions};
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let copied = crate::util::copy_photos(&shared, &photos.join("a"), 24);
    std::fs::create_dir_all(photos.join("b")).unwrap();
    for p in &copied[12..] {
        std::fs::rename(p, photos.join("b").join(p.file_name().unwrap())).unwrap();
    }
    let runtime = Runtime::load(None).unwrap();
    let options = SessionOptions { provider: ProviderChoice::Cpu, intra_threads: 2 };
    let models = Models::new(runtime, &options, None);
    let backbone = models.backbone(BackboneModel::find(glimpse::engine::manifest::DEFAULT_BACKBONE).unwrap()).unwrap();
    let head = models.projection_for(backbone.model()).unwrap().unwrap();
    let idx = dir.path().join("library.glimpse");
    let add = IndexOptions { add_roots: vec![photos.clone()], head: Some(head), ..IndexOptions::default() };
    let job = update::start(idx.clone(), &backbone, add, None).unwrap();
    crate::util::drain(job.events());
    job.wait().unwrap().unwrap();
    let finder = Finder::open_with(&idx, models).unwrap();
    let text = || Subject::Text("a dog running on the grass".into());
    let ask = |k: usize, feedback: Feedback, filter: FilterText| {
        finder.search(&SearchRequest { subject: text(), k, feedback, filter, ..SearchRequest::default() }).unwrap()
    };
    // Ten results are the cue's own ranking (read from them); three need one more top-k: the
    // same cue either way, and the three are the ten's first three.
    let ten = ask(10, Feedback::default(), FilterText::default());
    let three = ask(3, Feedback::default(), FilterText::default());
    let cue = ten.cue.expect("the shipped model has a cue");
    assert_eq!(three.cue, Some(cue));
    let ranked = |hits: &[glimpse::index::Ranked]| hits.iter().map(|h| (h.path.clone(), h.score)).collect::<Vec<_>>();
    assert_eq!(ranked(&three.hits), ranked(&ten.hits[..3]));
    // A bad mark moves its photo down and the cue reads the best of the others.
    let worst_match = ten.hits[0].path.clone();
    let marked = Feedback { good: Vec::new(), bad: vec![worst_match.clone()] };
    let after = ask(10, marked, FilterText::default());
    let moved = after.hits.iter().position(|h| h.path == worst_match).unwrap_or(usize::MAX);
    assert!(moved > 0, "the photo marked bad is still first");
    let others = ten.hits[1..].iter().filter_map(|h| finder.library.text_cosine(h)).fold(f32::MIN, f32::max);
    assert_eq!(after.cue.map(|c| c.best), Some(others));
    // A folder filter applies before the top-k, in the ranking and in the cue's.
    let in_b = FilterText { folder: Some(photos.join("b")), ..FilterText::default() };
    let filtered = ask(10, Feedback::default(), in_b);
    assert_eq!(filtered.hits.len(), 10);
    assert!(filtered.hits.iter().all(|h| h.path.starts_with(photos.join("b"))), "{:?}", filtered.hits);
    let best_in_b = filtered.hits.iter().filter_map(|h| finder.library.text_cosine(h)).fold(f32::MIN, f32::max);
    assert_eq!(filtered.cue.map(|c| c.best), Some(best_in_b));
    // A search whose stop flag is set (a newer one replaced it) gives up.
    let request = SearchRequest { subject: text(), ..SearchRequest::default() };
    match finder.search_until(&request, &AtomicBool::new(true)) {
        Err(glimpse::Error::Stopped(_)) => {}
        other => panic!("expected a stop, got {:?}", other.map(|a| a.hits)),
    }
}
