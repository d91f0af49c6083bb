//! `exlogare-host analyze --baseline PASSING.log FAILING.log`: the analysis of a pair of files
//! (issue 12, item 2), on the binary as an operator runs it. A harmless error line that every
//! green run prints is not taken as the cause; the report says a comparison was made.
//! Synthetic pair, shaped like a Travis `make test` log.

use std::process::Command;

const GREEN: &str = "$ make test\n\
warning: ignoring error: cache server unreachable, building without it\n\
cc -c src/main.c -o main.o\n\
ok 1 - parses\n\
ok 2 - prints\n\
The command \"make test\" exited with 0.\n";

const RED: &str = "$ make test\n\
warning: ignoring error: cache server unreachable, building without it\n\
cc -c src/main.c -o main.o\n\
src/main.c:12:5: error: 'count' undeclared (first use in this function)\n\
make: *** [Makefile:4: main.o] Error 1\n\
The command \"make test\" exited with 2.\n";

fn analyze(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_exlogare-host"))
        .arg("analyze")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_green_run_is_compared_and_the_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (green, red) = (dir.path().join("green.log"), dir.path().join("red.log"));
    std::fs::write(&green, GREEN).unwrap();
    std::fs::write(&red, RED).unwrap();

    let alone = analyze(&[red.to_str().unwrap()]);
    assert!(alone.get("comparison").is_none(), "{alone}");

    let compared = analyze(&["--baseline", green.to_str().unwrap(), red.to_str().unwrap()]);
    let c = &compared["comparison"];
    assert!(c["green_lines"].as_u64().unwrap() >= 5, "{compared}");
    assert!(c["new_lines"].as_u64().unwrap() >= 2, "{compared}");
    let decisive = compared.to_string();
    assert!(
        decisive.contains("undeclared"),
        "the new error decides: {compared}"
    );

    // A baseline that cannot be read is an error in words, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_exlogare-host"))
        .args(["analyze", "--baseline"])
        .arg(dir.path().join("missing.log"))
        .arg(&red)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.log"), "{err}");
}
