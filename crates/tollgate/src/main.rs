//! The `tollgate` command line: run the router, run the embedded demo
//! (`dev`), check or describe the config (`config validate|schema`), and
//! manage consumer credentials (`consumers create|list|revoke|add-key`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tollgate::config::{self, LoadedConfig};
use tollgate::{dev, server};
use tollgate_telemetry::LogFormat;

/// mimalloc instead of the system allocator: the request path builds and
/// drops many small JSON values, and glibc's malloc and free were about a
/// quarter of the router's instructions on the deep benchmark query
/// (callgrind; see docs/benchmarks.md). mimalloc 2 (the crate's `v2`
/// feature) rather than its default 3: on the public benchmark's 87 KB
/// responses v3 held about 20 MiB more at peak and spent about 55 µs more
/// CPU per request; on the demo workloads the two measured the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A GraphQL federation router with first-class JWT authentication"
)]
struct Cli {
    /// Config file.
    #[arg(
        long,
        short,
        env = "TOLLGATE_CONFIG",
        default_value = "router.yaml",
        global = true
    )]
    config: PathBuf,
    /// Log filter (beats RUST_LOG and `log.level`), e.g. `debug` or `tollgate_jwt=debug,info`.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Log format (beats `log.format`).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the demo subgraphs in-process and the router with the config; print a sample token.
    Dev {
        /// Where the demo subgraphs listen.
        #[arg(long, default_value = "127.0.0.1:4100")]
        demo_listen: SocketAddr,
        /// DEV ONLY private key used to mint the sample token.
        #[arg(long, default_value = "dev/dev-private-key.pem")]
        dev_key: PathBuf,
    },
    /// Print a token signed with the DEV ONLY key (for local testing and benchmarks).
    DevToken {
        /// The `sub` claim.
        #[arg(long, default_value = "1")]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
        /// DEV ONLY private key.
        #[arg(long, default_value = "dev/dev-private-key.pem")]
        dev_key: PathBuf,
        /// Print this many distinct tokens, one per line, each with its own
        /// `jti` (`bench-0`, `bench-1`, ...); for cache-miss benchmarks.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
    },
    /// Print a token signed by the configured issuer (`issuer:` in the config).
    Token {
        /// The `sub` claim.
        #[arg(long)]
        sub: String,
        /// Extra claims as `name=value` (repeatable); values that parse as
        /// JSON are used as JSON, others as strings.
        #[arg(long = "claim")]
        claims: Vec<String>,
        /// Lifetime: seconds or a span ("1h", "30 mins"); default `issuer.expires_in`.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// Print the query plan of an operation (no subgraph is contacted).
    Plan {
        /// The supergraph SDL file.
        #[arg(long)]
        supergraph: PathBuf,
        /// A file holding the GraphQL operation.
        #[arg(long)]
        query: PathBuf,
        /// Which operation of the document, when it has several.
        #[arg(long)]
        operation_name: Option<String>,
    },
    /// Check or describe the config.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
    /// Manage consumer credentials (`jwt.consumers` in the config).
    Consumers {
        #[command(subcommand)]
        action: ConsumersCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConsumersCommand {
    /// Create a secret credential for a consumer (created when new); prints
    /// its key id and secret, which is shown only this once.
    Create {
        /// The consumer's name (letters, digits, '-', '_', '.').
        name: String,
        /// A scope its tokens get (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List every credential (never any secret).
    List,
    /// Revoke a credential; a running router refuses its tokens within `refresh_interval`.
    Revoke {
        /// The key id.
        key_id: String,
    },
    /// Register an app's public key (a JWK file) as a credential; prints its key id.
    AddKey {
        /// The consumer's name.
        name: String,
        /// The public JWK file.
        #[arg(long)]
        jwk: PathBuf,
        /// A scope its tokens get (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check the config and the files it references; print "ok" or every error.
    /// Remote JWKS providers are not contacted unless `--fetch-jwks` is given.
    Validate {
        /// Also fetch every remote JWKS provider once and check its key set.
        #[arg(long)]
        fetch_jwks: bool,
    },
    /// Print the JSON Schema of the config.
    Schema,
}

/// The environment variable that sets the number of async worker threads
/// (tokio's own name for it; the default is one per CPU the process may use).
const WORKER_THREADS_ENV: &str = "TOKIO_WORKER_THREADS";

/// Most worker threads accepted from [`WORKER_THREADS_ENV`].
const MAX_WORKER_THREADS: usize = 1024;

/// Reads [`WORKER_THREADS_ENV`]: `None` when unset (tokio's default), the
/// count when it is a whole number from 1 to [`MAX_WORKER_THREADS`].
/// Checked here because tokio panics on a value it cannot parse.
fn worker_threads(value: Option<&std::ffi::OsStr>) -> Result<Option<usize>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim);
    match text.and_then(|text| text.parse::<usize>().ok()) {
        Some(n) if (1..=MAX_WORKER_THREADS).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{WORKER_THREADS_ENV}: must be a whole number from 1 to {MAX_WORKER_THREADS}, got {:?}",
            value.to_string_lossy()
        )),
    }
}

