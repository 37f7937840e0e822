//! The order saga's domain: what an order request is, what each step receives and returns, the errors the
//! workflow matches on, and the fault plan used to rehearse failures.
//!
//! Everything here is shared by the step handlers (`saga-steps`), the stores (`saga-store*`) and the local
//! gateway, so that the names Step Functions matches in `Retry`/`Catch` (`Saga.InsufficientStock`, …) are
//! defined exactly once. Nothing here does I/O.

pub mod error;
pub mod events;
pub mod faults;
pub mod model;
pub mod validate;

pub use error::StepError;
pub use faults::{FaultMode, FaultPlan, Step};
pub use model::{
    Failure, Order, OrderLine, OrderRequest, OrderStatus, Reservation, ReservationStatus,
    StockLevel,
};

/// Milliseconds since the Unix epoch, the unit every stored timestamp uses.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
