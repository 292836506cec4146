//! Typed model of the posture profile (ISEPostureCFG.xml-like).
