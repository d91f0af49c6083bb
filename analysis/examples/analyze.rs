//! Stand-alone `analyze [--json] [--baseline PASSING.log] FILE...`, the same as `exlogare-host
//! analyze`, for scoring without building the host. `--baseline` compares each file with the
//! log of a green run of the same job (see `exlogare_analysis::baseline`).
fn main() -> anyhow::Result<()> {
    let mut json = false;
    let mut baseline = None;
    let mut files = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--json" {
            json = true;
        } else if a == "--baseline" {
            let p = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("--baseline needs a passing log"))?;
            baseline = Some(std::path::PathBuf::from(p));
        } else {
            files.push(std::path::PathBuf::from(a));
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    exlogare_analysis::cli::run_with_baseline(&files, json, baseline.as_deref(), &mut out)
}
