//! (pure core; owned by helper "core")
