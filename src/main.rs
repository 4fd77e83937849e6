use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    mantel::telemetry::init();
    match mantel::cli::run(mantel::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mantel: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
