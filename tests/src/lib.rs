//! Helpers for end-to-end tests: locate the binaries, temp dirs, wait for events.
