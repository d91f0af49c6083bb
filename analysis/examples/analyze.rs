//! Stand-alone `analyze [--json] FILE...`, the same as `exlogare-host analyze`, for scoring
//! without building the host.
fn main() -> anyhow::Result<()> {
    let mut json = false;
    let mut files = Vec::new();
    for a in std::env::args_os().skip(1) {
        if a == "--json" {
            json = true;
        } else {
            files.push(std::path::PathBuf::from(a));
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    exlogare_analysis::cli::run(&files, json, &mut out)
}
