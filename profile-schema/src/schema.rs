//! Schema export (JSON) and the generated key reference in `docs/profile.md`,
//! both produced from [`KEYS`] so that they cannot drift from the parser.

use serde::Serialize;
use serde_json::Value as Json;

use crate::keys::{KEYS, KeyDef};
use crate::profile::MAX_PROFILE_BYTES;
use crate::xml::{MAX_DEPTH, ROOT};

/// Identifies the schema document's format; bump `version` on breaking changes.
pub const SCHEMA_FORMAT: &str = "posture-sync-profile-schema";

/// The schema document; field order is the output order.
#[derive(Debug, Serialize)]
struct SchemaDoc {
    format: &'static str,
    version: u32,
    root: &'static str,
    max_bytes: usize,
    max_depth: usize,
    unknown_keys: &'static str,
    unused_keys: &'static str,
    nested_elements: &'static str,
    empty_value: &'static str,
    keys: Vec<KeySchema>,
}

#[derive(Debug, Serialize)]
struct KeySchema {
    name: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<u32>,
    default: DefaultValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_port: Option<u16>,
    used_by_posture_sync: bool,
    /// What a value outside the type or range is: "error" (the profile is
    /// refused) or "warning" (kept, linted); follows `used_by_posture_sync`.
    invalid_value: &'static str,
    meaning: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    range_note: &'static str,
}

/// Numeric defaults are numbers in the schema, the others text.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum DefaultValue {
    Number(u32),
    Text(&'static str),
}

fn doc() -> SchemaDoc {
    SchemaDoc {
        format: SCHEMA_FORMAT,
        version: 1,
        root: ROOT,
        max_bytes: MAX_PROFILE_BYTES,
        max_depth: MAX_DEPTH,
        unknown_keys: "kept in file order and written back unchanged (attributes and inner elements included); reported as notes, never errors",
        unused_keys: "keys with used_by_posture_sync false are kept as written; a value outside their type or range is a lint warning (invalid_value), never an error",
        nested_elements: "an element inside a key is an error for keys with used_by_posture_sync true, a lint warning for the other known keys, and kept as written for unknown keys",
        empty_value: "an empty element (<Key/>) means the key's default",
        keys: KEYS.iter().map(key_schema).collect(),
    }
}

fn key_schema(k: &KeyDef) -> KeySchema {
    let range = k.ty.range();
    KeySchema {
        name: k.name,
        ty: k.ty.name(),
        unit: k.ty.unit(),
        min: range.map(|r| r.0),
        max: range.map(|r| r.1),
        // The table test checks that every numeric default parses.
        default: match (range, k.default.parse::<u32>()) {
            (Some(_), Ok(n)) => DefaultValue::Number(n),
            _ => DefaultValue::Text(k.default),
        },
        default_port: k.ty.default_port(),
        used_by_posture_sync: k.used,
        invalid_value: if k.used { "error" } else { "warning" },
        meaning: k.doc,
        range_note: k.note,
    }
}

/// A machine-readable description of every known key: name, type, unit,
/// range, default, default port, whether posture-sync uses it (and so
/// whether a bad value is an error or a warning), and meaning.
pub fn schema_json() -> Json {
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_value(doc()).unwrap_or(Json::Null)
}

/// [`schema_json`] as pretty-printed text with fields in a readable order
/// (name first), as `posture-sync profile schema` prints it.
pub fn schema_json_pretty() -> String {
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&doc()).unwrap_or_default()
}

const INTRO: &str = include_str!("doc/intro.md");
const OUTRO: &str = include_str!("doc/outro.md");

/// The full text of `docs/profile.md`: hand-written prose from
/// `profile-schema/src/doc/` around a key reference generated from [`KEYS`].
pub fn profile_doc_markdown() -> String {
    let mut out = String::with_capacity(INTRO.len() + OUTRO.len() + 8192);
    // The limits quoted in the prose come from the code, not from memory.
    out.push_str(
        &INTRO
            .replace("{{MAX_DEPTH}}", &MAX_DEPTH.to_string())
            .replace(
                "{{MAX_ATTRIBUTES}}",
                &crate::xml::MAX_ATTRIBUTES.to_string(),
            )
            .replace("{{MAX_ERRORS}}", &crate::xml::MAX_ERRORS.to_string())
            .replace("{{MAX_NOTES}}", &crate::profile::MAX_NOTES.to_string()),
    );
    out.push_str("\n## Known keys\n\n");
    out.push_str("<!-- generated from profile-schema/src/keys.rs: edit the table there, then run\n     UPDATE_DOCS=1 cargo test -p profile-schema --test docs -->\n\n");
    for (title, used, lead) in [
        (
            "Keys posture-sync uses",
            true,
            "The agent reads these keys. A value that is not allowed is an **error**: the profile is refused.",
        ),
        (
            "Vendor keys posture-sync keeps but does not use",
            false,
            "The agent does not read these keys; the vendor's agent and ISE do. They are kept as written. A value outside the range below, or an element inside the key, is a lint **warning** (`the agent does not use this key; ISE may`), never an error: many of these ranges are posture-sync's guesses (see \"Where ranges come from\"), and ISE may allow more.",
        ),
    ] {
        out.push_str(&format!("### {title}\n\n{lead}\n\n"));
        out.push_str("| Key | Type | Allowed | Default | Meaning |\n|---|---|---|---|---|\n");
        for k in KEYS.iter().filter(|k| k.used == used) {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.name,
                k.ty.name(),
                k.ty.allowed(),
                default_text(k),
                cell(k.doc)
            ));
        }
        out.push('\n');
    }
    out.push_str("### Where ranges come from\n\n");
    out.push_str("Ranges and defaults not given by the vendor's documentation were chosen by posture-sync so that the values seen in real profiles fit (for keys the agent does not use, a value outside them is only a warning):\n\n");
    for k in KEYS.iter().filter(|k| !k.note.is_empty()) {
        out.push_str(&format!("- `{}`: {}\n", k.name, k.note));
    }
    out.push('\n');
    out.push_str(OUTRO);
    out
}

fn default_text(k: &KeyDef) -> String {
    let base = if k.default.is_empty() {
        "empty".to_owned()
    } else {
        match k.ty.unit() {
            Some(unit) => format!("{} {unit}", k.default),
            None => k.default.to_owned(),
        }
    };
    match k.ty.default_port() {
        Some(port) => format!("{base} (port {port})"),
        None => base,
    }
}

/// Keep a table cell on one line and its pipes literal.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
