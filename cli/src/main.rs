//! `doorstep`: the relay's command line, with the terminal phone (`doorstep-phone`) as `doorstep
//! phone`. Parses arguments, sets up logging, binds, and hands over to the relay's library; the
//! admin commands open the database file directly.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};
use doorstep_core::Role;
use doorstep_core::id::{CompoundId, PersonId};
use doorstep_server::admin::{self, Principal};
use doorstep_server::relay::{Opened, Relay};
use doorstep_server::roster_reading::RosterReaders;
use doorstep_server::storage;
use doorstep_server::storage::sqlite::SqliteStorage;
use doorstep_server::sync::admission::QueueLimits;
use doorstep_server::{AppState, Config};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "doorstep", version, about = "Doorstep relay: syncs volunteers' and coordinators' phones")]
struct Cli {
    /// Log as JSON lines (for a log collector) instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the relay.
    Serve {
        /// The database: an SQLite file (created on first start), or a PostgreSQL URL
        /// (`postgres://user:password@host:port/database`) shared by several relays.
        #[arg(long, env = "DOORSTEP_DB", default_value = "doorstep.db")]
        db: String,
        /// Address to listen on. Loopback by default: to serve phones, give --tls-cert and
        /// --tls-key, or put a TLS proxy in front (and name it with --trusted-proxy).
        #[arg(long, env = "DOORSTEP_LISTEN", default_value = "127.0.0.1:7700")]
        listen: SocketAddr,
        /// Serve HTTPS with this PEM certificate chain (the relay's certificate first).
        #[arg(long, env = "DOORSTEP_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "DOORSTEP_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A reverse proxy (address or range, like 10.0.0.0/8) whose X-Forwarded-For,
        /// X-Forwarded-Host, X-Forwarded-Proto and Forwarded headers are believed; repeat for
        /// several. From any other peer those headers are ignored.
        #[arg(long = "trusted-proxy", value_name = "IP/CIDR")]
        trusted_proxies: Vec<doorstep_server::client::IpRange>,
        /// Connections open at once (lowered to fit the open-file limit).
        #[arg(long, default_value_t = doorstep_server::config::Connections::default().max_connections,
              value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
        max_connections: usize,
        /// Connections open at once from one client address.
        #[arg(long, default_value_t = doorstep_server::config::Connections::default().max_per_address,
              value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
        max_connections_per_address: usize,
        /// Do not run the database integrity check at start (PRAGMA quick_check reads the whole
        /// file: skip it only on a database so large that this delays the start too long).
        #[arg(long)]
        skip_integrity_check: bool,
        /// On an empty database, seed a demo compound with a coordinator, two volunteers and a round.
        #[arg(long)]
        demo: bool,
        /// Seconds a document may sit unused before it leaves memory.
        #[arg(long, default_value_t = 600)]
        idle_seconds: u64,
        /// Seconds to wait at start for a PostgreSQL that does not answer yet (nothing listening,
        /// starting up), asking every 2 s; 0 fails at once. A refusal (wrong password, no such
        /// database) fails at once whatever this says.
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        wait_for_database: u64,
        /// Requests per second each token may make on average.
        #[arg(long, default_value_t = 10.0, value_parser = requests_per_second)]
        rate: f64,
        /// Sync messages (one per document of a request) the relay holds admitted across all
        /// documents, at most; a sync that would pass it is refused with 503 and Retry-After,
        /// before any of it is checked. Higher: fewer refusals in a burst, more memory held (BENCHMARKS.md
        /// §4, "A bound on the relay's work in hand").
        #[arg(long, default_value_t = QueueLimits::default().max_queued_relay_wide,
              value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
        sync_messages_in_hand: usize,
        /// Mebibytes of request bodies (sync, set-aside, roster uploads: as they arrive,
        /// inflated and decoded) the relay holds at once, at most; a request that finds no room
        /// is refused with 503 and Retry-After, and one person's requests hold at most an eighth.
        /// Bounds what compressed or stalled bodies can make the relay allocate (SECURITY.md,
        /// "Request bodies in hand").
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(8..))]
        bodies_in_hand_mib: u32,
        /// Mebibytes of sync requests held in part (phones on links that drop requests send long
        /// ones in pieces; the relay keeps them in its database for an hour) across all devices,
        /// at most. When full, the largest request of whoever holds the most is let go of for a
        /// person who holds less; past that a piece is refused and the phone sends its request
        /// whole (SECURITY.md, "Who can send what").
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
        pieces_held_mib: u32,
        /// Mebibytes of changes a volunteer or medic may add to one document in a day (four
        /// times as much for coordinators and admins, and four times that again to all of a
        /// compound's documents together, new rounds included); past that the phone is told to keep its
        /// work and send it later, so one member's modified phone cannot fill a document for
        /// everyone (SECURITY.md, "A person's share of a document's growth"). A fraction is
        /// taken (0.25 is 256 KiB), down to one KiB.
        #[arg(long, default_value_t = 8.0, value_parser = share_mib)]
        growth_share_mib: f64,
    },
    /// A phone in the terminal: join, see tasks by door, record attempts, take requests, sync.
    Phone(doorstep_phone::PhoneArgs),
    /// Administers the database file directly (works whether or not the relay is running).
    Admin {
        /// The database: the relay's SQLite file, or its PostgreSQL URL
        /// (`postgres://user:password@host:port/database`).
        #[arg(long, env = "DOORSTEP_DB", default_value = "doorstep.db")]
        db: String,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Creates a compound; prints its ID. Refused when a compound of that name exists already,
    /// unless --again.
    CreateCompound {
        /// Its name ("香樟苑").
        #[arg(long)]
        name: String,
        /// Make it even though a compound of this name exists (two compounds of one name are
        /// told apart only by their IDs).
        #[arg(long)]
        again: bool,
    },
    /// Lists the compounds: ID, members (live), name.
    Compounds,
    /// Imports a roster spreadsheet into a compound: a CSV (UTF-8, GB18030 or UTF-16) or an
    /// Excel workbook (.xlsx: every visible sheet with a roster header row). One row per
    /// household, or one per resident (a 与户主关系 or 年龄 column: a flat's rows are one household).
    ImportRoster {
        /// The compound.
        #[arg(long)]
        compound: CompoundId,
        /// The CSV or .xlsx file.
        file: PathBuf,
        /// Import the good rows even if some rows have errors.
        #[arg(long)]
        accept_good_rows: bool,
    },
    /// Makes a single-use invite code; prints it.
    Invite {
        /// The compound.
        #[arg(long)]
        compound: CompoundId,
        /// The role it grants: volunteer, medic, coordinator or admin.
        #[arg(long)]
        role: Role,
        /// Hours until it expires (1 to 2160, ninety days).
        #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..=2160))]
        hours: u64,
    },
    /// Revokes a person's membership of a compound; with no compound, every device token of the
    /// person, or with `--device` one lost phone of theirs.
    Revoke {
        /// The person.
        #[arg(long)]
        person: PersonId,
        /// The compound.
        #[arg(long, conflicts_with = "device")]
        compound: Option<CompoundId>,
        /// One lost phone of the person's (its number, from `members`): the others keep their
        /// tokens and their work not yet synced.
        #[arg(long)]
        device: Option<i64>,
    },
    /// Lists a compound's members with their person IDs (for `token` and `revoke`).
    Members {
        /// The compound.
        #[arg(long)]
        compound: CompoundId,
    },
    /// Mints a new device token for a person (a reset phone, or a restarted demo); prints it once.
    Token {
        /// The person; without it, the district admin (a lost first-start token).
        #[arg(long)]
        person: Option<PersonId>,
        /// A name for the device the token is for.
        #[arg(long, default_value = "reissued")]
        device_name: String,
    },
    /// Writes a compound's roster as CSV to standard output.
    Export {
        /// The compound.
        #[arg(long)]
        compound: CompoundId,
    },
    /// Moves the district in the SQLite file (--db) into an empty PostgreSQL database, for
    /// several relays: people, tokens, compounds, documents, phones' sync states and the review
    /// inbox. Stop the relay first; the file is left as it was, a backup.
    MoveToPostgres {
        /// The PostgreSQL database, empty (`postgres://user:password@host:port/database`).
        to: String,
    },
}

