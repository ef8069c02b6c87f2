//! cicada (work in progress).
