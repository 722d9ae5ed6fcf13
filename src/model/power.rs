//! Server power models (helper-owned, in progress).
