//! Fuzz the profile parser: arbitrary bytes must never panic, errors must
//! carry a position, and any profile that parses must survive the writer
//! unchanged (`parse(write(p)) == p`) and lint without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use profile_schema::Profile;

fuzz_target!(|data: &[u8]| {
    // Profiles are UTF-8; `Profile::load` refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Profile::parse(text) {
        Ok(loaded) => {
            let written = loaded.profile.to_xml();
            let again = Profile::parse(&written).expect("a written profile parses");
            assert_eq!(
                again.profile, loaded.profile,
                "round trip changed the profile"
            );
            assert_eq!(again.profile.to_xml(), written, "writing is not stable");
            let _ = loaded.profile.lint();
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|d| d.line >= 1 && d.column >= 1));
        }
    }
});
