//! A running `exlogare-host serve` for the command's tests (plugins.rs, plugin_reload.rs), and
//! the `plugins` command run against it, as an operator runs them.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exlogare-host"))
}

/// A serving host killed when the test ends, and the address it listens on.
pub struct Serving(pub Child, pub String);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve(config: &Path) -> Serving {
    let mut child = host()
        .args(["serve", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve ended before listening").unwrap();
        if let Some(url) = line.strip_prefix("exlogare-host listening on ") {
            break url.trim().to_string();
        }
    };
    // Keep draining stderr so the host never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Serving(child, url)
}

pub fn plugins(config: &Path, url: &str, extra: &[&str]) -> (i32, String, String) {
    let out = host()
        .args(["plugins", "--config"])
        .arg(config)
        .args(["--url", url])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