/// The error and its causes on one line, `: `-separated, each cause only
/// when the text so far does not already include it (many of Tollgate's
/// errors name their cause in their own message, e.g. "cannot read config
/// file x: No such file or directory").
fn report(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

fn main() -> ExitCode {
    // Before anything signs or verifies a token: jsonwebtoken's provider is
    // fixed by its first use.
    tollgate_jwt::crypto::install();
    let cli = Cli::parse();
    let workers = match worker_threads(std::env::var_os(WORKER_THREADS_ENV).as_deref()) {
        Ok(workers) => workers,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Config {
            action: ConfigCommand::Schema,
        }) => {
            println!("{}", serde_json::to_string_pretty(&config::json_schema())?);
            Ok(())
        }
        Some(Command::Config {
            action: ConfigCommand::Validate { fetch_jwks },
        }) => validate(&cli.config, *fetch_jwks).await,
        Some(Command::Token {
            sub,
            claims,
            expires_in,
        }) => {
            let loaded = config::load(&cli.config)?;
            println!(
                "{}",
                issue_token(&loaded, sub, claims, expires_in.as_deref())?
            );
            Ok(())
        }
        Some(Command::Consumers { action }) => {
            let loaded = config::load(&cli.config)?;
            print!("{}", consumers(&loaded, action)?);
            Ok(())
        }
        Some(Command::Plan {
            supergraph,
            query,
            operation_name,
        }) => {
            println!(
                "{}",
                tollgate::plan::plan_files(supergraph, query, operation_name.as_deref())?
            );
            Ok(())
        }
        Some(Command::DevToken {
            sub,
            ttl_secs,
            dev_key,
            count,
        }) => {
            let loaded = config::load(&cli.config)?;
            if *count == 1 {
                println!(
                    "{}",
                    dev::mint_dev_token(dev_key, &loaded.config, sub, *ttl_secs)?
                );
            } else {
                let tokens =
                    dev::mint_dev_tokens(dev_key, &loaded.config, sub, *ttl_secs, *count as usize)?;
                println!("{}", tokens.join("\n"));
            }
            Ok(())
        }
        Some(Command::Dev {
            demo_listen,
            dev_key,
        }) => {
            let loaded = config::load(&cli.config)?;
            let tracing = init_logging(&cli, &loaded)?;
            let result = run_dev(loaded, *demo_listen, dev_key).await;
            flush_spans(tracing);
            result
        }
        None => {
            let loaded = config::load(&cli.config)?;
            let tracing = init_logging(&cli, &loaded)?;
            let result = run_router(loaded).await;
            flush_spans(tracing);
            result
        }
    }
}

