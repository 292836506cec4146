//! Check profiles without building the agent:
//! `cargo run -p profile-schema --example check -- FILE...`
//! prints errors, warnings and notes like `posture-sync profile check`.

use std::path::Path;

use profile_schema::Profile;

fn main() {
    for arg in std::env::args().skip(1) {
        let path = Path::new(&arg);
        match Profile::load(path) {
            Ok(loaded) => {
                for d in loaded.profile.lint().iter().chain(&loaded.notes) {
                    eprintln!("{}", d.render(path));
                }
                println!("{arg}: valid");
            }
            Err(profile_schema::LoadError::Invalid { errors, .. }) => {
                for d in &errors {
                    eprintln!("{}", d.render(path));
                }
                println!("{arg}: invalid");
            }
            Err(e) => println!("{e}"),
        }
    }
}
