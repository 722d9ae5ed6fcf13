//! Power plots (helper-owned, in progress).
