//! Opening ONNX Runtime sessions on the chosen execution provider, with a CPU fallback.

use std::path::Path;

use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};

use super::runtime::Runtime;
use crate::{Error, Result};

/// Which execution provider the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderChoice {
    /// CUDA when this build has it and it works, else CPU.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA; falls back to CPU with a notice when it cannot be used.
    Cuda,
}

impl std::fmt::Display for ProviderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderChoice::Auto => "auto",
            ProviderChoice::Cpu => "cpu",
            ProviderChoice::Cuda => "cuda",
        })
    }
}

impl std::str::FromStr for ProviderChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ProviderChoice::Auto),
            "cpu" => Ok(ProviderChoice::Cpu),
            "cuda" => Ok(ProviderChoice::Cuda),
            other => Err(Error::Invalid(format!("unknown execution provider '{other}': use auto, cpu or cuda"))),
        }
    }
}

/// The execution provider a session actually runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActiveProvider {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
}

impl std::fmt::Display for ActiveProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActiveProvider::Cpu => "CPU",
            ActiveProvider::Cuda => "CUDA",
        })
    }
}

/// How sessions are built.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Requested execution provider.
    pub provider: ProviderChoice,
    /// Threads ONNX Runtime uses inside one operator; 0 = one per core.
    pub intra_threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { provider: ProviderChoice::Auto, intra_threads: 0 }
    }
}

/// A session, the provider it runs on, and a notice for the user when it is not the one
/// they asked for.
pub struct OpenedSession {
    /// The session.
    pub session: Session,
    /// Where it runs.
    pub provider: ActiveProvider,
    /// Why it does not run where the user asked, if it does not.
    pub notice: Option<String>,
}

fn cpu_builder(runtime: &Runtime, options: &SessionOptions) -> Result<SessionBuilder> {
    let threads = if options.intra_threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        options.intra_threads
    };
    Ok(Session::builder(&runtime.environment)?
        .with_optimization_level(GraphOptimizationLevel::All)?
        .with_intra_threads(threads)?
        // Spinning ORT threads would steal the cores the photo decoders need between batches.
        .with_intra_op_spinning(false)?
        // A memory pattern keeps one block per input shape holding every activation at once:
        // indexing at batch 16 peaked at 1.18 GB with it, 0.76 GB without.
        .with_memory_pattern(false)?)
}

fn commit(mut builder: SessionBuilder, graph: &Path) -> Result<Session> {
    builder.commit_from_file(graph).map_err(|e| Error::model(graph, e.message().to_string()))
}

/// Opens `graph` on the requested provider, rebuilding it on the CPU when CUDA cannot be
/// registered; the returned notice says so.
pub fn open(runtime: &Runtime, graph: &Path, options: &SessionOptions) -> Result<OpenedSession> {
    if !graph.is_file() {
        return Err(Error::model(graph, "the graph file is missing"));
    }
    let wants_cuda = options.provider != ProviderChoice::Cpu;
    let mut notice = None;
    if wants_cuda {
        match try_cuda(runtime, graph, options) {
            Ok(session) => return Ok(OpenedSession { session, provider: ActiveProvider::Cuda, notice: None }),
            Err(reason) if options.provider == ProviderChoice::Cuda => {
                notice = Some(format!("CUDA was asked for but cannot be used ({reason}); running on the CPU"));
            }
            Err(_) => {}
        }
    }
    let session = commit(cpu_builder(runtime, options)?, graph)?;
    Ok(OpenedSession { session, provider: ActiveProvider::Cpu, notice })
}

#[cfg(feature = "cuda")]
fn try_cuda(runtime: &Runtime, graph: &Path, options: &SessionOptions) -> std::result::Result<Session, String> {
    use ort::ep::{CUDA, ExecutionProvider};
    if !CUDA::is_available().unwrap_or(false) {
        return Err("this ONNX Runtime library has no CUDA provider: run `scripts/fetch-onnxruntime.sh --gpu`".into());
    }
    let builder = cpu_builder(runtime, options).map_err(|e| e.to_string())?;
    let builder = builder
        .with_execution_providers([CUDA::default().build().error_on_failure()])
        .map_err(|e| e.message().to_string())?;
    commit(builder, graph).map_err(|e| e.to_string())
}

#[cfg(not(feature = "cuda"))]
fn try_cuda(_runtime: &Runtime, _graph: &Path, _options: &SessionOptions) -> std::result::Result<Session, String> {
    Err("this build of Glimpse has no CUDA support: build it with `--features cuda`".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_parse_case_insensitively_and_unknown_ones_are_refused() {
        assert_eq!("CPU".parse::<ProviderChoice>().unwrap(), ProviderChoice::Cpu);
        assert_eq!("cuda".parse::<ProviderChoice>().unwrap(), ProviderChoice::Cuda);
        assert_eq!("Auto".parse::<ProviderChoice>().unwrap(), ProviderChoice::Auto);
        let err = "tpu".parse::<ProviderChoice>().unwrap_err().to_string();
        assert!(err.contains("auto, cpu or cuda"), "{err}");
    }
}
