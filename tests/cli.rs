//! The `glimpse` binary as a user runs it.

use std::process::Command;

fn glimpse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_glimpse"))
}

#[test]
fn a_missing_runtime_library_is_one_clear_message_with_the_fix() {
    let out =
        glimpse().args(["--ort-lib", "/nonexistent/libonnxruntime.so.1.31.1", "embed", "x.jpg"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a usable ONNX Runtime library"), "{stderr}");
    assert!(stderr.contains("scripts/fetch-onnxruntime.sh"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_runtime_library_of_an_old_version_is_refused_with_both_versions() {
    // A stand-in library exporting OrtGetApiBase that reports version 1.17.3.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("fake_ort.c");
    std::fs::write(
        &src,
        r#"
        typedef struct { const void* (*GetApi)(unsigned); const char* (*GetVersionString)(void); } OrtApiBase;
        static const void* get_api(unsigned v) { (void)v; return 0; }
        static const char* version(void) { return "1.17.3"; }
        static const OrtApiBase base = { get_api, version };
        const OrtApiBase* OrtGetApiBase(void) { return &base; }
        "#,
    )
    .unwrap();
    let lib = dir.path().join("libonnxruntime.so.1.17.3");
    let cc = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).status().unwrap();
    assert!(cc.success(), "cc could not build the stand-in library");
    let out = glimpse().arg("--ort-lib").arg(&lib).arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("is ONNX Runtime 1.17.3, but Glimpse needs 1.31.1"), "{stdout}");
}

#[test]
fn doctor_reports_the_runtime_and_verifies_the_default_model() {
    let out = glimpse().args(["doctor", "--json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["onnxruntime"]["version"], "1.31.1");
    assert_eq!(report["provider_active"], "CPU");
    let lite0 = report["models"].as_array().unwrap().iter().find(|m| m["name"] == "efficientnet-lite0").unwrap();
    assert_eq!(lite0["ok"], true);
}

#[test]
fn an_unknown_provider_is_refused_by_the_argument_parser() {
    let out = glimpse().args(["--provider", "tpu", "doctor"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("auto, cpu or cuda"), "{stderr}");
}
