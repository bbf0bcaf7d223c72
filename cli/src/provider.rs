//! `zkmesh provider disable|enable|weight`: one provider's override in its service's rules
//! document (read, edit, compare-and-set publish; see `zkmesh rules`).

use crate::args::{Cli, ProviderCommand};

/// Runs one provider command.
pub async fn run(cli: &Cli, command: &ProviderCommand) -> Result<(), String> {
    let store = crate::rules::store(cli, true).await?;
    let (published, force) = match command {
        ProviderCommand::Disable { service, address, force } => {
            (store.disable(service, check_address(address)?, *force).await, *force)
        }
        ProviderCommand::Enable { service, address } => {
            (store.enable(service, check_address(address)?).await, false)
        }
        ProviderCommand::Weight { service, address, weight, force } => {
            (store.set_weight(service, check_address(address)?, *weight, *force).await, *force)
        }
    };
    crate::rules::report(cli, published.map_err(|e| e.to_string())?, force)
}

/// `host:port`, or a one-line error.
fn check_address(address: &str) -> Result<&str, String> {
    match address.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
        Some((host, Ok(port))) if !host.is_empty() && port > 0 => Ok(address),
        _ => Err(format!("{address:?} is not HOST:PORT (as `zkmesh providers SERVICE` shows it)")),
    }
}
