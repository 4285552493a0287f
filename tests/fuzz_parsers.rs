//! Stable-toolchain fuzzing of the three parsers that read user input: the
//! scenario parser (`scenario::parse_str`), the `-p` spec parser
//! (`scenario::portspec::parse_publish`, directly and inside a scenario
//! file) and the schedule-file parser (`explore::schedule::parse_file`).
//!
//! Inputs are generated from seeds (the shipped scenarios, the shipped
//! counterexample schedules, `fuzz/corpus/*`) by mutations: truncations,
//! bit flips, byte insertions and deletions, swapped tokens, duplicated or
//! dropped lines, splices of two seeds, and numbers replaced by
//! out-of-range ones. For every input: no panic, no hang (each parse
//! under 10 s even on a loaded machine), and every rejection one line naming `file:line:column`
//! (the schedule parser `line:column`, its caller adds the file) within the
//! input. The default run tries a few thousand inputs per parser; the
//! documented long run (`cargo test --release --test fuzz_parsers --
//! --ignored`, `.ci/run`) tries 10^6 per parser (`PORTSIM_FUZZ_INPUTS`
//! overrides).
//!
//! The cargo-fuzz targets in `fuzz/` run the same checks under libFuzzer.
// Shuttle-driven: the os-threads build (`stress` only) leaves the engines out.
#![cfg(not(feature = "os-threads"))]

use portsim::explore::schedule::{ScheduleFile, parse_file};
use portsim::scenario::parse_str;
use portsim::scenario::portspec::parse_publish;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_dir_sorted(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn seeds_scenarios() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = read_dir_sorted(&root().join("scenarios"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    v.extend(
        read_dir_sorted(&root().join("fuzz/corpus/scenario"))
            .into_iter()
            .map(|p| std::fs::read(p).unwrap()),
    );
    assert!(!v.is_empty());
    v
}

fn seeds_portspecs() -> Vec<Vec<u8>> {
    // Every `-p` value of the shipped scenarios, plus docker's forms.
    let mut v: Vec<Vec<u8>> = Vec::new();
    for s in seeds_scenarios() {
        let t = String::from_utf8_lossy(&s).to_string();
        for line in t.lines().filter(|l| l.trim_start().starts_with("publish")) {
            for part in line.split('"').skip(1).step_by(2) {
                v.push(part.as_bytes().to_vec());
            }
        }
    }
    for s in [
        "80",
        "8080:80",
        "127.0.0.1:8080:80/tcp",
        "[::1]:8080-8081:80-81/udp",
        "0.0.0.0::80",
        "80-90/sctp",
        "[fe80::1]::80",
    ] {
        v.push(s.as_bytes().to_vec());
    }
    v.extend(
        read_dir_sorted(&root().join("fuzz/corpus/portspec"))
            .into_iter()
            .map(|p| std::fs::read(p).unwrap()),
    );
    v.sort();
    v.dedup();
    v
}

fn seeds_schedules() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for p in read_dir_sorted(&root().join("snapshots")) {
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        if !n.starts_with("counterexample__") {
            continue;
        }
        let t = std::fs::read_to_string(&p).unwrap();
        if let (Some(a), Some(b)) = (t.find("schedule:\n"), t.find("\n\nscenario ")) {
            // The parser is line by line: the first 60 lines (header,
            // runs, choices) exercise it as well as 300 do, 5x faster.
            let head: Vec<&str> = t[a + 10..b].lines().take(60).collect();
            v.push(head.join("\n").into_bytes());
        }
    }
    v.push(b"# v1\nt0 t0 t1 v2 t1\n".to_vec());
    v.extend(
        read_dir_sorted(&root().join("fuzz/corpus/schedule"))
            .into_iter()
            .map(|p| std::fs::read(p).unwrap()),
    );
    assert!(v.len() >= 2);
    v
}

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "-9223372036854775809",
    "1e9",
    "0x10",
    "1_000",
    "+5",
];

const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "\"",
    "'",
    "=",
    ",",
    ":",
    "::",
    "/",
    "-",
    "#",
    "\n",
    "{",
    "}",
    "\\",
    "\u{0}",
    "é",
    "[::]",
    "0.0.0.0",
    "::1",
    "tcp",
    "udp",
    "sctp",
    "choose",
    "portsim-schedule",
    "true",
];