/// A rate of requests per second: more than none (`--rate 0` was taken without a word, and the
/// relay served as though no rate were set) and finite.
fn requests_per_second(value: &str) -> Result<f64, String> {
    let rate: f64 =
        value.trim().parse().map_err(|_| format!("{value:?} is not a number of requests per second"))?;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!(
            "{value} requests per second lets no phone sync; give a number above 0, like 10"
        ));
    }
    Ok(rate)
}

/// A share in mebibytes: a number of at least one KiB's worth (1/1024) and at most a GiB's.
fn share_mib(value: &str) -> Result<f64, String> {
    let mib: f64 = value.trim().parse().map_err(|_| format!("{value:?} is not a number of mebibytes"))?;
    if !(1.0 / 1024.0..=1024.0).contains(&mib) {
        return Err(format!("{value} MiB is outside 1/1024 (one KiB) to 1024 (one GiB)"));
    }
    Ok(mib)
}

/// Runs the command; a failure prints its cause chain as one line to stderr, with no stack
/// trace even under `RUST_BACKTRACE` (a person's mistake is not a program fault), and exits 1.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A panic the relay or the phone contains (a reader that panics on crafted bytes) is one
    // warning in the log, not a report on stderr per request.
    doorstep_core::expected_panic::install_hook();
    // The terminal phone speaks in its own lines; the relay and admin commands log their progress.
    let default = if matches!(cli.command, Command::Phone(_)) { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes only for a person at a terminal, never into a redirected log file.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                db,
                listen,
                tls_cert,
                tls_key,
                trusted_proxies,
                max_connections,
                max_connections_per_address,
                skip_integrity_check,
                demo,
                idle_seconds,
                wait_for_database,
                rate,
                sync_messages_in_hand,
                bodies_in_hand_mib,
                pieces_held_mib,
                growth_share_mib,
            } => {
                let tls = match (tls_cert, tls_key) {
                    (Some(cert), Some(key)) => Some(
                        doorstep_server::connections::tls::acceptor(&cert, &key).context("setting up TLS")?,
                    ),
                    _ => None,
                };
                let connections = doorstep_server::config::Connections {
                    trusted_proxies,
                    max_connections,
                    max_per_address: max_connections_per_address,
                    ..Default::default()
                };
                serve(Serve {
                    db,
                    listen,
                    tls,
                    connections,
                    check_integrity: !skip_integrity_check,
                    demo,
                    idle_seconds,
                    wait_for_database: Duration::from_secs(wait_for_database),
                    rate,
                    sync_messages_in_hand,
                    bodies_in_hand_mib,
                    pieces_held_mib,
                    growth_share_mib,
                })
                .await
            }
            Command::Admin { db, command } => administer(db, command).await,
            Command::Phone(args) => Ok(doorstep_phone::run(args).await?),
        }
    })
}

