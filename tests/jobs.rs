//! `portsim check --jobs N`: the executions explored and everything
//! printed are the same for any N, byte for byte, whether violations are
//! found (each property's first, by its place in the merged list of runs)
//! or not (the counts), for chunked budgets and for the portfolio.

use std::process::Command;

fn check(args: &[&str], jobs: u32, out: &std::path::Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_portsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("check")
        .args(args)
        .arg("--jobs")
        .arg(jobs.to_string())
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8(o.stdout).unwrap())
}

#[test]
fn one_two_and_three_jobs_print_the_same_bytes() {
    let out = std::env::temp_dir().join(format!("portsim-jobs-{}", std::process::id()));
    let cases: [(&[&str], i32); 4] = [
        // no violation: the counts and outcome list
        (
            &[
                "scenarios/issue-52903.toml",
                "--policy",
                "pr-52927",
                "--engine",
                "random",
                "--iterations",
                "2500",
            ],
            0,
        ),
        (
            &[
                "scenarios/transient-holder.toml",
                "--policy",
                "pr-52927",
                "--engine",
                "pct",
                "--iterations",
                "4500",
                "--seed",
                "3",
            ],
            0,
        ),
        // a violation at execution 1 996 while later chunks run beside it:
        // the merge keeps the earliest
        (
            &[
                "scenarios/stale-bindings.toml",
                "--policy",
                "pr-52927",
                "--engine",
                "pct",
                "--iterations",
                "5000",
                "--seed",
                "6",
            ],
            1,
        ),
        // the default portfolio, violated: its runs merged in plan order
        (
            &["scenarios/issue-52903.toml", "--policy", "moby-master"],
            1,
        ),
    ];
    for (args, code) in cases {
        let (c1, one) = check(args, 1, &out);
        assert_eq!(c1, Some(code), "{args:?}\n{one}");
        for n in [2, 3] {
            let (cn, many) = check(args, n, &out);
            assert_eq!(cn, c1, "{args:?} --jobs {n}");
            assert_eq!(many, one, "{args:?}: --jobs {n} printed other bytes");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}
