//! Inverse-time breakers and fuses (helper-owned, in progress).
