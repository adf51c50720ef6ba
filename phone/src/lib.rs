//! `doorstep phone …` (and the standalone `doorstep-phone`): a volunteer's (or coordinator's)
//! phone in a terminal, on the same replica and HTTP transport the mobile bindings use. It is how
//! people try Doorstep without a phone, and how the end-to-end tests and scripts drive it.
//! `--json` prints machine-readable output.
//!
//! It is a crate of its own so that the relay (`doorstep-server`) links neither the phone's
//! store nor its HTTP client; the `doorstep` binary puts the two under one command.

mod clock;
mod error;
mod handle;
mod key_file;
mod people;
mod refusal;
mod render;
mod resolve;
mod tasks_gone;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::{Args, Subcommand};
use doorstep_core::relay_engine::rejection::HELD_FOR_ITS_AUTHOR;
use doorstep_core::schema::vocabulary::{Category, Channel, Outcome, Urgency};
use doorstep_core::{Operation, query};
use doorstep_replica::http::{self, RelayClient, TransportError};
use doorstep_replica::{Replica, SyncReport};

use crate::clock::now;
use doorstep_core::join_link::JoinLink;

pub use error::PhoneError;

/// Options every phone command takes.
#[derive(Debug, Args)]
pub struct PhoneArgs {
    /// The phone's SQLite file (created on first use).
    #[arg(long, env = "DOORSTEP_PHONE_DB", default_value = "phone.sqlite")]
    pub db: PathBuf,
    /// A file holding the key that encrypts the phone's file (64 hex digits). Created with a
    /// fresh random key (readable by its owner only) when it does not exist; a plain phone file
    /// opened with a key is encrypted in place. Default: the phone's file name with `.key`
    /// added, next to it (phone.sqlite.key). Keep it elsewhere (a USB stick, a secrets
    /// directory) for the file alone to give nothing away.
    #[arg(long, env = "DOORSTEP_PHONE_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Keep the phone's file unencrypted (for inspecting it in tests and tools). The file is
    /// encrypted unless this is given.
    #[arg(long, conflicts_with = "key_file")]
    pub unencrypted: bool,
    /// The certificate (PEM) of the CA that signed the relay's HTTPS certificate, for a relay
    /// with its own CA (`doorstep serve --tls-cert`); trusted besides the system's roots.
    #[arg(long, env = "DOORSTEP_PHONE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: PhoneCommand,
}

