#!/usr/bin/env bash
# Produces green/red logs of real tools, Travis-style: `$ cmd`, output, exit line, for
# tests/baseline.rs (a green run and a red run of the same job).
# usage: OUT_DIR=tests/data/pairs make_pairs.sh c_build|py_unittest|node_script|cargo_test green|red
set -u
name=$1; mode=$2
out=${OUT_DIR:-.}/$name.$mode.log
w=$(mktemp -d)
step() { echo "\$ $1"; ( cd "$w" && eval "$1" ) 2>&1; rc=$?; echo; echo "The command \"$1\" exited with $rc."; return $rc; }
rc=0
{
echo "travis_fold:start:worker_info"; echo "Worker information"; echo "hostname: $(hostname)-$RANDOM"; echo "started: $(date -u +%FT%T.%NZ)"; echo "travis_fold:end:worker_info"
case $name in
c_build)
  mkdir -p "$w/src"
  cat > "$w/src/util.c" <<'C'
#include <stdio.h>
int helper(int x) { int unused; return x * 2; }
C
  if [ "$mode" = red ]; then
    printf '#include <stdio.h>\nint helper(int);\nint main(void) { int n = helper(2)\n printf("%%d\\n", n); return 0; }\n' > "$w/src/main.c"
  else
    printf '#include <stdio.h>\nint helper(int);\nint main(void) { int n = helper(2);\n printf("%%d\\n", n); return 0; }\n' > "$w/src/main.c"
  fi
  printf 'all: app\napp: src/util.o src/main.o\n\tgcc -o app src/util.o src/main.o\nsrc/%%.o: src/%%.c\n\tgcc -Wall -c -o $@ $<\n' > "$w/Makefile"
  step "make" || rc=1 ;;
py_unittest)
  mkdir -p "$w/tests"
  cat > "$w/tests/test_app.py" <<P
import logging, unittest, time, random
log = logging.getLogger("app")
class T(unittest.TestCase):
    def test_a_retry(self):
        # a passing test whose code logs an error it recovers from, every run
        log.error("ERROR: connection refused by 127.0.0.1:%d, retrying" % random.randint(30000, 60000))
        self.assertTrue(True)
    def test_parse(self):
        self.assertEqual(int("12"), 12 if "$mode" == "green" else 13)
    def test_slow(self):
        time.sleep(random.random() / 50)
if __name__ == "__main__":
    logging.basicConfig()
    unittest.main(verbosity=2)
P
  step "python3 tests/test_app.py" || rc=1 ;;
node_script)
  cat > "$w/check.js" <<J
const fs = require('fs');
console.error('Error: ENOENT: no such file or directory, open \'.env.local\' (using defaults)');
console.log('loaded ' + (Math.random()*1000|0) + ' fixtures in ' + (Math.random()*90|0) + 'ms');
const want = 'abc', got = '$mode' === 'green' ? 'abc' : 'abd';
if (want !== got) { console.log('bundle checksum mismatch: dist/app.js ' + want + ' != ' + got); process.exit(1); }
console.log('bundle checksums match');
J
  step "node check.js" || rc=1 ;;
cargo_test)
  mkdir -p "$w/src"
  printf '[package]\nname = "pairdemo"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\n' > "$w/Cargo.toml"
  cat > "$w/src/lib.rs" <<R
pub fn parse(s: &str) -> u32 { s.parse::<u32>().unwrap() + if "$mode" == "red" { 1 } else { 0 } }
#[cfg(test)]
mod tests {
    #[test] fn number() { assert_eq!(super::parse("12"), 12); }
    #[test] #[should_panic] fn rejects_letters() { super::parse("x"); }
    #[test] fn prints() { eprintln!("error: simulated warning from a passing test"); }
}
R
  step "cargo test --offline -q -- --nocapture" || rc=1 ;;
esac
echo "Done. Your build exited with $rc."
} > "$out" 2>&1
rm -rf "$w"
