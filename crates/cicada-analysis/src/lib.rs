//! cicada-analysis (work in progress).
