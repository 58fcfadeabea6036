//! Background work that runs inside `serve`, beside the API and the pages on the shared floor.
//! Every job reads time from the store's clock, so the test clock drives it too, and is safe on
//! several nodes at once: the work it starts is itself exactly-once.

mod heartbeat;
mod month_close;
pub mod outbox;
mod reminders;
#[cfg(feature = "testing")]
pub mod testing;

pub use heartbeat::heartbeat;
pub use month_close::{MonthClose, month_to_close};
pub use outbox::{DispatchSettings, Dispatcher, Letterhead, MailError, Transport};
pub use reminders::LinkReminders;
