//! The layers of ARCHITECTURE.md, kept by reading the code: no module of `src/` names a
//! module of its own layer (other than itself) or of a layer above it.

use std::collections::BTreeSet;
use std::path::Path;

/// The layers as ARCHITECTURE.md draws them, lowest first: the module names of each line of
/// its first code block (the line's words before any parenthesis; `▲` lines and the CLI's
/// line, which is no module of the library, left out).
fn layers(architecture: &str) -> Vec<Vec<String>> {
    let block = architecture.split("```").nth(1).expect("ARCHITECTURE.md has its layer drawing in a code block");
    block
        .lines()
        .map(|line| line.split('(').next().unwrap_or_default())
        .filter(|names| !names.contains('▲') && !names.contains('/'))
        .map(|names| names.split([',', ' ']).filter(|n| !n.is_empty()).map(str::to_string).collect::<Vec<_>>())
        .filter(|names| !names.is_empty())
        .collect()
}

/// The top-level modules that `source` names through `crate::…` (grouped imports included);
/// the crate root's `Error` and `Result` are the `error` module's.
fn named_modules(source: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for line in source.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let items: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
                None => vec![rest],
            };
            for item in items {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                match name.as_str() {
                    "" | "self" => {}
                    "Error" | "Result" => {
                        named.insert("error".to_string());
                    }
                    _ => {
                        named.insert(name);
                    }
                }
            }
        }
    }
    named
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_its_own_layer_or_one_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(&std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    let level = |module: &str| layers.iter().position(|l| l.iter().any(|m| m == module));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut declared = BTreeSet::new();
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        // The crate root and the binary (the CLI, above every layer) are not layers.
        if first == "lib" || first == "bin" {
            continue;
        }
        declared.insert(first.clone());
        let Some(own) = level(&first) else {
            wrong.push(format!("{first} ({}) is in no layer of ARCHITECTURE.md", relative.display()));
            continue;
        };
        for named in named_modules(&std::fs::read_to_string(file).unwrap()) {
            match level(&named) {
                _ if named == first => {}
                // The foundations may use one another.
                Some(0) if own == 0 => {}
                Some(other) if other < own => {}
                Some(_) => {
                    wrong.push(format!("{} names crate::{named}, a layer at or above {first}'s", relative.display()))
                }
                None => wrong.push(format!("{} names crate::{named}, which is in no layer", relative.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The drawing lists no module that is not there.
    for layer in &layers {
        for module in layer {
            assert!(declared.contains(module), "ARCHITECTURE.md draws {module}, which src/ does not have");
        }
    }
}

#[test]
fn the_layer_reader_sees_grouped_imports_and_paths_but_not_comments() {
    let source =
        "use crate::{Error, index::store, text};\n// crate::app in a comment\nlet x = crate::finder::Finder::new();";
    let named: Vec<String> = named_modules(source).into_iter().collect();
    assert_eq!(named, ["error", "finder", "index", "text"]);
    let drawing = "x\n```\nerror, job   (foundations)\n   ▲\nengine   text   (models)\nbin/glimpse (CLI)\n```\n";
    assert_eq!(layers(drawing), [vec!["error", "job"], vec!["engine", "text"]]);
}