async fn open(db: &str) -> anyhow::Result<Relay> {
    let storage = storage::open(db).await.with_context(|| format!("opening database {}", shown(db)))?;
    let Opened { relay, admin_token } = Relay::open(storage).await.context("opening the relay")?;
    if let Some(token) = admin_token {
        let mut out = std::io::stdout().lock();
        writeln!(out, "created the district admin (person {}); its token, shown once:", relay.admin())?;
        writeln!(out, "admin token: {token}")?;
    }
    Ok(relay)
}

/// How often a starting relay asks a PostgreSQL that does not answer yet.
const POSTGRES_ASKED_EVERY: Duration = Duration::from_secs(2);

/// [`open`], waiting up to `wait` (`--wait-for-database`) for a PostgreSQL that does not answer
/// (nothing listening yet, starting up, the network): after a power cut the relays may be back
/// before their database, and one that exited at once stayed down unless a service manager
/// restarted it. Each try is logged with what it met; past `wait` it gives up, and says so. A
/// refusal that is the address's (a wrong password, no such database) fails at once.
async fn open_waiting_for_postgres(db: &str, wait: Duration) -> anyhow::Result<Relay> {
    let started = Instant::now();
    loop {
        let failed = match open(db).await {
            Ok(relay) => return Ok(relay),
            Err(e) => e,
        };
        let unanswered =
            failed.chain().any(|c| matches!(c.downcast_ref(), Some(storage::StorageError::Unreachable(_))));
        if !unanswered {
            return Err(failed);
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Err(failed.context(format!(
                "PostgreSQL did not answer within {} s (--wait-for-database); start it, or check the address, then start the relay again (a service manager's restart on failure does this)",
                wait.as_secs()
            )));
        }
        tracing::warn!(
            error = %format!("{failed:#}"),
            waited_s = waited.as_secs(),
            gives_up_after_s = wait.as_secs(),
            "PostgreSQL does not answer yet; the relay waits for it before serving"
        );
        tokio::time::sleep(POSTGRES_ASKED_EVERY).await;
    }
}

