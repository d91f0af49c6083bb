//! Prints the rule that decides each line of stdin (weight, rule, kind), or `--` for none:
//! for checking how a tool's output format is classified.
//!
//! `cargo run -q -p exlogare-analysis --example classify < lines.txt`

use exlogare_analysis::rules::{RULES, rules};

fn main() {
    let rs = rules();
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        match rs.classify(&line) {
            Some(v) => println!(
                "{:>2} {:<26} {:<7} | {line}",
                v.weight,
                RULES[v.rule].name,
                format!("{:?}", v.kind)
            ),
            None => println!("-- {:<26} {:<7} | {line}", "", ""),
        }
    }
}
