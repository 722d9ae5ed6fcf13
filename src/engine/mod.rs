//! The domain-free core: simulation time, the event queue and seeded random streams.

pub(crate) mod queue;
pub mod rng;
pub(crate) mod time;

pub use queue::{EventQueue, ScheduleError};
pub use rng::stream;
pub use time::SimTime;