/// One mutation of `input` (which may be a splice with `other`).
fn mutate(rng: &mut ChaCha8Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + (rng.next_u32() % 4) as usize;
    for _ in 0..rounds {
        let n = v.len();
        let pick = |rng: &mut ChaCha8Rng, n: usize| {
            if n == 0 {
                0
            } else {
                (rng.next_u64() % n as u64) as usize
            }
        };
        match rng.next_u32() % 10 {
            0 => v.truncate(pick(rng, n + 1)),
            1 if n > 0 => {
                let i = pick(rng, n);
                v[i] ^= 1 << (rng.next_u32() % 8);
            }
            2 => {
                let i = pick(rng, n + 1);
                v.insert(i, (rng.next_u32() % 256) as u8);
            }
            3 if n > 0 => {
                let i = pick(rng, n);
                let len = 1 + pick(rng, 16.min(n - i));
                v.drain(i..(i + len).min(n));
            }
            4 => {
                // Swap two whitespace-separated tokens.
                let t = String::from_utf8_lossy(&v).to_string();
                let mut words: Vec<&str> = t.split(' ').collect();
                if words.len() > 2 {
                    let a = pick(rng, words.len());
                    let b = pick(rng, words.len());
                    words.swap(a, b);
                    v = words.join(" ").into_bytes();
                }
            }
            5 => {
                // Replace a number with an out-of-range one.
                let t = String::from_utf8_lossy(&v).to_string();
                let digits: Vec<usize> = t
                    .char_indices()
                    .filter(|(i, c)| {
                        c.is_ascii_digit() && (*i == 0 || !t.as_bytes()[i - 1].is_ascii_digit())
                    })
                    .map(|(i, _)| i)
                    .collect();
                if !digits.is_empty() {
                    let s = digits[pick(rng, digits.len())];
                    let e = s + t[s..]
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(t.len() - s);
                    let num = NUMBERS[pick(rng, NUMBERS.len())];
                    v = format!("{}{}{}", &t[..s], num, &t[e..]).into_bytes();
                }
            }
            6 => {
                // Insert a syntax token.
                let t = String::from_utf8_lossy(&v).to_string();
                let cuts: Vec<usize> = (0..=t.len()).filter(|i| t.is_char_boundary(*i)).collect();
                let i = cuts[pick(rng, cuts.len())];
                let tok = TOKENS[pick(rng, TOKENS.len())];
                v = format!("{}{}{}", &t[..i], tok, &t[i..]).into_bytes();
            }
            7 => {
                // Duplicate or drop a line.
                let t = String::from_utf8_lossy(&v).to_string();
                let mut lines: Vec<&str> = t.lines().collect();
                if !lines.is_empty() {
                    let i = pick(rng, lines.len());
                    if rng.next_u32() % 2 == 0 {
                        lines.insert(i, lines[i]);
                    } else {
                        lines.remove(i);
                    }
                    v = lines.join("\n").into_bytes();
                }
            }
            8 => {
                // Splice: a prefix of this, a suffix of the other.
                let a = pick(rng, n + 1);
                let b = pick(rng, other.len() + 1);
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            _ => {
                // Swap two lines.
                let t = String::from_utf8_lossy(&v).to_string();
                let mut lines: Vec<&str> = t.lines().collect();
                if lines.len() > 1 {
                    let a = pick(rng, lines.len());
                    let b = pick(rng, lines.len());
                    lines.swap(a, b);
                    v = lines.join("\n").into_bytes();
                }
            }
        }
    }
    v
}

/// Which parser an input goes to.
#[derive(Clone, Copy, Debug)]
enum Target {
    Scenario,
    PortSpec,
    Schedule,
}

/// `N:M: ` at the start of `msg` (after `prefix`), inside `text`.
fn check_position(text: &str, msg: &str, prefix: &str) -> Result<(), String> {
    let rest = msg
        .strip_prefix(prefix)
        .ok_or_else(|| format!("does not start with {prefix:?}"))?;
    let mut it = rest.splitn(3, ':');
    let line: usize = it
        .next()
        .and_then(|x| x.parse().ok())
        .ok_or("no line number")?;
    let col: usize = it
        .next()
        .and_then(|x| x.parse().ok())
        .ok_or("no column number")?;
    let what = it.next().ok_or("no message")?;
    let lines = text.split('\n').count();
    if line == 0 || line > lines + 1 {
        return Err(format!("line {line} outside 1..={}", lines + 1));
    }
    if col == 0 {
        return Err("column 0".into());
    }
    if what.trim().is_empty() {
        return Err("says nothing".into());
    }
    Ok(())
}

/// Run one input through its parser; `Err` describes a defect.
fn check_one(target: Target, bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes).to_string();
    let r = std::panic::catch_unwind(|| match target {
        Target::Scenario => parse_str("fuzz.toml", &text)
            .err()
            .map(|e| (text.clone(), e.to_string())),
        Target::PortSpec => {
            // Docker's own texts echo the spec as given (a newline in it
            // included); the one-line rule is the scenario file's, below.
            let direct = parse_publish(&text).err();
            // Inside a scenario file, the error gains a position.
            let esc = text.replace('\\', "\\\\").replace('"', "\\\"");
            let esc: String = esc
                .chars()
                .map(|c| {
                    if c.is_control() {
                        format!("\\u{:04X}", c as u32)
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            let file = format!(
                "name = \"f\"\nsteps = [\"start c1\"]\n[[daemon]]\nname = \"d1\"\n[[container]]\nname = \"c1\"\npublish = [\"{esc}\"]\n"
            );
            match (direct, parse_str("fuzz.toml", &file)) {
                (Some(_), Ok(_)) => Some((String::new(), "REFUSED-DIRECT-ACCEPTED-IN-FILE".into())),
                (_, Err(e)) => Some((file, e.to_string())),
                (None, Ok(_)) => None,
            }
        }
        Target::Schedule => match parse_file(&text) {
            Err(e) => Some((text.clone(), e.to_string())),
            Ok(ScheduleFile::V2(s)) => {
                // What parses prints back to the same steps.
                let again = parse_file(&s.to_text(&[]));
                (again != Ok(ScheduleFile::V2(s))).then(|| (String::new(), "ROUNDTRIP".to_string()))
            }
            Ok(ScheduleFile::V1(_)) => None,
        },
    });
    let (text, msg) = match r {
        Err(p) => {
            let s = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(format!("panic: {s}"));
        }
        Ok(None) => return Ok(()),
        Ok(Some(m)) => m,
    };
    if msg.starts_with("REFUSED-DIRECT") || msg == "ROUNDTRIP" {
        return Err(msg);
    }
    if msg.contains('\n') {
        return Err(format!("a multi-line message: {msg:?}"));
    }
    let prefix = match target {
        Target::Schedule => "",
        _ => "fuzz.toml:",
    };
    check_position(&text, &msg, prefix).map_err(|e| format!("{e}: {msg:?}"))
}

/// Feed `n` generated inputs to `target`; panics on the first defect with
/// the input. Returns the inputs tried and the slowest parse.
fn run(target: Target, seeds: &[Vec<u8>], n: usize, seed: u64) -> (usize, Duration) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut slowest = Duration::ZERO;
    let mut pool: Vec<Vec<u8>> = seeds.to_vec();
    for i in 0..n {
        let a = &pool[(rng.next_u64() % pool.len() as u64) as usize];
        let b = &pool[(rng.next_u64() % pool.len() as u64) as usize];
        let input = if i < seeds.len() {
            seeds[i].clone()
        } else {
            mutate(&mut rng, a, b)
        };
        let t = Instant::now();
        if let Err(e) = check_one(target, &input) {
            panic!(
                "{target:?} input {i}: {e}\ninput: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
        let d = t.elapsed();
        slowest = slowest.max(d);
        assert!(
            d < Duration::from_secs(10),
            "{target:?} input {i} took {d:?} (a hang?): {:?}",
            String::from_utf8_lossy(&input)
        );
        // Keep some mutants as further seeds (bounded pool).
        if pool.len() < 4096 && input.len() <= 8192 && rng.next_u32() % 16 == 0 {
            pool.push(input);
        }
    }
    (n, slowest)
}

fn budget(default: usize) -> usize {
    std::env::var("PORTSIM_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_scenario_parser_survives_mutated_scenarios() {
    run(Target::Scenario, &seeds_scenarios(), 3000, 1);
}

#[test]
fn the_portspec_parser_survives_mutated_specs() {
    run(Target::PortSpec, &seeds_portspecs(), 3000, 2);
}

#[test]
fn the_schedule_parser_survives_mutated_schedules() {
    run(Target::Schedule, &seeds_schedules(), 3000, 3);
}

/// Each rejection check sees a defect: a multi-line message, one without a
/// position, and a position outside the input are all refused.
#[test]
fn the_rejection_check_refuses_bad_messages() {
    assert!(check_position("a\nb\n", "fuzz.toml:2:1: expected x", "fuzz.toml:").is_ok());
    assert!(check_position("a\nb\n", "fuzz.toml:9:1: expected x", "fuzz.toml:").is_err());
    assert!(check_position("a", "fuzz.toml:1:0: expected x", "fuzz.toml:").is_err());
    assert!(check_position("a", "expected x", "fuzz.toml:").is_err());
    assert!(check_position("a", "1:1: ", "").is_err());
}

/// The documented long run: 10^6 inputs per parser (release).
#[test]
#[ignore]
fn a_million_inputs_per_parser() {
    let n = budget(1_000_000);
    for (target, seeds, seed) in [
        (Target::Scenario, seeds_scenarios(), 11),
        (Target::PortSpec, seeds_portspecs(), 12),
        (Target::Schedule, seeds_schedules(), 13),
    ] {
        let t = Instant::now();
        let (tried, slowest) = run(target, &seeds, n, seed);
        println!(
            "fuzz {target:?}: {tried} inputs, no defect, {:.1}s, slowest parse {slowest:?}",
            t.elapsed().as_secs_f64()
        );
    }
}