/// Signs a token with the configured issuer's newest key.
fn issue_token(
    loaded: &LoadedConfig,
    sub: &str,
    claims: &[String],
    expires_in: Option<&str>,
) -> anyhow::Result<String> {
    let Some(issuer_config) = &loaded.config.issuer else {
        anyhow::bail!("issuer: the config has no `issuer:` section to sign with");
    };
    let issuer = tollgate_jwt::issuer::Issuer::load(issuer_config, &loaded.base_dir)?;
    let mut map = serde_json::Map::new();
    map.insert("sub".to_owned(), serde_json::Value::String(sub.to_owned()));
    for claim in claims {
        let Some((name, value)) = claim.split_once('=') else {
            anyhow::bail!("--claim {claim}: expected name=value");
        };
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        map.insert(name.to_owned(), value);
    }
    let lifetime = match expires_in {
        Some(text) => Some(
            tollgate_jwt::issuer::parse_span(text)
                .map_err(|e| anyhow::anyhow!("--expires-in: {e}"))?,
        ),
        None => None,
    };
    Ok(issuer.sign(map, lifetime)?)
}

/// Runs a `tollgate consumers` command against the configured store.
fn consumers(loaded: &LoadedConfig, action: &ConsumersCommand) -> anyhow::Result<String> {
    use tollgate_jwt::consumers::{admin, open_store, SecretCipher};
    let Some(config) = loaded
        .config
        .jwt
        .as_ref()
        .and_then(|jwt| jwt.consumers.as_ref())
    else {
        anyhow::bail!("jwt.consumers: the config has no consumer store");
    };
    let store = open_store(&config.store, &loaded.base_dir)?;
    Ok(match action {
        ConsumersCommand::Create { name, scopes } => {
            let Some(key) = &config.encryption_key else {
                anyhow::bail!(
                    "jwt.consumers.encryption_key: needed to store secrets encrypted (a base64 32-byte key, e.g. `openssl rand -base64 32`)"
                );
            };
            let cipher = SecretCipher::from_config(key)?;
            let (key_id, secret) = admin::create(&*store, &cipher, name, scopes)?;
            format!(
                "consumer: {name}\nkey id:   {key_id}\nsecret:   {secret}\n\nThe secret is shown only now: give it to the app, which signs HS256 tokens with it and `sub` set to the key id.\n"
            )
        }
        ConsumersCommand::List => admin::list(&*store)?,
        ConsumersCommand::Revoke { key_id } => {
            admin::revoke(&*store, key_id)?;
            format!("revoked {key_id}\n")
        }
        ConsumersCommand::AddKey { name, jwk, scopes } => {
            let text = std::fs::read_to_string(jwk)
                .with_context(|| format!("--jwk: cannot read {}", jwk.display()))?;
            let key_id = admin::add_key(&*store, name, &text, scopes)?;
            format!("consumer: {name}\nkey id:   {key_id}\n\nTokens signed with this key's private half must carry `sub` = the key id.\n")
        }
    })
}

/// Exports the spans still buffered before the process exits.
fn flush_spans(provider: Option<tollgate_telemetry::SdkTracerProvider>) {
    if let Some(provider) = provider {
        if let Err(error) = provider.shutdown() {
            eprintln!("warning: exporting the last spans failed: {error}");
        }
    }
}

/// Sets up logging, and span export when `telemetry.tracing.otlp` is set.
fn init_logging(
    cli: &Cli,
    loaded: &LoadedConfig,
) -> anyhow::Result<Option<tollgate_telemetry::SdkTracerProvider>> {
    let env = std::env::var("RUST_LOG").ok();
    let filter = tollgate_telemetry::choose_filter(
        cli.log_level.as_deref(),
        env.as_deref(),
        &loaded.config.log,
    );
    let format = match cli.log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        Some(LogFormatArg::Text) => LogFormat::Text,
        None => loaded.config.log.format,
    };
    let provider = match &loaded.config.telemetry.tracing.otlp {
        Some(otlp) => Some(tollgate_telemetry::otel::tracer_provider(otlp)?),
        None => None,
    };
    let tracer = provider.as_ref().map(tollgate_telemetry::otel::tracer);
    tollgate_telemetry::init_logging(&filter, format, tracer).context("log")?;
    Ok(provider)
}

