//! Logging: `RUST_LOG` filters, `LOG_FORMAT` picks text or JSON lines (both
//! read into `Settings`).

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::TestWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        match raw {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(()),
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    /// The test harness's captured output, shown with a failing test's.
    TestHarness,
}

/// Installs the global subscriber; call once, before anything logs.
pub fn init(filter: &str, format: LogFormat, output: Output) -> Result<(), String> {
    let filter =
        EnvFilter::try_new(filter).map_err(|e| format!("invalid RUST_LOG={filter:?}: {e}"))?;
    let (writer, ansi) = match output {
        // Colours only for a person at a terminal, never into files or pipes.
        Output::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
        Output::TestHarness => (BoxMakeWriter::new(TestWriter::new()), false),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .with_ansi(ansi);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| format!("could not install the logger: {e}"))
}
