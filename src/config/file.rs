//! The config file (TOML, keys are the option names) and how it is laid
//! under flags and environment variables: each of its values becomes the
//! default of its option's clap argument, so clap's own precedence (flag >
//! env > default) gives flag > env > file > built-in default, and the
//! file's values go through the same parsers and errors as flags.
//!
//! Why not figment: it would add a second `toml` major version and a
//! proc-macro parser crate to the build for what is twenty lines here, and
//! its errors name a key path and a provider, not our option names.

use std::path::Path;

use clap::Command;

use super::ConfigError;

/// The values of a config file, as text keyed by option name.
#[derive(Debug, Default)]
pub struct FileValues(Vec<(String, String)>);

impl FileValues {
    /// Reads and checks the file at `path`: TOML with scalar values whose
    /// keys are all options.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("config", format!("{}: {e}", path.display())))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("config", e.message().to_owned()))?;
        let known = known_options();
        let mut values = Vec::with_capacity(table.len());
        for (key, value) in table {
            if !known.contains(&key) {
                return Err(ConfigError::new(key, "unknown option in config file"));
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(ConfigError::new(
                        key,
                        "expected a string, number or boolean",
                    ));
                }
            };
            values.push((key, text));
        }
        Ok(Self(values))
    }

    /// `cmd` with each of the file's values as the default of the argument
    /// it names; values for arguments `cmd` lacks are left alone.
    pub fn lay_under(&self, mut cmd: Command) -> Command {
        for (key, value) in &self.0 {
            if cmd.get_arguments().any(|a| a.get_id() == key) {
                cmd = cmd.mut_arg(key, |a| a.default_value(value.clone()));
            }
        }
        cmd
    }
}

/// Every option name a config file may hold.
pub fn known_options() -> Vec<String> {
    super::options::command()
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .collect()
}
