//! The range allocators placement draws from: `drm_mm` (any size, any
//! alignment, holes) and `drm_buddy` (power-of-two blocks). Both refuse bad
//! input with an errno and leave their state unchanged when they do.

pub mod buddy;
pub mod mm;

pub use buddy::{Block, Buddy, BuddyStats};
pub use mm::{Hole, InsertMode, Mm, MmNode, MmStats};
