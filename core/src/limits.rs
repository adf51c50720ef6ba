//! Size limits on what a person can write, so one document cannot be bloated by accident or on
//! purpose. The relay checks the same limits on what arrives.

/// Longest short field (names, phone, items, title), in characters.
pub const SHORT_TEXT: usize = 200;
/// Longest free text (notes, request text, schedules), in characters.
pub const LONG_TEXT: usize = 4000;
/// Largest count of people in one household.
pub const PEOPLE: u32 = 100;
/// Floors a household may be on, basements included.
pub const FLOORS: std::ops::RangeInclusive<i32> = -9..=200;
/// Longest a text field (notes) may grow by merging edits that were each within
/// [`LONG_TEXT`] as their author made them: eight phones filling the same notes offline. Still
/// within what an Excel cell holds (32,767).
pub const MERGED_TEXT: usize = 8 * LONG_TEXT;
/// Most tasks one round may hold.
pub const TASKS_PER_ROUND: usize = 20_000;
/// Most attempts one person may record on one task: a knock a day, several times a day, for a
/// month is far under it. Each new attempt is checked against the list as its author saw it, so
/// a batch of thousands on one task cost the square of their number (20,000 held a round for
/// minutes).
pub const ATTEMPTS_BY_ONE_PERSON: usize = 200;
/// Most attempts one task may hold, everyone's together. Counted per person first
/// ([`ATTEMPTS_BY_ONE_PERSON`]), so that one volunteer knocking on another's task cannot fill it
/// and have the assignee's delivery refused (with a single cap of 200 per task, it was).
pub const ATTEMPTS_PER_TASK: usize = 1_000;
/// Most tasks a round may hold by merging tasks added offline, each within
/// [`TASKS_PER_ROUND`] as its author added it.
pub const MERGED_TASKS_PER_ROUND: usize = 2 * TASKS_PER_ROUND;
/// Largest single Automerge change the relay accepts, in bytes (uncompressed).
pub const CHANGE_BYTES: usize = 1024 * 1024;
/// Most bytes the compressed columns of one document chunk in a sync message may inflate to
/// (a whole-document message; the 1,040-household sample roster inflates to a few megabytes).
pub const DOCUMENT_INFLATED_BYTES: usize = 64 * 1024 * 1024;
/// Most operations one change may hold, counted from its run lengths before Automerge reads it:
/// a 10,000-household roster imported in one change is about 300,000.
pub const CHANGE_OPS: u64 = 1_000_000;
/// Most operations (and changes) the columns of one whole-document chunk in a sync message may
/// describe.
pub const DOCUMENT_OPS: u64 = 5_000_000;
/// Most actors the changes of one document message may be made under. A phone writes under its
/// own (a new one when its file turns out to be an older copy); a phone forwarding its team's
/// changes to a relay restored from an older backup carries one per teammate. Each is looked up
/// before the message is taken, and 4,200 made-up ones in three requests once gave a document
/// more heads than a sync may carry.
pub const ACTORS_PER_MESSAGE: usize = 256;
/// Most actors the relay has never seen that one message may bring: a phone's first sync, its
/// sign-in on a shared phone, or its file restored from an older copy each bring one.
pub const NEW_ACTORS_PER_MESSAGE: usize = 4;
/// How deep an object may sit below a document's root. The deepest Doorstep writes is 4 (a
/// round's `tasks` map, a task, its `attempts` list, an attempt); Automerge's patches carry each
/// object's whole path, so a chain of nested objects costs the square of its depth to apply.
pub const OBJECT_DEPTH: usize = 6;
/// How long before the relay's clock a recorded time may lie: a phone may have been offline
/// this long. Older times (a phone whose clock says 1970) are refused.
pub const TIME_BEHIND: i64 = 30 * DAY;
/// How far after the relay's clock a recorded time may lie: phones' clocks drift, but not by
/// more than a day unless they are wrong.
pub const TIME_AHEAD: i64 = DAY;
/// A day in milliseconds.
const DAY: i64 = 24 * 60 * 60 * 1000;