async fn validate(path: &Path, fetch_jwks: bool) -> anyhow::Result<()> {
    let loaded = config::load(path)?;
    let errors = tollgate::validate::check(&loaded, fetch_jwks).await;
    if !errors.is_empty() {
        anyhow::bail!(
            "invalid config {}:\n  - {}",
            path.display(),
            errors.join("\n  - ")
        );
    }
    println!("ok");
    Ok(())
}

async fn run_router(loaded: LoadedConfig) -> anyhow::Result<()> {
    let gateway = server::build(&loaded).await?;
    let listener = gateway.bind().await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        listen = %addr,
        graphql = %format!("http://{addr}{}", loaded.config.http.graphql_path),
        subgraphs = gateway.supergraph.subgraphs().len(),
        supergraph_hash = %&gateway.supergraph.hash()[..12],
        jwt_providers = loaded.config.jwt.as_ref().map_or(0, |j| j.jwks_providers.len()),
        rhai = loaded.config.rhai.as_ref().map(|r| r.scripts.join(&r.main).display().to_string()),
        metrics = gateway.metrics.as_ref().map(|(addr, _)| addr.to_string()),
        otlp = loaded.config.telemetry.tracing.otlp.as_ref().map(|o| o.endpoint.clone()),
        "Tollgate is listening"
    );
    gateway.serve(listener, server::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn run_dev(
    loaded: LoadedConfig,
    demo_listen: SocketAddr,
    dev_key: &Path,
) -> anyhow::Result<()> {
    let demo = tollgate_demo::spawn(demo_listen)
        .await
        .with_context(|| format!("cannot start the demo subgraphs on {demo_listen}"))?;
    let gateway = server::build(&loaded).await?;
    let listener = gateway.bind().await?;
    let addr = listener.local_addr()?;
    let router_url = format!("http://{addr}{}", loaded.config.http.graphql_path);
    let token = if loaded.config.jwt.is_some() {
        match dev::mint_dev_token(dev_key, &loaded.config, "1", 24 * 3600) {
            Ok(token) => Some(token),
            Err(error) => {
                tracing::warn!(%error, "no sample token");
                None
            }
        }
    } else {
        None
    };
    println!(
        "{}",
        dev::banner(
            &router_url,
            &format!("http://{}", demo.addr()),
            token.as_deref()
        )
    );
    gateway.serve(listener, server::shutdown_signal()).await?;
    drop(demo);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::{report, worker_threads};

    #[test]
    fn report_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read config file x: {source}")]
        struct Read {
            source: std::io::Error,
        }
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "not found");
        let error = anyhow::Error::new(Read { source: io() });
        assert_eq!(report(&error), "cannot read config file x: not found");
        let error = anyhow::Error::new(io()).context("log");
        assert_eq!(report(&error), "log: not found");
        let error = anyhow::Error::new(Read { source: io() }).context("start");
        assert_eq!(
            report(&error),
            "start: cannot read config file x: not found"
        );
    }

    #[test]
    fn worker_threads_from_the_environment() {
        assert_eq!(worker_threads(None), Ok(None));
        assert_eq!(worker_threads(Some(OsStr::new("1"))), Ok(Some(1)));
        assert_eq!(worker_threads(Some(OsStr::new(" 4 "))), Ok(Some(4)));
        assert_eq!(worker_threads(Some(OsStr::new("1024"))), Ok(Some(1024)));
        for bad in [
            "",
            "0",
            "-1",
            "two",
            "1.5",
            "1025",
            "99999999999999999999999",
        ] {
            let error = worker_threads(Some(OsStr::new(bad))).unwrap_err();
            assert!(
                error.starts_with("TOKIO_WORKER_THREADS: must be a whole number from 1 to 1024"),
                "{bad:?}: {error}"
            );
        }
    }
}
