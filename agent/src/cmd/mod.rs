//! One module per subcommand.

pub mod profile;
pub mod run;
pub mod status;
