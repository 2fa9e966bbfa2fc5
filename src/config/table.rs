//! The README's table of options, rendered from their declarations so the
//! two cannot drift: a test compares it with the README, and
//! `JWTD_BLESS=1 cargo test readme_option_table` rewrites the README's copy.

/// Where the table sits in `README.md`.
pub const BEGIN: &str = "<!-- options:begin (generated from src/config/options.rs) -->";
/// Its end.
pub const END: &str = "<!-- options:end -->";

/// The Markdown table: one row per option, in declaration order.
pub fn render() -> String {
    let cmd = super::options::command();
    let mut out = String::from("| option | environment | default | meaning |\n|---|---|---|---|\n");
    for arg in cmd.get_arguments() {
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        // Defaults that depend on other options are written in the doc
        // comment as `[default: …]`, since clap has no value to show.
        let (meaning, stated) = match help.rsplit_once(" [default: ") {
            Some((meaning, rest)) => (meaning.to_owned(), rest.strip_suffix(']')),
            None => (help.clone(), None),
        };
        let default = match (arg.get_default_values().first(), stated) {
            (Some(v), _) => format!("`{}`", v.to_string_lossy()),
            (None, Some("none") | None) => "none".to_owned(),
            (None, Some(words)) if words.contains(' ') => words.to_owned(),
            (None, Some(value)) => format!("`{value}`"),
        };
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {env} | {default} | {} |\n",
            arg.get_id(),
            meaning.trim_end_matches('.').replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_option_table_matches_the_declarations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md is readable");
        let (head, rest) = readme
            .split_once(BEGIN)
            .expect("README has the options begin marker");
        let (current, tail) = rest
            .split_once(END)
            .expect("README has the options end marker");
        let expected = format!("\n{}", render());
        if current != expected && std::env::var_os("JWTD_BLESS").is_some() {
            std::fs::write(path, format!("{head}{BEGIN}{expected}{END}{tail}"))
                .expect("README.md is writable");
            return;
        }
        assert_eq!(
            current, expected,
            "README's option table differs from src/config/options.rs; rerun with JWTD_BLESS=1 to rewrite it"
        );
    }
}