/// The database address as it may be logged: an SQLite file's absolute path (a relay started by
/// a service manager in another directory than the operator thought makes its file there), a
/// PostgreSQL URL without its password.
fn shown(db: &str) -> String {
    if !storage::is_postgres(db) {
        let path = std::path::Path::new(db);
        return std::path::absolute(path).unwrap_or_else(|_| path.to_owned()).display().to_string();
    }
    storage::without_password(db)
}

/// What `doorstep serve` was asked for.
struct Serve {
    db: String,
    listen: SocketAddr,
    tls: Option<doorstep_server::connections::tls::Tls>,
    connections: doorstep_server::config::Connections,
    check_integrity: bool,
    demo: bool,
    idle_seconds: u64,
    wait_for_database: Duration,
    rate: f64,
    sync_messages_in_hand: usize,
    bodies_in_hand_mib: u32,
    pieces_held_mib: u32,
    growth_share_mib: f64,
}

async fn serve(serve: Serve) -> anyhow::Result<()> {
    let Serve {
        db,
        listen,
        tls,
        connections,
        check_integrity,
        demo,
        idle_seconds,
        wait_for_database,
        rate,
        sync_messages_in_hand,
        bodies_in_hand_mib,
        pieces_held_mib,
        growth_share_mib,
    } = serve;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // One relay per SQLite file, before anything else: a second relay on the file binds nothing,
    // opens nothing and prints nothing but who serves it. Held until the relay stops.
    storage::check_address(&db)?;
    let _serving = if storage::is_postgres(&db) {
        None
    } else {
        // Taking it may wait up to 3 s for a relay that is stopping: off the runtime's threads.
        let path = PathBuf::from(&db);
        Some(tokio::task::spawn_blocking(move || storage::sqlite::ServingLock::take(&path)).await??)
    };
    // The address first: a start that cannot listen (the port in use) must not make a new
    // database's district admin and print its token, shown once, for a relay that never ran.
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let damage = if check_integrity { integrity(&db).await? } else { None };
    let relay = open_waiting_for_postgres(&db, wait_for_database).await?;
    let seeded =
        if demo { doorstep_server::demo::seed(&relay).await.context("seeding the demo")? } else { None };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "doorstep listening on {scheme}://{addr} (database {})", shown(&db))?;
        if let Some(seed) = seeded {
            writeln!(
                out,
                "demo compound {} with {} households; open round {}",
                seed.compound, seed.households, seed.round
            )?;
            for p in &seed.people {
                writeln!(
                    out,
                    "  {:<24} {:<11} person {}  token {}",
                    p.name,
                    p.role.as_str(),
                    p.person,
                    p.token
                )?;
            }
            if let Some(c) = seed.people.iter().find(|p| p.role == Role::Coordinator) {
                writeln!(
                    out,
                    "dashboard / 协调员后台: {scheme}://{addr}/dashboard — sign in with {}'s token",
                    c.name
                )?;
                writeln!(out, "try: curl -H 'Authorization: Bearer {}' {scheme}://{addr}/v1/me", c.token)?;
            }
            if let Some(v) = seed.people.iter().find(|p| p.role == Role::Volunteer) {
                let exe = std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "doorstep".into());
                writeln!(out, "try a volunteer's phone in this terminal:")?;
                writeln!(
                    out,
                    "  {exe} phone --db volunteer.sqlite login --relay {scheme}://{addr} {}",
                    v.token
                )?;
                writeln!(out, "  {exe} phone --db volunteer.sqlite tasks --all")?;
            }
        } else if demo {
            demo_again(&mut out, &relay, &db, &format!("{scheme}://{addr}")).await?;
        }
        out.flush()?;
    }
    let defaults = Config::default();
    let config = Config {
        idle_eviction: Duration::from_secs(idle_seconds.max(1)),
        limits: doorstep_server::Limits {
            rate_per_second: rate,
            bodies_in_hand: bodies_in_hand_mib as usize * 1024 * 1024,
            pieces_held: pieces_held_mib as usize * 1024 * 1024,
            growth_share: (growth_share_mib * 1024.0 * 1024.0).round() as usize,
            ..defaults.limits.clone()
        },
        connections,
        queue: QueueLimits { max_queued_relay_wide: sync_messages_in_hand, ..defaults.queue },
        ..defaults
    };
    let state = AppState::new(relay, config);
    if let Some(damage) = damage {
        let _ = state.damage.set(damage);
    }
    doorstep_server::serve(listener, state, tls, shutdown_signal()).await.context("serving")?;
    Ok(())
}

