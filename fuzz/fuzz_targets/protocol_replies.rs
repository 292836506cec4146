//! Every document reader of the wire contract (docs/protocol.md) on arbitrary
//! bytes: no panic, no unbounded work; and whatever parses must write back to a
//! document that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_protocol::{
    Discovery, MAX_REPLY_BYTES, PostureResult, PostureStatusReply, Report, Requirements,
};

fuzz_target!(|data: &[u8]| {
    // The agent caps bodies before parsing; mirror that.
    let data = &data[..data.len().min(MAX_REPLY_BYTES)];
    if let Ok(d) = Discovery::from_xml(data) {
        assert_eq!(Discovery::from_xml(d.to_xml().as_bytes()).as_ref(), Ok(&d));
    }
    if let Ok(r) = Requirements::from_xml(data) {
        assert_eq!(
            Requirements::from_xml(r.to_xml().as_bytes()).as_ref(),
            Ok(&r)
        );
    }
    if let Ok(r) = Report::from_xml(data) {
        assert_eq!(Report::from_xml(r.to_xml().as_bytes()).as_ref(), Ok(&r));
    }
    if let Ok(r) = PostureResult::from_xml(data) {
        assert_eq!(
            PostureResult::from_xml(r.to_xml().as_bytes()).as_ref(),
            Ok(&r)
        );
    }
    if let Ok(r) = PostureStatusReply::from_xml(data) {
        assert_eq!(
            PostureStatusReply::from_xml(r.to_xml().as_bytes()).as_ref(),
            Ok(&r)
        );
    }
});
