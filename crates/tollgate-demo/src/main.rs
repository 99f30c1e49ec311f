//! `tollgate-demo --listen 127.0.0.1:4100`: the four demo subgraphs in one process.

use std::net::SocketAddr;

use clap::Parser;

/// mimalloc instead of the system allocator: async-graphql allocates a lot
/// per request, and the benchmark wants the subgraphs as cheap as they can
/// be so the routers are what it measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate-demo",
    about = "Tollgate's demo subgraphs (accounts, products, reviews, inventory)"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4100")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    for name in tollgate_demo::SUBGRAPHS {
        println!("{name}: http://{addr}/{name}");
    }
    axum::serve(listener, tollgate_demo::app())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
