//! Where `extract-job-log` puts a job's log, in the host's own types: what the analysis, the
//! conformance kit and a recording consume, whatever contract line the plugin speaks. The
//! contract adapter (`wit/v0_1.rs`) moves each chunk the guest emits into these types, so a
//! sink never names generated bindings and a later contract line changes no sink.

use serde::Serialize;

/// One line of normalized output: ANSI escapes removed, `\r` overwrites resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// 1-based number of the line in the original log (split on `\n`) it came from.
    pub source_line: u64,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StepEdge {
    Start,
    End,
}

/// A step (section, fold) boundary seen in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepBoundary {
    pub edge: StepEdge,
    pub name: String,
    pub source_line: u64,
}

/// What one `log-sink.emit` carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogChunk {
    pub lines: Vec<LogLine>,
    pub steps: Vec<StepBoundary>,
}

impl LogChunk {
    /// The bytes of text the chunk carries, as the per-job cap (`log_text_bytes`) counts them.
    pub fn text_bytes(&self) -> u64 {
        self.lines.iter().map(|l| l.text.len() as u64).sum()
    }
}

/// Where extracted log chunks go during an `extract-job-log` call.
pub trait LogSink: Send {
    /// An error stops the plugin's extraction (it returns it as `denied`).
    fn emit(&mut self, chunk: LogChunk) -> Result<(), String>;
    /// Lets the caller take its concrete sink back after the call.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}
