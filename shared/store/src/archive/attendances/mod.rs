//! Archived sessions and their records: the rows and how they read back
//! (`rows`), the listings and lookups (`reads`), edits of an archived
//! session or record under a row lock (`edits`), the sweeper's write of a
//! finished session (`sweep`), and the audit trail both of those append to
//! (`audit`).

mod audit;
mod edits;
mod reads;
mod rows;
mod sweep;

pub use edits::{ArchivedRecordEdit, ArchivedSessionEdit};
pub use reads::TeacherAttendance;
pub use sweep::{Archived, SessionToArchive};