/// The phone's commands.
#[derive(Debug, Subcommand)]
pub enum PhoneCommand {
    /// Joins a compound with an invite code from a coordinator, or the `doorstep://join?…`
    /// link its QR code holds (which names the relay too).
    Join {
        /// The relay's URL, e.g. http://127.0.0.1:7700; not needed with a link.
        #[arg(long, env = "DOORSTEP_RELAY")]
        relay: Option<String>,
        /// The invite code, or the `doorstep://join?relay=…&code=…` link.
        code: String,
        /// Your name, as coordinators will see it on rounds and the members list ("李强").
        #[arg(long)]
        name: String,
        /// A name for this device.
        #[arg(long, default_value = "terminal phone")]
        device: String,
    },
    /// Signs in with a device token you already have (e.g. one `serve --demo` printed, or the
    /// `doorstep://login?…` link of a token minted on the dashboard's members page).
    Login {
        /// The relay's URL, e.g. http://127.0.0.1:7700; not needed with a link.
        #[arg(long, env = "DOORSTEP_RELAY")]
        relay: Option<String>,
        /// The device token, or the `doorstep://login?relay=…&token=…` link.
        token: String,
    },
    /// Syncs with the relay (when in signal).
    Sync,
    /// Who this phone is, its compounds, unsynced changes and last sync.
    Status,
    /// My tasks, grouped by door in climbing order (`--all`: every open task of the compound),
    /// each with the handle `claim`, `attempt` and `release` take: its door ("1-1-101"), or
    /// "1-1-101/2" where a door has tasks in several rounds.
    Tasks {
        /// Every pending task, not only mine.
        #[arg(long)]
        all: bool,
    },
    /// Takes an unassigned task.
    Claim {
        /// The task's handle as `tasks` shows it: its door ("1-1-101" or "1号楼1单元101"), with
        /// "/2" where the door has several tasks. Scripts may give a task ID (or a prefix of at
        /// least 6 characters).
        task: String,
    },
    /// Releases a task.
    Release {
        /// The task's handle as `tasks` shows it ("1-1-101", "1-1-101/2"), or a task ID.
        task: String,
    },
    /// Records what happened at the door.
    Attempt {
        /// The task's handle as `tasks` shows it ("1-1-101", "1-1-101/2"), or a task ID.
        task: String,
        /// delivered | nobody_home | refused | wrong_address (or 已送达 …).
        outcome: Outcome,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Takes down a resident's request at the door (or by phone).
    Request {
        /// The household's address: 17号楼3单元702, 17栋3单元702室 or 17-3-702.
        address: String,
        /// What they ask for.
        text: String,
        /// groceries | medicine | medical | other.
        #[arg(long, default_value = "groceries")]
        category: Category,
        /// normal | urgent | critical.
        #[arg(long, default_value = "normal")]
        urgency: Urgency,
        /// phone | wechat | door | other.
        #[arg(long, default_value = "door")]
        channel: Channel,
    },
    /// Replaces a household's notes (another phone's edit made meanwhile merges with it, as
    /// notes are shared text).
    Notes {
        /// The household's address.
        address: String,
        /// The new notes.
        text: String,
    },
    /// Shows the household at an address.
    Find {
        /// The address.
        address: String,
    },
    /// Rounds with every task, its derived status and every attempt (a coordinator's view).
    Rounds,
    /// Counts by control status, need and task status.
    Counts,
    /// Conflicts to review (double deliveries, competing assignments, concurrent statuses), each
    /// with who reviewed it, when and their note, or "to review".
    Conflicts,
    /// Marks a conflict reviewed (coordinators): the task of a double delivery or competing
    /// assignment, or the address of a household with concurrent statuses.
    Review {
        /// The handle `conflicts` shows ("1-1-101", "1-1-101/2"): the task's door, or the
        /// household's address for concurrent statuses. Scripts may give a task ID.
        target: String,
        /// What you found or did ("已核实，第二份转给 2-1-302").
        #[arg(long, default_value = "")]
        note: String,
        /// Which conflict of a task that has both: `delivery` (delivered twice) or `assignment`
        /// (assigned concurrently). Without it, the task's first conflict still to review.
        #[arg(long, value_enum)]
        kind: Option<resolve::TaskConflict>,
    },
    /// Residents' requests.
    Requests,
    /// Changes the relay refused (`--export FILE` writes them as JSON).
    Quarantine {
        /// Write the refused changes (with their bytes, hex) to this file.
        #[arg(long)]
        export: Option<PathBuf>,
    },
    /// Applies any operation given as JSON, e.g. '{"op":"close_round","round":"…"}'.
    Op {
        /// The operation, as JSON.
        operation: String,
    },
}

/// `sync`: with the relay and token the phone keeps.
async fn sync_now(
    replica: &Mutex<Replica>,
    ca: Option<&Path>,
    out: &render::Output,
) -> Result<(), PhoneError> {
    // A revoked phone's report of the work its wipe took, which the link cut off: told first.
    let pending = lock(replica).pending_wipe_report()?;
    if let Some(pending) = pending {
        let revoked = relay_client(&pending.relay, Some(pending.token), ca)?;
        if http::send_pending_wipe_report(replica, &revoked).await? {
            eprintln!("{}", render::WIPE_REPORT_SENT);
        }
    }
    let Some((url, token)) = lock(replica).remembered_relay()? else {
        refuse_if_removed(&lock(replica))?;
        return Err(PhoneError::NotJoined);
    };
    let client = relay_client(&url, Some(token), ca)?;
    // What the phone calls its rounds and doors now: a change the relay refuses may be in a
    // round this sync drops, and the quarantine still names it by them.
    let before = render::DocumentNames::of(&lock(replica));
    let mine = tasks_gone::MyTasks::of(&lock(replica));
    let report = match http::sync(replica, &client, now).await {
        Err(TransportError::Removed { compounds }) => return Err(PhoneError::Removed(compounds)),
        other => other?,
    };
    remember_labels(&mut lock(replica), &before)?;
    people::learn_after_sync(replica, &client).await?;
    let r = lock(replica);
    out.synced(&report, r.unsynced_changes(), render::SetAside::of(&r)?);
    // Said on stderr, so that `--json`'s stdout stays the report's one line.
    for line in mine.gone(&r, &report.removed_from) {
        eprintln!("{line}");
    }
    incomplete(&report)
}

/// A sync that left documents behind (the relay could not take them now, or a reply did not
/// apply) fails, after its report: a script or cron job can tell that its work did not go up.
/// Another person's changes held for their author (`held_for_its_author`: a relay restored from
/// a backup older than them takes them only from their author's phone) are no failure of this
/// phone's sync: the report names them, and they wait for that phone, not for this one to retry.
fn incomplete(report: &SyncReport) -> Result<(), PhoneError> {
    let left_behind = report.retrying.iter().filter(|r| r.rule != HELD_FOR_ITS_AUTHOR);
    // The review inbox's exchange is no document: its failure is said as what it is.
    let (inbox, failed): (Vec<&String>, Vec<&String>) =
        report.failed.iter().partition(|f| f.starts_with(http::REVIEW_INBOX));
    let mut documents: Vec<_> = left_behind.clone().map(|r| r.doc.to_string()).collect();
    documents.extend(failed.iter().map(|f| f.split(':').next().unwrap_or(f).to_owned()));
    documents.sort();
    documents.dedup();
    if documents.is_empty() {
        return match inbox.first() {
            Some(why) => Err(PhoneError::SetAsideUnsent(
                why.trim_start_matches(http::REVIEW_INBOX).trim_start_matches(':').trim().to_owned(),
            )),
            None => Ok(()),
        };
    }
    let mut rules: Vec<&str> = left_behind.map(|r| r.rule.as_str()).collect();
    if !failed.is_empty() {
        rules.push("reply not applied");
    }
    if !inbox.is_empty() {
        rules.push("review inbox not reached");
    }
    rules.sort_unstable();
    rules.dedup();
    Err(PhoneError::SyncIncomplete { count: documents.len(), rules: rules.join(", ") })
}

/// Runs a phone command. With `--json`, a failure is a line on stdout too
/// ([`render::Output::failed`]): a script reading stdout learns what went wrong. Not for a sync
/// that left documents behind: its report, printed already, is that command's one line.
pub async fn run(args: PhoneArgs) -> Result<(), PhoneError> {
    let out = render::Output { json: args.json };
    let ran = run_command(args).await;
    match &ran {
        Err(PhoneError::SyncIncomplete { .. } | PhoneError::SetAsideUnsent(_)) | Ok(()) => {}
        Err(error) => out.failed(error),
    }
    ran
}

/// [`run`]'s command.
async fn run_command(args: PhoneArgs) -> Result<(), PhoneError> {
    let replica = Mutex::new(open_replica(&args)?);
    let ca = args.ca_cert.as_deref();
    let out = render::Output { json: args.json };
    if needs_a_compound(&args.command) {
        refuse_if_removed(&lock(&replica))?;
        refuse_if_nothing_came(&lock(&replica))?;
        warn_if_sync_unfinished(&lock(&replica))?;
    }
    match args.command {
        PhoneCommand::Join { relay, code, name, device } => {
            let (relay, code) = match from_link(&code)? {
                Some(JoinLink::Join { relay, code }) => (relay, code),
                Some(JoinLink::Login { .. }) => return Err(wrong_link("a sign-in", "doorstep phone login")),
                None => (relay.ok_or(PhoneError::NoRelay)?, code),
            };
            let client = relay_client(&relay, None, ca)?;
            let joined = match http::join_as(&replica, &client, &code, &device, Some(&name)).await {
                Err(TransportError::Network(why)) => return Err(PhoneError::JoinUnanswered(why)),
                // The code this phone joined with, typed again after the join was answered (the
                // app killed before it looked done): it only has to sync.
                Err(TransportError::AlreadyJoined { name: known })
                    if lock(&replica).remembered_relay()?.is_some() =>
                {
                    let who = if known.is_empty() { name.as_str() } else { known.as_str() };
                    eprintln!("already joined as {who} — syncing / 已以 {who} 的身份加入，正在同步");
                    return sync_now(&replica, ca, &out).await;
                }
                other => other?,
            };
            lock(&replica).remember_relay(&relay, &joined.token)?;
            lock(&replica).remember_person_name(&name)?;
            let client = client.with_token(joined.token.clone());
            // The coordinators' names, for the reviews and cancellations the phone will show; a
            // failure here costs only the names.
            if let Ok(me) = client.me().await {
                people::remember(&mut lock(&replica), &me, &[])?;
            }
            let report = http::sync(&replica, &client, now).await?;
            let compound = lock(&replica)
                .compounds()
                .find(|c| c.id() == joined.compound)
                .map(doorstep_core::Compound::name)
                .unwrap_or_else(|| joined.compound.to_string());
            out.joined(&joined, &name, &compound, &report);
        }
        PhoneCommand::Login { relay, token } => {
            let (relay, token) = match from_link(&token)? {
                Some(JoinLink::Login { relay, token }) => (relay, token),
                Some(JoinLink::Join { .. }) => return Err(wrong_link("an invite", "doorstep phone join")),
                None => (relay.ok_or(PhoneError::NoRelay)?, token),
            };
            let client = relay_client(&relay, Some(token.clone()), ca)?;
            // Only the token this phone signed in with, unknown to the relay, is a sign-in lost;
            // any other (mistyped, cut short, on a phone that never signed in) is the token's fault.
            let own = lock(&replica).is_own_sign_in(&relay, &token)?;
            let me = match http::sign_in(&replica, &client).await {
                Err(TransportError::Unauthorized(_)) if !own => {
                    return Err(PhoneError::UnknownToken);
                }
                other => other?,
            };
            lock(&replica).remember_relay(&relay, &token)?;
            if let Some(name) = &me.name {
                lock(&replica).remember_person_name(name)?;
            }
            people::remember(&mut lock(&replica), &me, &[])?;
            let report = http::sync(&replica, &client, now).await?;
            out.signed_in(&me, &report);
        }
        PhoneCommand::Sync => sync_now(&replica, ca, &out).await?,
        PhoneCommand::Status => out.status(&lock(&replica))?,
        PhoneCommand::Tasks { all } => {
            let mut r = lock(&replica);
            let person = r.identity().map(|i| i.person);
            let doors: Vec<_> =
                r.compounds().flat_map(|c| query::doors_for(c, if all { None } else { person })).collect();
            let handles = handle::Handles::of(&r);
            let set_aside = r.tasks_with_knocks_set_aside()?;
            out.doors(&doors, &handles, &set_aside, person);
            // What is typed next means what this showed (`handle.rs`).
            r.remember_shown_handles(&handles.shown())?;
        }
        PhoneCommand::Claim { task } => {
            let named = resolve::task(&lock(&replica), &task)?;
            resolve::refuse_if_taken(&lock(&replica), &named)?;
            let op = Operation::ClaimTask { round: named.task.round, task: named.task.id };
            apply_to_task(&replica, &named, op, refusal::Action::Claim, &out)?;
        }
        PhoneCommand::Release { task } => {
            let named = resolve::task(&lock(&replica), &task)?;
            let op = Operation::UnassignTask { round: named.task.round, task: named.task.id };
            apply_to_task(&replica, &named, op, refusal::Action::Release, &out)?;
        }
        PhoneCommand::Attempt { task, outcome, note } => {
            let named = resolve::task(&lock(&replica), &task)?;
            let op = Operation::RecordAttempt { round: named.task.round, task: named.task.id, outcome, note };
            apply_to_task(&replica, &named, op, refusal::Action::Attempt, &out)?;
        }
        PhoneCommand::Request { address, text, category, urgency, channel } => {
            let (compound, household) = resolve::household(&lock(&replica), &address)?;
            let op = Operation::AddRequest { household: household.id, channel, category, text, urgency };
            apply(&replica, compound, op, &out)?;
        }
        PhoneCommand::Notes { address, text } => {
            let (compound, household) = resolve::household(&lock(&replica), &address)?;
            apply(&replica, compound, Operation::EditNotes { household: household.id, notes: text }, &out)?;
        }
        PhoneCommand::Find { address } => {
            let (_, household) = resolve::household(&lock(&replica), &address)?;
            out.household(&household);
        }
        PhoneCommand::Rounds => {
            let mut r = lock(&replica);
            let rounds: Vec<_> = r
                .compounds()
                .flat_map(|c| {
                    // Each round's tasks in the order a volunteer climbs, as `tasks` lists doors.
                    let climb: std::collections::HashMap<_, _> =
                        c.households().into_iter().map(|h| (h.id, h.address.climb_key())).collect();
                    let mut tasks = c.tasks();
                    tasks.sort_by_key(|t| (climb.get(&t.household).cloned(), t.kind, t.id));
                    c.round_infos()
                        .into_iter()
                        .map(move |info| {
                            let mine: Vec<_> =
                                tasks.iter().filter(|t| t.round == info.document).cloned().collect();
                            (info, mine)
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let handles = handle::Handles::of(&r);
            out.rounds(&rounds, &render::Addresses::of(&r), &handles);
            r.remember_shown_handles(&handles.shown())?;
        }
        PhoneCommand::Counts => {
            let r = lock(&replica);
            let counts: Vec<_> = r.compounds().map(|c| (c.name(), query::counts(c))).collect();
            out.counts(&counts);
        }
        PhoneCommand::Conflicts => {
            let r = lock(&replica);
            let conflicts: Vec<_> = r.compounds().flat_map(query::conflict_reviews).collect();
            out.conflicts(
                &conflicts,
                &render::Names {
                    addresses: render::Addresses::of(&r),
                    rounds: render::RoundTitles::of(&r),
                    handles: handle::Handles::of(&r),
                    people: people::People::of(&r),
                },
                render::time_zone(&r),
            );
        }
        PhoneCommand::Review { target, note, kind } => {
            let (compound, conflict) = resolve::conflict(&lock(&replica), &target, kind)?;
            apply(&replica, compound, Operation::ReviewConflict { conflict, note }, &out)?;
        }
        PhoneCommand::Requests => {
            let r = lock(&replica);
            let requests: Vec<_> = r.compounds().flat_map(|c| c.requests()).collect();
            out.requests(&requests, &render::Addresses::of(&r));
        }
        PhoneCommand::Quarantine { export } => {
            let r = lock(&replica);
            let changes = r.quarantine()?;
            if let Some(path) = export {
                render::export_quarantine(&path, &changes)?;
            }
            out.quarantine(&changes, &render::DocumentNames::of(&r), &people::People::of(&r));
        }
        PhoneCommand::Op { operation } => {
            let op: Operation =
                serde_json::from_str(&operation).map_err(|e| PhoneError::BadOperation(e.to_string()))?;
            let compound = resolve::only_compound(&lock(&replica))?;
            apply(&replica, compound, op, &out)?;
        }
    }
    Ok(())
}

/// Whether a command works on a compound's data (and so means nothing once removed from it).
fn needs_a_compound(command: &PhoneCommand) -> bool {
    !matches!(
        command,
        PhoneCommand::Join { .. }
            | PhoneCommand::Login { .. }
            | PhoneCommand::Sync
            | PhoneCommand::Status
            | PhoneCommand::Quarantine { .. }
    )
}

/// The link a QR code held, if `text` is one (`doorstep://…`); `None` for a plain code or token.
fn from_link(text: &str) -> Result<Option<JoinLink>, PhoneError> {
    if !text.trim().starts_with("doorstep://") {
        return Ok(None);
    }
    JoinLink::parse(text).map(Some).map_err(|e| {
        PhoneError::BadLink(format!("{e} / 无法识别这个 doorstep:// 链接，请重新扫描邀请二维码"))
    })
}

/// The error for a link of the other kind: "this is an invite link; use doorstep phone join".
fn wrong_link(kind: &str, command: &str) -> PhoneError {
    PhoneError::BadLink(format!(
        "this is {kind} link, not for this command; use `{command}` with it / 这个链接不适用于此命令，请改用 `{command}`"
    ))
}

/// A phone that holds no compound because it was removed says so plainly, by compound name.
fn refuse_if_removed(replica: &Replica) -> Result<(), PhoneError> {
    if replica.compounds().next().is_some() {
        return Ok(());
    }
    let removed = replica.removed_from()?;
    if removed.is_empty() { Ok(()) } else { Err(PhoneError::Removed(removed)) }
}

/// A phone signed in whose first download was cut off holds no compound: "no tasks" or "not
/// joined" would send the volunteer up the stairs with nothing, or to join again.
fn refuse_if_nothing_came(replica: &Replica) -> Result<(), PhoneError> {
    if replica.identity().is_some() && replica.compounds().next().is_none() {
        return Err(PhoneError::NothingYet);
    }
    Ok(())
}

/// What a phone shows after a sync the app did not live to finish may lack the relay's news
/// (a roster still coming, tasks assigned since): said on stderr before it, until a sync
/// returns.
fn warn_if_sync_unfinished(replica: &Replica) -> Result<(), PhoneError> {
    if replica.sync_unfinished()? {
        eprintln!("{}", render::SYNC_UNFINISHED);
    } else if let Some(words) = render::not_arrived_words(replica.not_arrived()) {
        // A download the signal cut short: the tasks shown may not be all of them.
        eprintln!("{words}");
    }
    Ok(())
}

/// Remembers, from `before` (the names the phone held before a sync), the labels of what is set
/// aside now, and forgets those of changes no longer set aside.
fn remember_labels(replica: &mut Replica, before: &render::DocumentNames) -> Result<(), PhoneError> {
    let changes = replica.quarantine()?;
    let now = render::DocumentNames::of(replica).labels_for(&changes);
    let mut labels = before.labels_for(&changes);
    labels.extend(now);
    if labels != replica.labels()? {
        replica.remember_labels(&labels)?;
    }
    Ok(())
}

/// Carries out an operation on `task`, saying a refusal with its door, round and people.
fn apply_to_task(
    replica: &Mutex<Replica>,
    task: &handle::Named,
    op: Operation,
    action: refusal::Action,
    out: &render::Output,
) -> Result<(), PhoneError> {
    let did = match &op {
        Operation::RecordAttempt { outcome, .. } => (outcome.label_zh(), outcome.label_en()),
        Operation::ClaimTask { .. } => ("已认领", "Claimed"),
        _ => ("已放弃", "Released"),
    };
    let mut r = lock(replica);
    // Known before it is recorded: the phone's view of deliveries already made.
    let delivered_before: Vec<_> =
        task.task.attempts.iter().filter(|a| a.outcome == Outcome::Delivered).cloned().collect();
    match r.apply(now(), task.compound, &op) {
        Ok(applied) => {
            out.applied_to_task(&applied, r.unsynced_changes(), task, did);
            if matches!(&op, Operation::RecordAttempt { outcome: Outcome::Delivered, .. })
                && !delivered_before.is_empty()
            {
                render::delivered_again(&delivered_before, &people::People::of(&r), render::time_zone(&r));
            }
            // Someone else's task: recorded (a colleague helping at the door), and said, so
            // that its assignee is told before going too (it was recorded without a word).
            let me = r.identity().map(|i| i.person);
            if let (Operation::RecordAttempt { .. }, Some(other)) = (&op, task.task.assignee)
                && Some(other) != me
            {
                let people = people::People::of(&r);
                let (en, zh) =
                    people.name(other).map_or(("another volunteer", "另一位志愿者"), |n| (n, n));
                eprintln!(
                    "this task is assigned to {en}: recorded as yours; tell them, so they do not come too / 此任务已分配给{zh}，已记为你的上门记录，请告知对方以免重复上门"
                );
            }
            Ok(())
        }
        Err(error) => Err(refusal::explain(error, action, task, &people::People::of(&r))),
    }
}

fn apply(
    replica: &Mutex<Replica>,
    compound: doorstep_core::id::CompoundId,
    op: Operation,
    out: &render::Output,
) -> Result<(), PhoneError> {
    let mut r = lock(replica);
    let applied = r.apply(now(), compound, &op)?;
    out.applied(&applied, r.unsynced_changes());
    Ok(())
}

/// Opens the phone's file: encrypted with the key in `--key-file`, or in the key file next to the
/// phone's file by default (made on first use), or unencrypted with `--unencrypted`.
fn open_replica(args: &PhoneArgs) -> Result<Replica, PhoneError> {
    if args.unencrypted {
        return Ok(Replica::open(&args.db)?);
    }
    let key_path = args.key_file.clone().unwrap_or_else(|| key_file::next_to(&args.db));
    let (key, created) = key_file::read_or_create(&key_path)?;
    match Replica::open_with(&args.db, Some(&key)) {
        // A key made just now for a file that another key had already encrypted: the phone's
        // file needs its own key, which is elsewhere. Take back the new key file, and say so
        // (the default place had no key: "open it with its key, --key-file").
        Err(doorstep_replica::ReplicaError::WrongKey) if created => {
            let _ = std::fs::remove_file(&key_path);
            Err(match args.key_file {
                Some(_) => doorstep_replica::ReplicaError::WrongKey.into(),
                None => doorstep_replica::ReplicaError::KeyRequired.into(),
            })
        }
        other => Ok(other?),
    }
}

/// The transport to the relay at `url`, trusting the CA in `ca_cert` when one is given.
fn relay_client(url: &str, token: Option<String>, ca_cert: Option<&Path>) -> Result<RelayClient, PhoneError> {
    if cfg!(not(feature = "tls"))
        && url.trim_start().get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        return Err(PhoneError::NoHttps { url: url.to_owned() });
    }
    let Some(ca_cert) = ca_cert else {
        return Ok(RelayClient::new(url, token)?);
    };
    let problem = |reason: String| PhoneError::CaCert { path: ca_cert.display().to_string(), reason };
    let pem = std::fs::read(ca_cert).map_err(|e| problem(format!("cannot read it: {e}")))?;
    trusting(url, token, &pem).map_err(problem)
}

/// A client that trusts the CA in `pem` besides the system's roots.
#[cfg(feature = "tls")]
fn trusting(url: &str, token: Option<String>, pem: &[u8]) -> Result<RelayClient, String> {
    RelayClient::with_root_certificate(url, token, pem).map_err(|e| e.to_string())
}

/// Without the `tls` feature there is no HTTPS to trust a CA for.
#[cfg(not(feature = "tls"))]
fn trusting(_: &str, _: Option<String>, _: &[u8]) -> Result<RelayClient, String> {
    Err("this doorstep was built without the phone's HTTPS (cargo feature `tls`); build it with `--features tls`"
        .to_owned())
}

fn lock(replica: &Mutex<Replica>) -> std::sync::MutexGuard<'_, Replica> {
    // One command per process: a poisoned lock still guards a consistent replica, because every
    // write is one SQLite transaction.
    replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use doorstep_core::id::DocumentId;
    use doorstep_core::relay_engine::rejection::{HELD_FOR_ITS_AUTHOR, UNAVAILABLE, reject};
    use doorstep_replica::SyncReport;

    use super::incomplete;
    use crate::error::PhoneError;

    /// A build without HTTPS given an https:// relay said "cannot reach the relay … syncs next
    /// time" (`no_signal`), which it never would; it names the build.
    #[test]
    #[cfg(not(feature = "tls"))]
    fn an_https_relay_in_a_build_without_https_is_named_not_taken_for_no_signal() {
        let e = super::relay_client("https://relay.example:7443", None, None).unwrap_err();
        assert_eq!(e.code(), "no_https");
        assert!(e.to_string().contains("--features tls"), "{e}");
        assert!(super::relay_client("http://relay.example:7443", None, None).is_ok());
    }

    /// `phone sync`'s exit status: documents the relay could not take now fail it; another
    /// person's changes held for their author (a relay restored from an older backup) do not,
    /// since they wait for that person's phone, not for this one.
    #[test]
    fn changes_held_for_their_author_do_not_fail_the_sync_but_documents_left_behind_do() {
        let doc = |n| DocumentId::from_uuid(uuid::Uuid::from_u128(n));
        let held = reject(doc(1), HELD_FOR_ITS_AUTHOR, None, "only that phone may send it");
        let report = SyncReport { retrying: vec![held.clone()], ..SyncReport::default() };
        assert!(incomplete(&report).is_ok());

        let busy = reject(doc(2), UNAVAILABLE, None, "the relay is busy");
        let report = SyncReport { retrying: vec![held, busy], ..SyncReport::default() };
        let Err(PhoneError::SyncIncomplete { count, rules }) = incomplete(&report) else { panic!() };
        assert_eq!((count, rules.as_str()), (1, UNAVAILABLE), "only the busy document counts");
    }

    /// The review inbox's exchange cut by the link is said as that, not as "1 document did not
    /// sync (reply not applied)" (a removed volunteer's phone holds no document at all).
    #[test]
    fn a_review_inbox_not_reached_is_said_as_that() {
        let report = SyncReport {
            failed: vec!["review inbox: no answer (connection reset)".into()],
            ..SyncReport::default()
        };
        let Err(PhoneError::SetAsideUnsent(why)) = incomplete(&report) else { panic!() };
        assert_eq!(why, "no answer (connection reset)");
        let said = PhoneError::SetAsideUnsent(why).to_string();
        assert!(said.contains("did not reach the relay") && !said.contains("document"), "{said}");
    }
}
