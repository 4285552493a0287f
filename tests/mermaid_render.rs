//! The diagrams through a real Mermaid renderer: `check --format markdown`
//! output and every committed counterexample diagram
//! (`snapshots/mermaid__*.snap`) are rendered to PNG by mermaid-cli (`mmdc`)
//! under headless Chromium. Skipped, with the reason printed, where either
//! is missing (`scripts/install-mermaid.sh` installs both; `.ci/run` calls
//! it). A diagram Mermaid cannot parse fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn found(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is no PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn check_markdown_and_every_counterexample_diagram_render_to_png() {
    if !found("mmdc") || !Path::new("/usr/bin/chromium").exists() {
        println!(
            "skipped: needs mermaid-cli (mmdc) and /usr/bin/chromium; run scripts/install-mermaid.sh"
        );
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("portsim-mermaid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_portsim"))
        .current_dir(ROOT)
        .args([
            "check",
            "scenarios/issue-52903.toml",
            "--format",
            "markdown",
            "--out",
        ])
        .arg(dir.join("schedules"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let mut md = String::from_utf8(check.stdout).unwrap();
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("mermaid__")
        })
        .collect();
    snaps.sort();
    assert!(!snaps.is_empty());
    for s in &snaps {
        let text = std::fs::read_to_string(s).unwrap();
        // insta's header ends at the second `---` line.
        let body = text.splitn(3, "---\n").nth(2).unwrap();
        md.push_str(&format!("\n```mermaid\n{body}```\n"));
    }
    let input = dir.join("check.md");
    std::fs::write(&input, &md).unwrap();
    let out = Command::new("mmdc")
        .current_dir(&dir)
        .arg("-p")
        .arg(Path::new(ROOT).join("scripts/puppeteer-config.json"))
        .args([
            "-i",
            "check.md",
            "-o",
            "rendered.md",
            "-e",
            "png",
            "-b",
            "white",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mmdc failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let diagrams = 1 + snaps.len();
    for i in 1..=diagrams {
        let png = dir.join(format!("rendered-{i}.png"));
        let (w, h) = png_size(&png);
        println!("{}: {w}x{h}", png.display());
        assert!(w > 600 && h > 300, "{}: {w}x{h}", png.display());
    }
    assert!(!dir.join(format!("rendered-{}.png", diagrams + 1)).exists());
    if std::env::var_os("PORTSIM_KEEP_RENDER").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
