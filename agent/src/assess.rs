//! (network drivers; owned by helper "drivers")
