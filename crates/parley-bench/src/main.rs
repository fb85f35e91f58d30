//! `parley-bench`: Parley's load generator. It logs users in over HTTP,
//! connects with their cookies (the Socket.IO client of the tests), prints
//! progress on stderr and a one-line JSON summary on stdout.
//!
//! One single-threaded runtime drives every connection, so the generator
//! leaves the other core to the server on a 2-core machine.

mod common;
mod scenarios;
mod team;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use common::{PresenceMode, Result, ServerProc, load_users};

#[derive(Parser)]
#[command(name = "parley-bench", about = "Load generator for Parley (and any server of its protocol)")]
struct Cli {
    /// The server, e.g. http://127.0.0.1:5000
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    url: String,
    /// The server's process id, for memory and CPU figures from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Where the users scenario saves cookies and the others read them.
    #[arg(long, default_value = "bench-users.json")]
    users_file: PathBuf,
    /// How the clients ask to hear presence: `batch` lists the
    /// `presence_batch` capability in the handshake (Parley's web client
    /// does), `each` asks for one `presence` event per change.
    #[arg(long, value_enum, default_value = "batch")]
    presence: PresenceMode,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Create and log in users (bounded concurrency); saves their cookies.
    Users {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value = "bench")]
        prefix: String,
    },
    /// N authenticated sockets joined to rooms, held for a while.
    Connect {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        hold_secs: u64,
    },
    /// R rooms × M members, S senders at an offered rate (open loop).
    Fanout {
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Messages per second, all senders together.
        #[arg(long, default_value_t = 40.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
    /// Steps the fan-out rate up until p99 passes the bound or a delivery is lost.
    Ramp {
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[arg(long, default_value_t = 20.0)]
        start_rate: f64,
        #[arg(long, default_value_t = 1.5)]
        factor: f64,
        #[arg(long, default_value_t = 5)]
        step_secs: u64,
        #[arg(long, default_value_t = 100)]
        p99_ms: u64,
    },
    /// C senders sending acked messages as fast as acks return; then an audit.
    Ingest {
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        /// Messages per second, all senders together (open loop); without it,
        /// each sender sends again as soon as its ack returns.
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
    /// N connected clients; `restart` restarts the server; time until all are back.
    Reconnect {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Shell command that restarts the server (and returns when it is started).
        #[arg(long)]
        restart: String,
        /// Each client's first attempt after the restart waits a pseudo-random
        /// 0..spread ms, so that they come back in no particular order, as
        /// clients with a randomised backoff do (socket.io-client spreads its
        /// first attempt over a second). 0: all at once, in client order.
        #[arg(long, default_value_t = 500)]
        spread_ms: u64,
    },
    /// A team (docs/protocol.md Part C): private rooms, direct rooms, one
    /// large room, everyone connected with `membership`. Needs `users` first.
    Team(team::TeamShape),
    /// GET /api/messages/<room> at a concurrency.
    History {
        /// The room to read; without it, a new room filled with `--fill` messages.
        #[arg(long)]
        room: Option<i64>,
        /// Messages sent into the new room first (100 fill the default page).
        #[arg(long, default_value_t = 100)]
        fill: u32,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    common::clock();
    common::set_presence_mode(cli.presence);
    let presence = cli.presence;
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("parley-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(mut summary) => {
            summary["presence"] = presence.as_str().into();
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parley-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<serde_json::Value> {
    let server = ServerProc(cli.pid);
    let base = cli.url.trim_end_matches('/').to_owned();
    match cli.scenario {
        Scenario::Users { count, concurrency, prefix } => {
            scenarios::users(&base, count, concurrency, &prefix, &cli.users_file).await
        }
        Scenario::Connect { sockets, concurrency, hold_secs } => {
            let users = load_users(&cli.users_file)?;
            scenarios::connect_scenario(&base, &users, server, sockets, concurrency, Duration::from_secs(hold_secs)).await
        }
        Scenario::Fanout { rooms, members, senders, rate, secs } => {
            let users = load_users(&cli.users_file)?;
            let setup = scenarios::fanout_setup(&base, &users, rooms, members, senders).await?;
            let mut r = scenarios::fanout_step(&setup, server, rate, Duration::from_secs(secs)).await?;
            r["scenario"] = "fanout".into();
            Ok(r)
        }
        Scenario::Ramp { rooms, members, senders, start_rate, factor, step_secs, p99_ms } => {
            let users = load_users(&cli.users_file)?;
            let setup = scenarios::fanout_setup(&base, &users, rooms, members, senders).await?;
            scenarios::ramp(&setup, server, start_rate, factor, Duration::from_secs(step_secs), Duration::from_millis(p99_ms)).await
        }
        Scenario::Ingest { concurrency, rate, secs } => {
            let users = load_users(&cli.users_file)?;
            scenarios::ingest(&base, &users, concurrency, rate, Duration::from_secs(secs)).await
        }
        Scenario::Reconnect { clients, restart, spread_ms } => {
            let users = load_users(&cli.users_file)?;
            scenarios::reconnect(&base, &users, clients, &restart, Duration::from_millis(spread_ms)).await
        }
        Scenario::Team(shape) => {
            let users = load_users(&cli.users_file)?;
            team::team(&base, &users, server, &shape).await
        }
        Scenario::History { room, fill, concurrency, secs } => {
            let users = load_users(&cli.users_file)?;
            let room = match room {
                Some(room) => room,
                None => scenarios::filled_room(&base, &users, fill).await?,
            };
            scenarios::history(&base, &users, room, concurrency, Duration::from_secs(secs)).await
        }
    }
}
