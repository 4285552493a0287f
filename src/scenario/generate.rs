//! Scenario generators for measurements: scenarios whose size is a
//! parameter, as TOML text that goes through the ordinary parser.
//!
//! Not moby code. `benches/scale.rs` times them and `tests/scale.rs`
//! checks that the checkers' work per container stays roughly flat as
//! they grow.

/// `n` containers on one daemon, each `-p 0:80`, started one after the
/// other (no concurrent step: one interleaving).
pub fn sequential_starts(n: usize) -> String {
    let steps: Vec<String> = (1..=n).map(|i| format!("\"start c{i}\"")).collect();
    let mut s = format!(
        "name = \"sequential-{n}\"\nsteps = [{}]\n\n[[daemon]]\nname = \"d1\"\n",
        steps.join(", ")
    );
    for i in 1..=n {
        s.push_str(&format!(
            "\n[[container]]\nname = \"c{i}\"\npublish = [\"0:80\"]\n"
        ));
    }
    s
}

/// One container publishing `n` container ports at once (`-p 20000-X:1000-Y`,
/// a fixed host port per container port).
pub fn wide_publish(n: u16) -> String {
    let n = n.max(1);
    format!(
        "name = \"wide-{n}\"\nsteps = [\"start c1\"]\n\n[[daemon]]\nname = \"d1\"\n\n[[container]]\nname = \"c1\"\npublish = [\"20000-{}:1000-{}\"]\n",
        20000 + u32::from(n) - 1,
        1000 + u32::from(n) - 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_scenarios_parse() {
        let s = crate::scenario::parse_str("g", &sequential_starts(3)).unwrap();
        assert_eq!(s.containers.len(), 3);
        assert_eq!(s.steps.len(), 3);
        let w = crate::scenario::parse_str("w", &wide_publish(5)).unwrap();
        assert_eq!(w.containers[0].publish.len(), 5);
        assert_eq!(w.containers[0].publish[4].host_port, 20004);
    }
}
