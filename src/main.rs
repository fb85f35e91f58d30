use clap::Parser;
use parley::config::{Cli, Command, LogFormat, Settings, UsersCommand};
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    return_big_blocks_to_the_os();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(start()),
        Err(e) => {
            eprintln!("parley: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn start() -> std::process::ExitCode {
    // A missing .env is normal; a broken one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found() {
            eprintln!("warning: .env not read: {e}");
        }
    let cli = Cli::parse();
    init_logging(&cli.settings);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("parley: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Every argon2id hash takes a 19 MiB block. glibc serves blocks that size from
/// its per-thread arenas once its adaptive mmap threshold has grown past them,
/// and then keeps them: 2,000 logins left a server at 1.6 GB. A fixed
/// threshold of 1 MiB makes such blocks mmap'd and returned on free.
fn return_big_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            parley::store::migrate(&settings.database_url).await?;
            tracing::info!(database = %settings.database_for_logs(), "database is up to date");
            Ok(())
        }
        Command::Backup { file } => {
            let store = parley::store::open(&settings.database_url).await?;
            store.backup(&file).await?;
            store.close().await;
            tracing::info!(file = %file.display(), "backup written");
            Ok(())
        }
        Command::Users(UsersCommand::SetRole { name, role }) => {
            let store = parley::store::open(&settings.database_url).await?;
            let outcome = parley::chat::set_role_offline(store.as_ref(), &name, &role).await;
            store.close().await;
            let user = outcome?;
            tracing::info!(user_id = %user.id, username = %user.username.as_str(), role = %role, "role set");
            println!("{} is now {role}", user.username.as_str());
            Ok(())
        }
        Command::Serve => {
            raise_open_file_limit();
            let database = settings.database_for_logs();
            let app = parley::App::build(settings).await?;
            tracing::info!(address = %app.local_addr()?, %database, "Parley is listening");
            app.run(shutdown_signal()).await?;
            Ok(())
        }
    }
}

fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match settings.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Each socket is a file; the soft limit is often far below the hard one.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(open_files = n, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received");
}
