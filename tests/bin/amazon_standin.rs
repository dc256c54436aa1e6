//! The Amazon stand-in (tests/support/amazon.rs) as a program, for `scripts/demo`: LwA, the Ads
//! API and Amazon's SNS, on a free port, with one login.
//!
//! `amazon-standin <moto url> <refresh token> <profiles JSON array>`; prints `listening <url>`
//! and serves until killed.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, moto, token, profiles] = args.as_slice() else {
        eprintln!("usage: amazon-standin <moto url> <refresh token> <profiles JSON array>");
        std::process::exit(2);
    };
    let profiles: Vec<serde_json::Value> = serde_json::from_str(profiles).unwrap_or_else(|e| {
        eprintln!("profiles: {e}");
        std::process::exit(2)
    });
    let amazon = ams_tests::amazon::AmazonStandIn::start(moto);
    amazon.add_login(token, profiles);
    println!("listening {}", amazon.url);
    loop {
        std::thread::park();
    }
}
