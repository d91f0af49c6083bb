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

/// What a step boundary costs against the per-job cap besides its name: about a line's worth.
const STEP_COST: u64 = 64;

/// What one `log-sink.emit` carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogChunk {
    pub lines: Vec<LogLine>,
    pub steps: Vec<StepBoundary>,
}

impl LogChunk {
    /// What the chunk costs against the per-job cap (`log_text_bytes`): each line's text and
    /// its line break, each step's name and a fixed cost per step, so empty lines or step
    /// markers alone cannot keep the analysis busy for free.
    pub fn text_bytes(&self) -> u64 {
        let lines: u64 = self.lines.iter().map(|l| l.text.len() as u64 + 1).sum();
        let steps: u64 = self
            .steps
            .iter()
            .map(|s| s.name.len() as u64 + STEP_COST)
            .sum();
        lines + steps
    }
}

/// Where extracted log chunks go during an `extract-job-log` call.
pub trait LogSink: Send {
    /// An error stops the plugin's extraction (it returns it as `denied`).
    fn emit(&mut self, chunk: LogChunk) -> Result<(), String>;
    /// Lets the caller take its concrete sink back after the call.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lines_and_step_markers_count_against_the_cap() {
        let empty = LogChunk {
            lines: vec![
                LogLine {
                    source_line: 1,
                    text: String::new(),
                };
                1000
            ],
            steps: vec![],
        };
        assert_eq!(empty.text_bytes(), 1000);
        let steps = LogChunk {
            lines: vec![],
            steps: vec![StepBoundary {
                edge: StepEdge::Start,
                name: "build".into(),
                source_line: 1,
            }],
        };
        assert_eq!(steps.text_bytes(), 5 + STEP_COST);
    }
}
