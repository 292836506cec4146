//! One module per subcommand.

pub mod dart;
pub mod install;
pub mod profile;
pub mod run;
pub mod status;
