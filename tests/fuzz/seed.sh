#!/usr/bin/env bash
# Seeds the fuzz corpora from the repository's fixtures (issue 10, item 3).
#
#   tests/fuzz/seed.sh            # fills tests/fuzz/corpus/<target>/ (git-ignored)
#
# - analysis, logtext: the analysis' fixture logs and the GitFlic job logs and error bodies,
#   plus a few small Unicode/timestamp logs written here. The logtext target reads 3 control
#   bytes (line cap, chunk sizes) before the log, so its seeds get a prefix.
# - webhook: every recorded delivery envelope (JSON with an `action`), behind the target's flag
#   byte (0x02: the right secret in the header; 0x07: header and query, analyze_warnings on).
# - rest_json: every recorded REST body, behind each selector byte the target knows (one seed
#   per entry point), so each operation starts from real GitFlic JSON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
corpus="$here/corpus"
mkdir -p "$corpus"/{analysis,logtext,webhook,rest_json}

# name-safe copy: <dir>/<prefix-hex>-<scenario>-<file>
put() { # target prefix-bytes(printf format) source name
    printf "$2" > "$corpus/$1/$4"
    cat "$3" >> "$corpus/$1/$4"
}

n=0
for f in "$root"/analysis/tests/data/*.log "$root"/fixtures/gitflic/*/bodies/*.{log,txt,html}; do
    [ -f "$f" ] || continue
    name="$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
    # Big logs are cut: libFuzzer works best on small inputs and finds length by itself.
    head -c 65536 "$f" > "$corpus/analysis/$name"
    printf '\x01\x20\x03' > "$corpus/logtext/$name"
    head -c 65536 "$f" >> "$corpus/logtext/$name"
    n=$((n + 1))
done

# Small hand-written logs with what issue 10 is about: Cyrillic, Unicode spaces, CP1251,
# timestamps on every line, CRLF, NUL, escapes.
printf '2024-03-01T10:15:30.123Z $ make\n2024-03-01T10:15:31.001Z \xd0\x9e\xd1\x88\xd0\xb8\xd0\xb1\xd0\xba\xd0\xb0 \xd1\x81\xd0\xb1\xd0\xbe\xd1\x80\xd0\xba\xd0\xb8\n2024-03-01T10:15:31.002Z make: *** [all] \xd0\x9e\xd1\x88\xd0\xb8\xd0\xb1\xd0\xba\xd0\xb0 1\n' > "$corpus/analysis/gitflic-timestamps-ru.log"
printf '10:15: \xd0\x9e\xd1\x88\xd0\xb8\xd0\xb1\xd0\xba\xd0\xb0 \xd1\x81\xd0\xb1\xd0\xbe\xd1\x80\xd0\xba\xd0\xb8\r\n10:15:30 error: x\r\n' > "$corpus/analysis/clock-ru-crlf.log"
printf '2022-05-03T17:52:18.2295852Z           []map[string]\xc2\xa0x\n##[error]Process completed with exit code 1.\n' > "$corpus/analysis/github-nbsp.log"
printf '\xce\xf8\xe8\xe1\xea\xe0 \xf1\xe1\xee\xf0\xea\xe8\n\x00\x1b[31merror\x1b[0m: \xe6\x9e\x84\xe5\xbb\xba \xf0\x9f\xa6\x80 e\xcc\x81\xe3\x80\x80\xe2\x80\x83\n' > "$corpus/analysis/cp1251-mix.log"
for f in gitflic-timestamps-ru.log clock-ru-crlf.log github-nbsp.log cp1251-mix.log; do
    printf '\x05\x02\x01' | cat - "$corpus/analysis/$f" > "$corpus/logtext/$f"
done

w=0
for f in "$root"/fixtures/gitflic/*/bodies/*.json; do
    scenario="$(basename "$(dirname "$(dirname "$f")")")"
    name="$scenario-$(basename "$f")"
    if grep -q '"action"' "$f" || [ "$scenario" = malformed-envelope ]; then
        put webhook '\x02' "$f" "02-$name"
        put webhook '\x07' "$f" "07-$name"
        w=$((w + 1))
    fi
    # Selectors 0-14 are the entry points; 0x10 and 0x20 add the 429 and redirect answers.
    for sel in 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 1c; do
        put rest_json "\\x$sel" "$f" "$sel-$name"
    done
done
for f in "$root"/fixtures/gitflic/*/bodies/*.{txt,html}; do
    [ -f "$f" ] || continue
    put rest_json '\x0e' "$f" "0e-$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
done
printf '\x1eFri, 20 Nov 2026 10:00:30 GMT\n{"message":"slow down"}' > "$corpus/rest_json/1e-retry-after-date"
printf '\x1e120\n{"message":"slow down"}' > "$corpus/rest_json/1e-retry-after-secs"
# The crashes found so far (see README.md), kept as seeds so a run starts from them.
printf '\x00{"_embedded":{"restPipelineModelList":[]},"page":{"number":18446744073709551615,"totalPages":3}}' > "$corpus/rest_json/crash-page-number-max"
printf '\x1eFri, 20 Nov 4294967295 10:00:30 GMT\n{}' > "$corpus/rest_json/crash-retry-after-year"
printf '\x0a{"accessToken":"a","expires_in":10000000000000000}' > "$corpus/rest_json/crash-expires-in"

echo "seeded from $n logs and $w envelopes:"
for t in analysis logtext webhook rest_json; do
    echo "  $t: $(ls "$corpus/$t" | wc -l) files, $(du -sh "$corpus/$t" | cut -f1)"
done
