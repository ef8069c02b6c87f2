//! Integration tests of the engine against real servers on 127.0.0.1, port 0.

mod util;

mod bad_input;
mod behaviour;
mod connections;
mod custom_steps;
mod differential;
mod examples;
mod flows;
mod load;
mod measurement;
mod parking;
mod request_timer;
mod schema;
mod segments;
mod server_timing;
mod tls;
mod waits_tags;
