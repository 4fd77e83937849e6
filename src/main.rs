use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = mantel::cli::Cli::parse();
    let run = async {
        mantel::telemetry::init()?;
        mantel::cli::run(cli).await
    };
    match run.await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mantel: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
