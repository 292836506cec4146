//! (endpoint plumbing; owned by helper "ops")
