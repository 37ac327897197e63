//! Silent flood: connections that connect and never send a byte. They cost
//! the gateway a socket, a slot before the upgrade and a handshake timer
//! each; it should cut them all at its handshake timeout (10 s) and keep
//! accepting honest charge points meanwhile.

use std::time::Duration;

use serde_json::Value;

use super::Ctx;
use super::cli::SilentArgs;
use super::slowloris::{Hold, hold};

pub fn run(a: &SilentArgs, ctx: &Ctx) -> Result<Value, String> {
    let nothing = |_: u32| Vec::new();
    hold(
        &Hold {
            target: ctx.target.addr,
            count: a.count,
            rate: a.rate,
            request: &nothing,
            interval: Duration::from_secs(1),
        },
        ctx,
    )
}