/// `serve --demo` on a store that already holds compounds: tokens are stored hashed and cannot be
/// shown again, so say where the dashboard is, who is there, and how to mint a new token.
async fn demo_again(
    out: &mut impl std::io::Write,
    relay: &Relay,
    db: &str,
    base: &str,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "this database already holds compounds, so nothing was seeded; dashboard: {base}/dashboard"
    )?;
    let me = Principal::relay_admin(relay);
    for compound in relay.storage().compounds().await? {
        writeln!(out, "compound {} {}", compound.id, compound.name)?;
        for m in admin::members(relay, &me, compound.id).await?.into_iter().filter(|m| !m.revoked) {
            writeln!(out, "  {:<11} {}  person {}", m.role.as_str(), m.name, m.person)?;
        }
    }
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "doorstep".into());
    writeln!(
        out,
        "tokens are stored hashed and cannot be shown again; mint a new one with\n  \
         {exe} admin --db {} token --person <person>",
        shown(db)
    )?;
    Ok(())
}

/// Runs the integrity check; returns the damage found, if any, after logging it.
/// PostgreSQL checks its own pages; this is SQLite's check.
async fn integrity(db: &str) -> anyhow::Result<Option<String>> {
    use doorstep_server::storage::sqlite::integrity::Integrity;
    let path = std::path::Path::new(db);
    if storage::is_postgres(db) || !path.exists() {
        return Ok(None);
    }
    let storage =
        SqliteStorage::open(path).await.with_context(|| format!("opening database {}", shown(db)))?;
    let started = Instant::now();
    match storage.check_integrity().await.context("checking the database")? {
        Integrity::Intact => {
            tracing::info!(millis = started.elapsed().as_millis() as u64, "database integrity check passed");
            Ok(None)
        }
        Integrity::Damaged(damage) => {
            tracing::error!(%damage, "the database is damaged; /healthz reports it; restore it from a backup");
            Ok(Some(damage))
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn administer(db: String, command: AdminCommand) -> anyhow::Result<()> {
    if let AdminCommand::MoveToPostgres { to } = &command {
        return move_to_postgres(&db, to).await;
    }
    // Run from the wrong folder, `--db doorstep.db` names a file that is not the relay's: only
    // creating a compound may start a new database, and it says where.
    storage::check_address(&db)?;
    let path = std::path::Path::new(&db);
    let new_file = !storage::is_postgres(&db) && !path.exists();
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    if new_file && !matches!(command, AdminCommand::CreateCompound { .. }) {
        anyhow::bail!(
            "no database at {}: pass --db with the file the relay runs on (its log says \"database …\" at start), or start the relay first",
            absolute.display()
        );
    }
    let relay = open(&db).await?;
    if new_file {
        eprintln!(
            "no database was at {}: a new one was made there; if the relay runs on another file, pass it with --db",
            absolute.display()
        );
    }
    let me = Principal::relay_admin(&relay);
    let mut out = std::io::stdout().lock();
    match command {
        AdminCommand::CreateCompound { name, again } => {
            // The relay refuses a name another compound has unless --again (admin::create_compound);
            // here it says so in the command line's words.
            let record = match admin::create_compound(&relay, &me, &name, again).await {
                Err(admin::AdminError::NameTaken { name, existing }) => anyhow::bail!(
                    "a compound named {name} exists already ({}); `doorstep admin compounds` lists them. To make another of the same name, pass --again / 已有名为 {name} 的小区；如确需再建一个同名小区，请加 --again",
                    existing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
                other => other?,
            };
            writeln!(out, "{}", record.id)?;
        }
        AdminCommand::Compounds => {
            for compound in relay.storage().compounds().await? {
                let members = admin::members(&relay, &me, compound.id).await?;
                let live = members.iter().filter(|m| !m.revoked).count();
                writeln!(out, "{}  {live:>4} members  {}", compound.id, compound.name)?;
            }
        }
        AdminCommand::ImportRoster { compound, file, accept_good_rows } => {
            let bytes = read_at_most(&file, ROSTER_FILE_READ_BYTES)?;
            let readers = RosterReaders::new(1);
            let deadline = Instant::now() + admin::UNHURRIED_READ;
            let imported =
                admin::import_roster(&readers, &relay, &me, compound, bytes, accept_good_rows, deadline)
                    .await;
            // A workbook's rows are its sheets': say which sheets were read and which were not,
            // and why, whether it imported or not.
            let sheets = match &imported {
                Ok(report) => doorstep_server::roster_file::said(&report.sheets_read, &report.sheets_skipped),
                Err(admin::AdminError::BadRows { sheets, .. }) => sheets.clone(),
                Err(_) => Vec::new(),
            };
            for line in &sheets {
                writeln!(out, "{line}")?;
            }
            match imported {
                Ok(report) => {
                    writeln!(
                        out,
                        "导入 {imported} 户，更新 {updated} 户，{unchanged} 户没有变化 / imported {imported} households, \
                         updated {updated}, {unchanged} unchanged",
                        imported = report.imported,
                        updated = report.updated,
                        unchanged = report.unchanged
                    )?;
                    for problem in &report.skipped {
                        writeln!(out, "未导入 skipped: {problem}")?;
                    }
                    for warning in &report.warnings {
                        writeln!(out, "请核对 check: {warning}")?;
                    }
                    if !report.ignored_columns.is_empty() {
                        writeln!(out, "ignored columns: {}", report.ignored_columns.join(", "))?;
                    }
                }
                Err(admin::AdminError::BadRows { rows, problems, .. }) => {
                    for problem in &problems {
                        writeln!(out, "{problem}")?;
                    }
                    // Rows, not errors: a row with three bad cells is one row.
                    let rows_have =
                        if rows == 1 { "1 row has".to_owned() } else { format!("{rows} rows have") };
                    anyhow::bail!(
                        "{rows} 行有错误，什么都没有导入；请改正，或加 --accept-good-rows 只导入无误的行 / \
                         {rows_have} errors and nothing was imported; fix them, or pass --accept-good-rows"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::Invite { compound, role, hours } => {
            let invite =
                admin::create_invite(&relay, &me, compound, role, Duration::from_secs(hours * 3600)).await?;
            writeln!(out, "{}", invite.code)?;
        }
        AdminCommand::Revoke { person, compound: Some(compound), .. } => {
            admin::revoke_membership(&relay, &me, person, compound).await?;
            writeln!(out, "revoked {person} from {compound}")?;
        }
        AdminCommand::Revoke { person, compound: None, device: Some(device) } => {
            admin::revoke_device(&relay, &me, person, storage::DeviceId(device)).await?;
            writeln!(out, "revoked device {device} of {person}; their other devices keep their tokens")?;
        }
        AdminCommand::Revoke { person, compound: None, device: None } => {
            let n = admin::revoke_devices(&relay, &me, person).await?;
            let tokens = if n == 1 { "token" } else { "tokens" };
            writeln!(out, "revoked {n} device {tokens} of {person}")?;
        }
        AdminCommand::Members { compound } => {
            let devices = admin::member_devices(&relay, &me, compound).await?;
            for m in admin::members(&relay, &me, compound).await? {
                let state = if m.revoked { "  (revoked / 已移出)" } else { "" };
                writeln!(out, "{}  {:<11} {}{state}", m.person, m.role.as_str(), m.name)?;
                for d in devices.iter().filter(|d| d.person == m.person) {
                    let state = if d.revoked { "  (revoked / 已停用)" } else { "" };
                    writeln!(out, "    device {}  {}{state}", d.device, d.name)?;
                }
            }
        }
        AdminCommand::Token { person, device_name } => {
            let person = person.unwrap_or(me.person);
            let token = admin::issue_token(&relay, &me, person, &device_name).await?;
            writeln!(out, "{token}")?;
        }
        AdminCommand::Export { compound } => {
            let csv = admin::export_roster(&relay, &me, compound).await?;
            out.write_all(csv.as_bytes())?;
        }
        AdminCommand::MoveToPostgres { .. } => unreachable!("moved before the database is opened"),
    }
    Ok(())
}

/// `admin move-to-postgres`: the SQLite file `db` into the empty PostgreSQL database `to`.
async fn move_to_postgres(db: &str, to: &str) -> anyhow::Result<()> {
    if storage::is_postgres(db) {
        anyhow::bail!(
            "--db names a PostgreSQL database; the district moves from the relay's SQLite file: pass --db with it"
        );
    }
    if !storage::is_postgres(to) {
        anyhow::bail!(
            "{} is not a PostgreSQL address; write postgres://user:password@host:port/database",
            shown(to)
        );
    }
    storage::check_address(to)?;
    let path = std::path::Path::new(db);
    if !path.exists() {
        anyhow::bail!(
            "no database at {}: pass --db with the file the relay runs on (its log says \"database …\" at start)",
            std::path::absolute(path).unwrap_or_else(|_| path.to_owned()).display()
        );
    }
    let moved = storage::postgres::from_sqlite::move_district(path, to).await?;
    let mut out = std::io::stdout().lock();
    for (table, rows) in &moved.tables {
        writeln!(out, "{table:<16} {rows:>9} rows")?;
    }
    writeln!(
        out,
        "已迁移到 PostgreSQL；请用 --db {0} 启动中继，手机无需重新加入，原文件保留为备份 / moved: start the relays with --db {0}; \
         phones keep their sign-in and sync on, coordinators sign in to the dashboard again; {1} is left as it was, a backup",
        shown(to),
        db
    )?;
    Ok(())
}

/// The most of a roster file `admin import-roster` reads: a workbook's pictures may make it
/// larger than the importer's 10 MiB of text, but nothing near this is a roster.
const ROSTER_FILE_READ_BYTES: usize = 64 << 20;

/// `file`'s bytes, refused once past `most` without reading further: the relay's machine is not
/// made to hold a wrong file (`/dev/zero`, a pipe, a disk image) whole before it is refused.
fn read_at_most(file: &std::path::Path, most: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let opened = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(most).unwrap_or(u64::MAX).saturating_add(1);
    opened.take(limit).read_to_end(&mut bytes).with_context(|| format!("reading {}", file.display()))?;
    if bytes.len() > most {
        anyhow::bail!(
            "{} is larger than {} MiB, more than a roster holds: give the roster's own CSV or workbook / 文件超过 {} MiB，不是花名册：请提供花名册的 CSV 或 Excel 文件",
            file.display(),
            most >> 20,
            most >> 20
        );
    }
    Ok(bytes)
}
