//! The status socket's request reader on arbitrary bytes: always exactly one
//! JSON line back, the status for "status" and an error object otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = serde_json::json!({ "phase": "known" });
    let line = posture_sync::control::reply_for(data, &status);
    assert!(!line.contains('\n'));
    let value: serde_json::Value = serde_json::from_str(&line).expect("reply is JSON");
    let is_status = std::str::from_utf8(data).is_ok_and(|t| t.trim() == "status");
    assert_eq!(value == status, is_status);
});
